package mediastore

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestStore(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	dir := t.TempDir()
	s, err := Open(dir, Options{TTL: time.Hour, QuotaBytes: 10, Now: clock})
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
	obj, err := s.Open(parts[0], parts[1], q.Get("exp"), q.Get("sig"))
	if err != nil || obj.ContentType != "image/png" || obj.Size != 5 {
		t.Fatalf("open %+v %v", obj, err)
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
		if _, err := s.Open(tc.key, tc.id, tc.expS, tc.sig); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
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
	if _, err := s.Open(parts[0], parts[1], q.Get("exp"), q.Get("sig")); !errors.Is(err, ErrExpired) {
		t.Errorf("expired link: %v", err)
	}
	s.Sweep()
	if _, err := os.Stat(obj.Path); !os.IsNotExist(err) {
		t.Errorf("expired object kept: %v", err)
	}
	if _, _, err := s.Put(7, "image/png", []byte("123456")); err != nil {
		t.Errorf("quota after expiry: %v", err)
	}
	// A second store on the directory signs alike (nodes sharing it).
	s2, err := Open(dir, Options{TTL: time.Hour, Now: clock})
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
	oldPath := filepath.Join(s.keyDir(1), old)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(oldPath); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the expired object was not swept")
		}
	}
	if _, err := os.Stat(filepath.Join(s.keyDir(2), fresh)); err != nil {
		t.Errorf("a live object was swept: %v", err)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("SweepEvery did not return when its context ended")
	}
}
