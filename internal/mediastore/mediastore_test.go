package mediastore

import (
	"errors"
	"net/url"
	"os"
	"strings"
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
