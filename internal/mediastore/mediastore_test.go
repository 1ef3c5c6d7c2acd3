package mediastore

import (
	"context"
	"errors"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/internal/gatewaytest"
)

// backends are the store's backends under test: each call returns a
// fresh, empty one.
var backends = []struct {
	name string
	open func(t *testing.T) Backend
}{
	{"dir", func(t *testing.T) Backend {
		b, err := NewDir(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return b
	}},
	{"s3", func(t *testing.T) Backend {
		return newS3(t, gatewaytest.NewS3(t, "media-bucket", "AKTEST").Addr, "AKTEST")
	}},
}

func newS3(t *testing.T, endpoint, accessKey string) Backend {
	t.Helper()
	b, err := NewS3(S3Options{Endpoint: endpoint, Bucket: "media-bucket", Region: "eu-west-1",
		AccessKeyID: accessKey, SecretAccessKey: "secret", Prefix: "switchboard/media/"})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestStore(t *testing.T) {
	t.Parallel()
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			testStore(t, be.open(t))
		})
	}
}

func testStore(t *testing.T, b Backend) {
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	s, err := New(ctx, b, Options{TTL: time.Hour, QuotaBytes: 10, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	id, exp, err := s.Put(7, "image/png", []byte("PNG-1"))
	if err != nil || !strings.HasSuffix(id, ".png") || !exp.Equal(now.Add(time.Hour)) {
		t.Fatalf("put %q %v %v", id, exp, err)
	}
	u, _ := url.Parse(s.Path(7, id, exp))
	parts := strings.Split(strings.TrimPrefix(u.Path, "/v1/media/"), "/")
	q := u.Query()
	obj, err := s.Open(ctx, parts[0], parts[1], q.Get("exp"), q.Get("sig"))
	if err != nil || obj.ContentType != "image/png" || obj.Size != 5 {
		t.Fatalf("open %+v %v", obj, err)
	}
	data, err := io.ReadAll(obj.Body)
	obj.Body.Close()
	if err != nil || string(data) != "PNG-1" {
		t.Fatalf("read %q %v", data, err)
	}
	cases := []struct {
		name               string
		key, id, expS, sig string
		want               error
	}{
		{"another key's id", "8", parts[1], q.Get("exp"), q.Get("sig"), ErrBadSignature},
		{"tampered expiry", parts[0], parts[1], "1900000000", q.Get("sig"), ErrBadSignature},
		{"forged signature", parts[0], parts[1], q.Get("exp"), "AAAA", ErrBadSignature},
		{"path traversal", parts[0], "../.key", q.Get("exp"), q.Get("sig"), ErrNotFound},
		{"hidden file", parts[0], ".key", q.Get("exp"), q.Get("sig"), ErrNotFound},
	}
	for _, tc := range cases {
		if _, err := s.Open(ctx, tc.key, tc.id, tc.expS, tc.sig); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// A validly signed link to an object that is gone.
	gone := "1800000000-00.png"
	if _, err := s.Open(ctx, "7", gone, q.Get("exp"), s.sign(7, gone, exp.Unix())); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing object: %v", err)
	}
	// The quota is per key: 5 of 10 bytes used.
	if _, _, err := s.Put(7, "image/png", []byte("123456")); !errors.Is(err, ErrQuota) {
		t.Errorf("over quota: %v", err)
	}
	if _, _, err := s.Put(8, "image/png", []byte("123456")); err != nil {
		t.Errorf("another key's quota: %v", err)
	}
	// Expiry: the link and then the object.
	now = now.Add(2 * time.Hour)
	if _, err := s.Open(ctx, parts[0], parts[1], q.Get("exp"), q.Get("sig")); !errors.Is(err, ErrExpired) {
		t.Errorf("expired link: %v", err)
	}
	s.Sweep()
	if objs, err := b.List(ctx, ""); err != nil || len(objs) != 0 {
		t.Errorf("after the sweep: %+v %v", objs, err)
	}
	if _, _, err := s.Put(7, "image/png", []byte("123456")); err != nil {
		t.Errorf("quota after expiry: %v", err)
	}
	// A second store on the backend signs alike (nodes sharing it).
	s2, err := New(ctx, b, Options{TTL: time.Hour, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	if s2.sign(1, "x", 5) != s.sign(1, "x", 5) {
		t.Error("a second store does not share the key")
	}
}

func TestSweepInterval(t *testing.T) {
	t.Parallel()
	for ttl, want := range map[time.Duration]time.Duration{
		time.Second: time.Second, 8 * time.Second: 2 * time.Second, 24 * time.Hour: time.Hour, 2 * time.Hour: 30 * time.Minute,
	} {
		s, err := Open(t.TempDir(), Options{TTL: ttl})
		if err != nil {
			t.Fatal(err)
		}
		if got := s.SweepInterval(); got != want {
			t.Errorf("TTL %s: interval %s, want %s", ttl, got, want)
		}
	}
}

// SweepEvery removes objects as they expire, with no write to trigger
// it, keeps live ones, and returns when its context ends.
func TestSweepEvery(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s, err := Open(t.TempDir(), Options{TTL: time.Hour, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	old, _, err := s.Put(1, "image/png", []byte("old"))
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(50 * time.Minute)
	mu.Unlock()
	fresh, _, err := s.Put(2, "image/png", []byte("fresh"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.SweepEvery(ctx, 5*time.Millisecond)
	}()
	mu.Lock()
	now = now.Add(20 * time.Minute) // old is 70 minutes old, fresh 20
	mu.Unlock()
	names := func(prefix string) []string {
		objs, err := s.b.List(context.Background(), prefix)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, o := range objs {
			out = append(out, o.Name)
		}
		return out
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if len(names("1/")) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the expired object %s was not swept", old)
		}
	}
	if got := names("2/"); len(got) != 1 || got[0] != "2/"+fresh {
		t.Errorf("live objects after the sweep: %v", got)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("SweepEvery did not return when its context ended")
	}
}

// TestSweepKeepsLive: the sweep removes only expired objects, and
// nothing that is not a key's object.
func TestSweepKeepsLive(t *testing.T) {
	t.Parallel()
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			now := time.Unix(1_800_000_000, 0)
			b := be.open(t)
			s, err := New(ctx, b, Options{TTL: time.Hour, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			old, _, err := s.Put(3, "audio/mpeg", []byte("old"))
			if err != nil {
				t.Fatal(err)
			}
			now = now.Add(50 * time.Minute)
			live, _, err := s.Put(3, "audio/mpeg", []byte("live"))
			if err != nil {
				t.Fatal(err)
			}
			now = now.Add(20 * time.Minute)
			if err := s.SweepContext(ctx); err != nil {
				t.Fatal(err)
			}
			objs, err := b.List(ctx, "3/")
			if err != nil || len(objs) != 1 || objs[0].Name != "3/"+live || objs[0].Size != 4 {
				t.Fatalf("after the sweep (old %s): %+v %v", old, objs, err)
			}
			if _, err := New(ctx, b, Options{}); err != nil {
				t.Errorf("the signing key was swept: %v", err)
			}
		})
	}
}

// TestDirKeyFile: the local backend keeps the key where earlier
// releases did, so a store opened on an existing directory signs alike.
func TestDirKeyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := []byte(strings.Repeat("k", 32))
	if err := os.WriteFile(filepath.Join(dir, ".key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if string(s.key) != string(key) {
		t.Errorf("key %q", s.key)
	}
	if err := os.WriteFile(filepath.Join(dir, ".key"), []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{}); err == nil {
		t.Error("a short key was accepted")
	}
}

// TestS3 checks what only the S3 backend does: requests are signed by
// the configured key, and object names carry the prefix.
func TestS3(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fake := gatewaytest.NewS3(t, "media-bucket", "AKTEST")
	if _, err := New(ctx, newS3(t, fake.Addr, "AKOTHER"), Options{}); err == nil {
		t.Fatal("a store with the wrong access key opened")
	}
	if keys := fake.Keys(); len(keys) != 0 {
		t.Fatalf("an unsigned request stored %v", keys)
	}
	s, err := New(ctx, newS3(t, fake.Addr, "AKTEST"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	id, _, err := s.Put(5, "image/webp", []byte("WEBP"))
	if err != nil {
		t.Fatal(err)
	}
	if data, ct, ok := fake.Object("switchboard/media/5/" + id); !ok || string(data) != "WEBP" || ct != "image/webp" {
		t.Errorf("stored %q %q %v; objects %v", data, ct, ok, fake.Keys())
	}
	if _, _, ok := fake.Object("switchboard/media/.key"); !ok {
		t.Error("no signing key in the bucket")
	}
}
