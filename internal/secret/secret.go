// Package secret encrypts small secrets at rest (upstream API keys, channel
// header values) with AES-256-GCM. The master secret comes from
// SWITCHBOARD_SECRET when the operator sets it, so several nodes can share
// one database, or else from a generated key file readable only by its
// owner (DESIGN.md §9).
//
// The sealing key is derived from the master secret with HKDF-SHA256, and
// every sealed value is bound to where it is stored by AES-GCM associated
// data (its row and field), so a sealed key copied to another channel does
// not open there. Values sealed the old way ("v1:": the raw key or the
// SHA-256 of the passphrase, no associated data) still open, for stores to
// reseal.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the length of a key file's key in bytes (AES-256).
const KeySize = 32

// Prefixes version the sealed format so the scheme can change without
// guessing what old rows hold.
const (
	prefixV1 = "v1:" // legacy: read only
	prefixV2 = "v2:"
)

// hkdfInfo names what the derived key is for; changing it changes the key.
const hkdfInfo = "switchboard secret.Box v2 sealing key"

// ErrMalformed reports a sealed string in no known format.
var ErrMalformed = errors.New("secret: malformed sealed value")

// ErrWrongKey reports a value that does not open: it was sealed under
// another SWITCHBOARD_SECRET or key file, moved from another row, or
// tampered with.
var ErrWrongKey = errors.New("secret: value does not open with this key (sealed under another SWITCHBOARD_SECRET or key file, or moved from another row)")

// Box seals and opens values. It is safe for concurrent use.
type Box struct {
	aead   cipher.AEAD // v2: HKDF-derived key, associated data
	legacy cipher.AEAD // v1: opening old values only
}

// New returns a Box for a 32-byte master key (a key file's content).
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secret: key is %d bytes, want %d", len(key), KeySize)
	}
	return newBox(key, key)
}

// FromPassphrase returns the Box of a SWITCHBOARD_SECRET of any length.
// HKDF does not stretch a weak passphrase: it should be long and random.
func FromPassphrase(pass string) (*Box, error) {
	if pass == "" {
		return nil, errors.New("secret: empty passphrase")
	}
	legacy := sha256.Sum256([]byte(pass))
	return newBox([]byte(pass), legacy[:])
}

func newBox(master, legacyKey []byte) (*Box, error) {
	key, err := hkdf.Key(sha256.New, master, nil, hkdfInfo, KeySize)
	if err != nil {
		return nil, fmt.Errorf("secret: derive key: %w", err)
	}
	aead, err := gcm(key)
	if err != nil {
		return nil, err
	}
	legacy, err := gcm(legacyKey)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead, legacy: legacy}, nil
}

func gcm(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	return aead, nil
}

// LoadOrCreate returns the node's Box. A non-empty env (the value of
// SWITCHBOARD_SECRET, passed in by the caller) is the master secret, so any
// passphrase length works. Otherwise the hex key in the file at path is
// used, and created with 0600 permissions (parent directories 0700) when it
// does not exist yet.
func LoadOrCreate(path string, env string) (*Box, error) {
	if env != "" {
		return FromPassphrase(env)
	}
	if path == "" {
		return nil, errors.New("secret: no SWITCHBOARD_SECRET and no key file path")
	}
	key, err := readKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key, err = createKeyFile(path)
	}
	if err != nil {
		return nil, err
	}
	return New(key)
}

func readKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secret: read key file: %w", err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != KeySize {
		return nil, fmt.Errorf("secret: key file %s does not hold %d hex-encoded bytes", path, KeySize)
	}
	return key, nil
}

func createKeyFile(path string) ([]byte, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("secret: create key directory: %w", err)
	}
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("secret: generate key: %w", err)
	}
	// O_EXCL: when two processes start at once, exactly one writes the key
	// and the other reads it, instead of each encrypting with its own.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return readKeyFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("secret: create key file: %w", err)
	}
	_, werr := f.WriteString(hex.EncodeToString(key) + "\n")
	if serr := f.Sync(); werr == nil {
		werr = serr
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		// A half-written key file would lock every later start out of the
		// channels sealed with it; better to leave none.
		_ = os.Remove(path)
		return nil, fmt.Errorf("secret: write key file: %w", werr)
	}
	return key, nil
}

// Seal encrypts plaintext into "v2:" + base64(nonce | ciphertext | tag),
// bound to aad (where the value is stored, e.g. "channel/7/api_keys"):
// Open must be given the same aad.
func (b *Box) Seal(plaintext []byte, aad string) (string, error) {
	ns := b.aead.NonceSize()
	buf := make([]byte, ns, ns+len(plaintext)+b.aead.Overhead())
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("secret: nonce: %w", err)
	}
	buf = b.aead.Seal(buf, buf[:ns], plaintext, []byte(aad))
	return prefixV2 + base64.StdEncoding.EncodeToString(buf), nil
}

// Open decrypts a value made by Seal with the same aad, or a legacy v1
// value (which has no binding; aad is ignored). It fails with ErrMalformed
// for values in no sealed format and with ErrWrongKey when the value was
// sealed under another key, for another aad, or tampered with.
func (b *Box) Open(s string, aad string) ([]byte, error) {
	aead, enc, ad := b.aead, "", []byte(aad)
	switch {
	case strings.HasPrefix(s, prefixV2):
		enc = s[len(prefixV2):]
	case strings.HasPrefix(s, prefixV1):
		aead, enc, ad = b.legacy, s[len(prefixV1):], nil
	default:
		return nil, ErrMalformed
	}
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	ns := aead.NonceSize()
	if len(raw) < ns+aead.Overhead() {
		return nil, fmt.Errorf("%w: too short", ErrMalformed)
	}
	pt, err := aead.Open(nil, raw[:ns], raw[ns:], ad)
	if err != nil {
		return nil, ErrWrongKey
	}
	return pt, nil
}

// IsSealed reports whether s is in a sealed format (current or legacy).
func IsSealed(s string) bool {
	return strings.HasPrefix(s, prefixV2) || strings.HasPrefix(s, prefixV1)
}

// NeedsReseal reports a value sealed the legacy way, which a store should
// seal again (bound to its row) when it can.
func NeedsReseal(s string) bool { return strings.HasPrefix(s, prefixV1) }

// sealLegacy seals the v1 way; tests use it to build old databases.
func (b *Box) sealLegacy(plaintext []byte) (string, error) {
	ns := b.legacy.NonceSize()
	buf := make([]byte, ns, ns+len(plaintext)+b.legacy.Overhead())
	if _, err := rand.Read(buf); err != nil {
		return "", err
	}
	buf = b.legacy.Seal(buf, buf[:ns], plaintext, nil)
	return prefixV1 + base64.StdEncoding.EncodeToString(buf), nil
}
