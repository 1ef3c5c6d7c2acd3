// Package mediastore keeps media the gateway serves itself — images an
// upstream returned as bytes to a client that asked for a URL — in a
// local directory, and signs expiring URLs for them under the gateway's
// own host. Every object belongs to the key that created it: it is stored
// under that key, counted against that key's quota, and its URL names it.
// It imports nothing of ours.
package mediastore

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/url"
	"os"
	"path/filepath"
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

// Store is a directory of objects, one subdirectory per key.
type Store struct {
	dir   string
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

// Open opens (creating) a store in dir. Its signing key is dir/.key,
// created once: nodes sharing the directory share the key.
func Open(dir string, o Options) (*Store, error) {
	if o.TTL <= 0 {
		o.TTL = 24 * time.Hour
	}
	if o.QuotaBytes <= 0 {
		o.QuotaBytes = 1 << 30
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mediastore: %w", err)
	}
	keyPath := filepath.Join(dir, ".key")
	key, err := os.ReadFile(keyPath)
	if errors.Is(err, fs.ErrNotExist) {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := os.WriteFile(keyPath, key, 0o600); err != nil {
			return nil, fmt.Errorf("mediastore: write key: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("mediastore: read key: %w", err)
	}
	if len(key) < 32 {
		return nil, fmt.Errorf("mediastore: key file %s is too short", keyPath)
	}
	return &Store{dir: dir, ttl: o.TTL, quota: o.QuotaBytes, key: key, now: o.Now}, nil
}

// Object is a stored object as Open finds it.
type Object struct {
	Path        string
	ContentType string
	Size        int64
}

func (s *Store) keyDir(keyID int64) string {
	return filepath.Join(s.dir, strconv.FormatInt(keyID, 10))
}

// used is the size of keyID's live objects; expired ones are removed.
func (s *Store) used(keyID int64) int64 {
	var n int64
	entries, _ := os.ReadDir(s.keyDir(keyID))
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		if s.now().Sub(info.ModTime()) > s.ttl {
			_ = os.Remove(filepath.Join(s.keyDir(keyID), e.Name()))
			continue
		}
		n += info.Size()
	}
	return n
}

// Put stores data of MIME type contentType for keyID and returns its
// object id and expiry.
func (s *Store) Put(keyID int64, contentType string, data []byte) (string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.used(keyID)+int64(len(data)) > s.quota {
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
	id := hex.EncodeToString(b[:]) + ext
	if err := os.MkdirAll(s.keyDir(keyID), 0o700); err != nil {
		return "", time.Time{}, err
	}
	p := filepath.Join(s.keyDir(keyID), id)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		return "", time.Time{}, fmt.Errorf("mediastore: %w", err)
	}
	now := s.now()
	_ = os.Chtimes(p, now, now)
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

// Open checks a signed path's parts and finds its object.
func (s *Store) Open(keyPart, id, exp, sig string) (Object, error) {
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
	p := filepath.Join(s.keyDir(keyID), id)
	info, err := os.Stat(p)
	if err != nil || !info.Mode().IsRegular() {
		return Object{}, ErrNotFound
	}
	ct := mime.TypeByExtension(filepath.Ext(id))
	if ct == "" {
		ct = "application/octet-stream"
	}
	return Object{Path: p, ContentType: ct, Size: info.Size()}, nil
}

// Sweep removes every object older than the TTL.
func (s *Store) Sweep() {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys, _ := os.ReadDir(s.dir)
	for _, k := range keys {
		if id, err := strconv.ParseInt(k.Name(), 10, 64); err == nil && k.IsDir() {
			s.used(id)
		}
	}
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
			s.Sweep()
		}
	}
}
