package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"switchboard/internal/gateway"
)

// HashKey is how client keys are stored: hex SHA-256 of the secret. Keys
// are long random strings, so an unsalted fast hash is the right tool (as
// for API tokens generally); lookups go by hash, so comparing secrets never
// happens and cannot leak timing.
func HashKey(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// KeyCache answers "which key is this secret" from memory. It is reloaded
// from the store on change notifications and periodically, so the store
// is not hit per request; a miss falls back to the store (a key created on
// another node a moment ago) and remembers misses briefly.
type KeyCache struct {
	store gateway.KeyStore
	snap  atomic.Pointer[map[string]*gateway.Key]

	missMu sync.Mutex
	misses map[string]time.Time
}

// NewKeyCache returns an empty cache; call Reload before serving.
func NewKeyCache(store gateway.KeyStore) *KeyCache {
	c := &KeyCache{store: store, misses: map[string]time.Time{}}
	empty := map[string]*gateway.Key{}
	c.snap.Store(&empty)
	return c
}

// Reload replaces the cache with the store's keys.
func (c *KeyCache) Reload(ctx context.Context) error {
	keys, err := c.store.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("reload keys: %w", err)
	}
	m := make(map[string]*gateway.Key, len(keys))
	for i := range keys {
		k := keys[i]
		m[k.Hash] = &k
	}
	c.snap.Store(&m)
	c.missMu.Lock()
	clear(c.misses)
	c.missMu.Unlock()
	return nil
}

const missTTL = 2 * time.Second

// Lookup returns the enabled key for secret, or nil.
func (c *KeyCache) Lookup(ctx context.Context, secret string) (*gateway.Key, error) {
	if secret == "" {
		return nil, nil
	}
	h := HashKey(secret)
	if k, ok := (*c.snap.Load())[h]; ok {
		if !k.Enabled {
			return nil, nil
		}
		return k, nil
	}
	c.missMu.Lock()
	if t, ok := c.misses[h]; ok && time.Since(t) < missTTL {
		c.missMu.Unlock()
		return nil, nil
	}
	c.missMu.Unlock()
	k, err := c.store.KeyByHash(ctx, h)
	if errors.Is(err, gateway.ErrNotFound) {
		c.missMu.Lock()
		if len(c.misses) > 10000 {
			clear(c.misses) // bounded: a flood of bad keys cannot grow it
		}
		c.misses[h] = time.Now()
		c.missMu.Unlock()
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up key: %w", err)
	}
	// Copy-on-write insert so readers never lock.
	for {
		old := c.snap.Load()
		m := make(map[string]*gateway.Key, len(*old)+1)
		for kh, kv := range *old {
			m[kh] = kv
		}
		m[h] = &k
		if c.snap.CompareAndSwap(old, &m) {
			break
		}
	}
	if !k.Enabled {
		return nil, nil
	}
	return &k, nil
}
