package secret

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func testBox(t *testing.T, fill byte) *Box {
	t.Helper()
	b, err := New(bytes.Repeat([]byte{fill}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNewKeySize(t *testing.T) {
	for _, n := range []int{0, 16, 24, 31, 33, 64} {
		if _, err := New(make([]byte, n)); err == nil {
			t.Errorf("New(%d bytes) succeeded, want error", n)
		}
	}
	if _, err := New(make([]byte, KeySize)); err != nil {
		t.Errorf("New(%d bytes): %v", KeySize, err)
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	b := testBox(t, 7)
	for _, pt := range []string{"", "sk-abc", strings.Repeat("x", 10000), "\x00\xff binary"} {
		s, err := b.Seal([]byte(pt))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(s, "v1:") {
			t.Fatalf("sealed value %q lacks v1: prefix", s)
		}
		if pt != "" && strings.Contains(s, pt) {
			t.Fatalf("sealed value contains the plaintext")
		}
		got, err := b.Open(s)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if string(got) != pt {
			t.Fatalf("Open = %q, want %q", got, pt)
		}
	}
}

func TestSealUsesFreshNonce(t *testing.T) {
	b := testBox(t, 1)
	x, _ := b.Seal([]byte("same"))
	y, _ := b.Seal([]byte("same"))
	if x == y {
		t.Fatal("two seals of the same plaintext are identical: nonce reused")
	}
}

func TestOpenRejects(t *testing.T) {
	b := testBox(t, 1)
	sealed, err := b.Seal([]byte("sk-secret"))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(sealed, "v1:"))
	flipped := bytes.Clone(raw)
	flipped[len(flipped)-1] ^= 1

	tests := []struct {
		name      string
		in        string
		box       *Box
		malformed bool
	}{
		{"empty", "", b, true},
		{"no prefix", "sk-secret", b, true},
		{"v2 prefix", "v2:" + strings.TrimPrefix(sealed, "v1:"), b, true},
		{"bad base64", "v1:!!!", b, true},
		{"too short", "v1:" + base64.StdEncoding.EncodeToString(raw[:10]), b, true},
		{"tampered", "v1:" + base64.StdEncoding.EncodeToString(flipped), b, false},
		{"other key", sealed, testBox(t, 2), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.box.Open(tt.in)
			if err == nil {
				t.Fatal("Open succeeded")
			}
			if got := errors.Is(err, ErrMalformed); got != tt.malformed {
				t.Fatalf("errors.Is(ErrMalformed) = %v, want %v (err %v)", got, tt.malformed, err)
			}
		})
	}
}

func TestLoadOrCreateFromEnv(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secret.key")
	b, err := LoadOrCreate(path, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("key file created although the env secret was given: %v", err)
	}
	sum := sha256.Sum256([]byte("correct horse battery staple"))
	want, _ := New(sum[:])
	s, _ := b.Seal([]byte("k"))
	if got, err := want.Open(s); err != nil || string(got) != "k" {
		t.Fatalf("env key is not SHA-256 of the passphrase: %q, %v", got, err)
	}
}

func TestLoadOrCreateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "secret.key")
	first, err := LoadOrCreate(path, "")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("key file mode %o, want 600", perm)
	}
	second, err := LoadOrCreate(path, "")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := first.Seal([]byte("sk-upstream"))
	if got, err := second.Open(s); err != nil || string(got) != "sk-upstream" {
		t.Fatalf("reloaded key cannot open: %q, %v", got, err)
	}
}

func TestLoadOrCreateBadFile(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"short":  "abcd",
		"nothex": strings.Repeat("zz", KeySize),
		"empty":  "",
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadOrCreate(path, ""); err == nil {
			t.Errorf("%s: LoadOrCreate accepted a bad key file", name)
		}
	}
	if _, err := LoadOrCreate("", ""); err == nil {
		t.Error("LoadOrCreate with no path and no env succeeded")
	}
}

// FuzzOpen checks that Open never panics on arbitrary input and that
// anything it accepts re-seals to a value that opens to the same bytes.
func FuzzOpen(f *testing.F) {
	b, err := New(bytes.Repeat([]byte{9}, KeySize))
	if err != nil {
		f.Fatal(err)
	}
	good, _ := b.Seal([]byte("sk-seed"))
	f.Add(good)
	f.Add("v1:")
	f.Add("v1:AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		pt, err := b.Open(s)
		if err != nil {
			return
		}
		again, err := b.Seal(pt)
		if err != nil {
			t.Fatal(err)
		}
		back, err := b.Open(again)
		if err != nil || !bytes.Equal(back, pt) {
			t.Fatalf("re-seal round trip failed: %v", err)
		}
	})
}
