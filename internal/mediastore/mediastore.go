// Package mediastore keeps media the gateway serves itself — images an
// upstream returned as bytes to a client that asked for a URL — in a
// backend (a local directory by default, or an S3-compatible bucket), and
// signs expiring URLs for them under the gateway's own host. Every object
// belongs to the key that created it: it is stored under that key, counted
// against that key's quota, and its URL names it. It imports nothing of
// ours.
package mediastore

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Errors of Open.
var (
	ErrBadSignature = errors.New("mediastore: bad signature")
	ErrExpired      = errors.New("mediastore: link expired")
	ErrNotFound     = errors.New("mediastore: no such object")
	// ErrQuota is returned by Put when the key's objects would exceed
	// the quota.
	ErrQuota = errors.New("mediastore: the key's media quota is used up")
)

// keyName is the signing key's object name in the backend.
const keyName = ".key"

// Store is a backend of objects, one "directory" per key.
type Store struct {
	b     Backend
	ttl   time.Duration
	quota int64
	key   []byte
	now   func() time.Time

	mu sync.Mutex // serialises quota checks with writes
}

// Options configure a store.
type Options struct {
	// TTL is how long an object and its URL live (default 24h).
	TTL time.Duration
	// QuotaBytes bounds each key's live objects (0: 1 GiB).
	QuotaBytes int64
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
}

// Open opens (creating) a store in the local directory dir. Its signing
// key is dir/.key, created once: nodes sharing the directory share the key.
func Open(dir string, o Options) (*Store, error) {
	b, err := NewDir(dir)
	if err != nil {
		return nil, err
	}
	return New(context.Background(), b, o)
}

// New opens a store on backend b. Its signing key is the backend's ".key"
// object, created once: nodes sharing the backend share the key.
func New(ctx context.Context, b Backend, o Options) (*Store, error) {
	if o.TTL <= 0 {
		o.TTL = 24 * time.Hour
	}
	if o.QuotaBytes <= 0 {
		o.QuotaBytes = 1 << 30
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	key, err := readKey(ctx, b)
	if errors.Is(err, ErrNotFound) {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := b.Put(ctx, keyName, bytes.NewReader(key), int64(len(key)), "application/octet-stream"); err != nil {
			return nil, fmt.Errorf("mediastore: write key: %w", err)
		}
		// Read back: of two nodes starting at once, both keep the
		// key that was written last.
		key, err = readKey(ctx, b)
	}
	if err != nil {
		return nil, fmt.Errorf("mediastore: read key: %w", err)
	}
	if len(key) < 32 {
		return nil, fmt.Errorf("mediastore: the signing key %s is too short", keyName)
	}
	return &Store{b: b, ttl: o.TTL, quota: o.QuotaBytes, key: key, now: o.Now}, nil
}

func readKey(ctx context.Context, b Backend) ([]byte, error) {
	rc, _, err := b.Get(ctx, keyName)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, 1<<10))
}

// Object is a stored object as Open finds it; the caller closes Body.
type Object struct {
	Body        io.ReadCloser
	ContentType string
	Size        int64
}

func keyPrefix(keyID int64) string { return strconv.FormatInt(keyID, 10) + "/" }

// created is when an object was stored: the time its id starts with,
// else (an id of an older release) the backend's modification time.
func created(in Info) time.Time {
	id := path.Base(in.Name)
	if sec, _, ok := strings.Cut(id, "-"); ok {
		if n, err := strconv.ParseInt(sec, 10, 64); err == nil {
			return time.Unix(n, 0)
		}
	}
	return in.Modified
}

// used is the size of keyID's live objects; expired ones are removed.
func (s *Store) used(ctx context.Context, keyID int64) (int64, error) {
	objs, err := s.b.List(ctx, keyPrefix(keyID))
	if err != nil {
		return 0, err
	}
	var n int64
	for _, o := range objs {
		if s.now().Sub(created(o)) > s.ttl {
			_ = s.b.Delete(ctx, o.Name)
			continue
		}
		n += o.Size
	}
	return n, nil
}

// Put stores data of MIME type contentType for keyID and returns its
// object id and expiry.
func (s *Store) Put(keyID int64, contentType string, data []byte) (string, time.Time, error) {
	return s.PutContext(context.Background(), keyID, contentType, bytes.NewReader(data), int64(len(data)))
}

// PutContext stores size bytes of r of MIME type contentType for keyID
// and returns its object id and expiry.
func (s *Store) PutContext(ctx context.Context, keyID int64, contentType string, r io.Reader, size int64) (string, time.Time, error) {
	if size < 0 {
		return "", time.Time{}, errors.New("mediastore: the size of an object must be known")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.used(ctx, keyID)
	if err != nil {
		return "", time.Time{}, err
	}
	if n+size > s.quota {
		return "", time.Time{}, ErrQuota
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", time.Time{}, err
	}
	ext := ".bin"
	if exts, _ := mime.ExtensionsByType(contentType); len(exts) > 0 {
		ext = exts[len(exts)-1]
	}
	now := s.now()
	id := strconv.FormatInt(now.Unix(), 10) + "-" + hex.EncodeToString(b[:]) + ext
	if err := s.b.Put(ctx, keyPrefix(keyID)+id, io.LimitReader(r, size), size, contentType); err != nil {
		return "", time.Time{}, err
	}
	return id, now.Add(s.ttl), nil
}

func (s *Store) sign(keyID int64, id string, exp int64) string {
	m := hmac.New(sha256.New, s.key)
	fmt.Fprintf(m, "%d/%s/%d", keyID, id, exp)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Path is the signed path of an object under the gateway's host:
// /v1/media/{key}/{id}?exp=…&sig=….
func (s *Store) Path(keyID int64, id string, exp time.Time) string {
	e := exp.Unix()
	q := url.Values{"exp": {strconv.FormatInt(e, 10)}, "sig": {s.sign(keyID, id, e)}}
	return "/v1/media/" + strconv.FormatInt(keyID, 10) + "/" + id + "?" + q.Encode()
}

// Open checks a signed path's parts and opens its object.
func (s *Store) Open(ctx context.Context, keyPart, id, exp, sig string) (Object, error) {
	keyID, err := strconv.ParseInt(keyPart, 10, 64)
	if err != nil || strings.ContainsAny(id, `/\`) || strings.HasPrefix(id, ".") || id == "" {
		return Object{}, ErrNotFound
	}
	e, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return Object{}, ErrBadSignature
	}
	if !hmac.Equal([]byte(sig), []byte(s.sign(keyID, id, e))) {
		return Object{}, ErrBadSignature
	}
	if s.now().Unix() > e {
		return Object{}, ErrExpired
	}
	rc, info, err := s.b.Get(ctx, keyPrefix(keyID)+id)
	if err != nil {
		return Object{}, err
	}
	ct := mime.TypeByExtension(path.Ext(id))
	if ct == "" {
		ct = "application/octet-stream"
	}
	return Object{Body: rc, ContentType: ct, Size: info.Size}, nil
}

// Sweep removes every object older than the TTL.
func (s *Store) Sweep() {
	_ = s.SweepContext(context.Background())
}

// SweepContext removes every object older than the TTL.
func (s *Store) SweepContext(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	objs, err := s.b.List(ctx, "")
	if err != nil {
		return err
	}
	var errs []error
	for _, o := range objs {
		k, _, ok := strings.Cut(o.Name, "/")
		if _, err := strconv.ParseInt(k, 10, 64); err != nil || !ok {
			continue
		}
		if s.now().Sub(created(o)) > s.ttl {
			if err := s.b.Delete(ctx, o.Name); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// SweepInterval is how often a running store sweeps: a quarter of the
// TTL, between a second and an hour, so an object outlives its link by at
// most that.
func (s *Store) SweepInterval() time.Duration {
	return min(max(s.ttl/4, time.Second), time.Hour)
}

// SweepEvery sweeps the store every interval until ctx ends, so that
// expired objects go even when no key writes again.
func (s *Store) SweepEvery(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			// A failed sweep (the bucket unreachable) is tried again at
			// the next tick; the loop's context bounds every call.
			_ = s.SweepContext(ctx)
		}
	}
}
