// Package secret encrypts small secrets at rest (upstream API keys) with
// AES-256-GCM. The key comes from SWITCHBOARD_SECRET when the operator sets
// it, so several nodes can share one database, or else from a generated key
// file readable only by its owner (DESIGN.md §9).
package secret

import (
	"crypto/aes"
	"crypto/cipher"
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

// KeySize is the length of a Box key in bytes (AES-256).
const KeySize = 32

// prefix versions the sealed format so the scheme can change without
// guessing what old rows hold.
const prefix = "v1:"

// ErrMalformed reports a sealed string that is not in the v1 format.
var ErrMalformed = errors.New("secret: malformed sealed value")

// Box seals and opens values with one AES-256-GCM key. It is safe for
// concurrent use.
type Box struct {
	aead cipher.AEAD
}

// New returns a Box for a 32-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secret: key is %d bytes, want %d", len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	return &Box{aead: aead}, nil
}

// LoadOrCreate returns the node's Box. A non-empty env (the value of
// SWITCHBOARD_SECRET, passed in by the caller) is hashed with SHA-256 into
// the key, so any passphrase length works. Otherwise the hex key in the file
// at path is used, and created with 0600 permissions (parent directories
// 0700) when it does not exist yet.
func LoadOrCreate(path string, env string) (*Box, error) {
	if env != "" {
		sum := sha256.Sum256([]byte(env))
		return New(sum[:])
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

// Seal encrypts plaintext into "v1:" + base64(nonce | ciphertext | tag).
func (b *Box) Seal(plaintext []byte) (string, error) {
	ns := b.aead.NonceSize()
	buf := make([]byte, ns, ns+len(plaintext)+b.aead.Overhead())
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("secret: nonce: %w", err)
	}
	buf = b.aead.Seal(buf, buf[:ns], plaintext, nil)
	return prefix + base64.StdEncoding.EncodeToString(buf), nil
}

// Open decrypts a value made by Seal. It fails with ErrMalformed for values
// not in the sealed format, and with an authentication error when the value
// was sealed under another key or tampered with.
func (b *Box) Open(s string) ([]byte, error) {
	enc, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return nil, ErrMalformed
	}
	raw, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	ns := b.aead.NonceSize()
	if len(raw) < ns+b.aead.Overhead() {
		return nil, fmt.Errorf("%w: too short", ErrMalformed)
	}
	pt, err := b.aead.Open(nil, raw[:ns], raw[ns:], nil)
	if err != nil {
		return nil, fmt.Errorf("secret: open: %w (wrong SWITCHBOARD_SECRET or key file?)", err)
	}
	return pt, nil
}
