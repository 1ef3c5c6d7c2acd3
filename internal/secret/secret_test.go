package secret

import (
	"bytes"
	"crypto/hkdf"
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
	if _, err := FromPassphrase(""); err == nil {
		t.Error("FromPassphrase(\"\") succeeded")
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	b := testBox(t, 7)
	for _, pt := range []string{"", "sk-abc", strings.Repeat("x", 10000), "\x00\xff binary"} {
		s, err := b.Seal([]byte(pt), "channel/1/api_keys")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(s, "v2:") || !IsSealed(s) || NeedsReseal(s) {
			t.Fatalf("sealed value %q: want the v2 format", s)
		}
		if pt != "" && strings.Contains(s, pt) {
			t.Fatalf("sealed value contains the plaintext")
		}
		got, err := b.Open(s, "channel/1/api_keys")
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
	x, _ := b.Seal([]byte("same"), "a")
	y, _ := b.Seal([]byte("same"), "a")
	if x == y {
		t.Fatal("two seals of the same plaintext are identical: nonce reused")
	}
}

// A sealed value is bound to its place: moved to another row or field it
// does not open, and neither under another key.
func TestOpenRejects(t *testing.T) {
	b := testBox(t, 1)
	sealed, err := b.Seal([]byte("sk-secret"), "channel/1/api_keys")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(sealed, "v2:"))
	flipped := bytes.Clone(raw)
	flipped[len(flipped)-1] ^= 1

	tests := []struct {
		name string
		in   string
		aad  string
		box  *Box
		want error
	}{
		{"empty", "", "channel/1/api_keys", b, ErrMalformed},
		{"no prefix", "sk-secret", "channel/1/api_keys", b, ErrMalformed},
		{"v3 prefix", "v3:" + strings.TrimPrefix(sealed, "v2:"), "channel/1/api_keys", b, ErrMalformed},
		{"bad base64", "v2:!!!", "channel/1/api_keys", b, ErrMalformed},
		{"too short", "v2:" + base64.StdEncoding.EncodeToString(raw[:10]), "channel/1/api_keys", b, ErrMalformed},
		{"tampered", "v2:" + base64.StdEncoding.EncodeToString(flipped), "channel/1/api_keys", b, ErrWrongKey},
		{"other key", sealed, "channel/1/api_keys", testBox(t, 2), ErrWrongKey},
		{"other row", sealed, "channel/2/api_keys", b, ErrWrongKey},
		{"other field", sealed, "channel/1/headers", b, ErrWrongKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.box.Open(tt.in, tt.aad)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Open = %v, want %v", err, tt.want)
			}
		})
	}
}

// Values sealed before the v2 format (by the previous release: these are
// its output) still open, under a key file and under a passphrase.
func TestOpenLegacy(t *testing.T) {
	file := testBox(t, 7)
	got, err := file.Open("v1:dwfuSRA36JOFMPRS2ZDUfKwiU4MR8H18wOd3h13we0K1XSN/qu46iEB3VDctdp8dxkU=", "ignored")
	if err != nil || string(got) != `["sk-golden-file-key"]` {
		t.Fatalf("legacy key-file value: %q, %v", got, err)
	}
	pass, err := FromPassphrase("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	v1 := "v1:CfVmIC4+wjKjBmEdnGoPoAke/NNlIAVMTJ5rWVuA3VgHmm8rV7bjA2Xmt5yKS0djNsjAJobXcpU="
	got, err = pass.Open(v1, "")
	if err != nil || string(got) != `["sk-golden-passphrase-key"]` {
		t.Fatalf("legacy passphrase value: %q, %v", got, err)
	}
	if !NeedsReseal(v1) || !IsSealed(v1) {
		t.Fatal("a v1 value must be reported for resealing")
	}
	if _, err := testBox(t, 8).Open(v1, ""); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("legacy value under another key: %v", err)
	}
}

// The sealing key is derived with HKDF-SHA256, not the master secret used
// as is.
func TestKeyIsDerivedWithHKDF(t *testing.T) {
	master := bytes.Repeat([]byte{3}, KeySize)
	b, _ := New(master)
	s, _ := b.Seal([]byte("x"), "a")
	derived, err := hkdf.Key(sha256.New, master, nil, hkdfInfo, KeySize)
	if err != nil {
		t.Fatal(err)
	}
	aead, _ := gcm(derived)
	raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "v2:"))
	if pt, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte("a")); err != nil || string(pt) != "x" {
		t.Fatalf("not sealed under HKDF(master): %v", err)
	}
	rawKey, _ := gcm(master)
	if _, err := rawKey.Open(nil, raw[:12], raw[12:], []byte("a")); err == nil {
		t.Fatal("sealed under the master secret itself")
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
	same, _ := FromPassphrase("correct horse battery staple")
	s, _ := b.Seal([]byte("k"), "a")
	if got, err := same.Open(s, "a"); err != nil || string(got) != "k" {
		t.Fatalf("env box differs from FromPassphrase: %q, %v", got, err)
	}
	other, _ := FromPassphrase("correct horse battery staplf")
	if _, err := other.Open(s, "a"); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("another passphrase opens it: %v", err)
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
	s, _ := first.Seal([]byte("sk-upstream"), "a")
	if got, err := second.Open(s, "a"); err != nil || string(got) != "sk-upstream" {
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
	good, _ := b.Seal([]byte("sk-seed"), "a")
	legacy, _ := b.sealLegacy([]byte("sk-old"))
	f.Add(good)
	f.Add(legacy)
	f.Add("v1:")
	f.Add("v2:AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		pt, err := b.Open(s, "a")
		if err != nil {
			return
		}
		again, err := b.Seal(pt, "a")
		if err != nil {
			t.Fatal(err)
		}
		back, err := b.Open(again, "a")
		if err != nil || !bytes.Equal(back, pt) {
			t.Fatalf("re-seal round trip failed: %v", err)
		}
	})
}
