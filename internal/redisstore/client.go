package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// DefaultPrefix namespaces every key and pub/sub channel when Open is given
// an empty prefix.
const DefaultPrefix = "sb:"

// Client is one node's connection to the shared Redis. It owns the
// background goroutines of the Health caches and Notifier subscriptions made
// from it; Close stops them all.
type Client struct {
	rdb    *redis.Client
	prefix string
	// node is a random id minted at Open; with seq it makes lease tokens
	// unique across nodes without a random read per request.
	node string
	seq  atomic.Uint64

	mu      sync.Mutex
	closed  bool
	nextID  int
	closers map[int]func()
}

// Open connects to url (redis://[user:pass@]host:port/db, or rediss:// for
// TLS) and checks the server answers. prefix namespaces every key and
// channel this package touches; "" means DefaultPrefix.
func Open(ctx context.Context, url string, prefix string) (*Client, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redisstore: parse url: %w", err)
	}
	if prefix == "" {
		prefix = DefaultPrefix
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("redisstore: node id: %w", err)
	}
	rdb := redis.NewClient(opt)
	if err := rdb.Ping(ctx).Err(); err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("redisstore: ping %s: %w", opt.Addr, err)
	}
	return &Client{
		rdb:     rdb,
		prefix:  prefix,
		node:    hex.EncodeToString(b[:]),
		closers: make(map[int]func()),
	}, nil
}

// Prefix is the namespace of every key and channel of this client.
func (c *Client) Prefix() string { return c.prefix }

// Close stops every Health cache and subscription made from c, then closes
// the connection pool. It is safe to call more than once.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	closers := c.closers
	c.closers = nil
	c.mu.Unlock()
	for _, stop := range closers {
		stop()
	}
	return c.rdb.Close()
}

// track registers stop to be run by Close. It returns an untrack function
// and false when the client is already closed.
func (c *Client) track(stop func()) (untrack func(), ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, false
	}
	id := c.nextID
	c.nextID++
	c.closers[id] = stop
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		delete(c.closers, id)
	}, true
}

var errClosed = errors.New("redisstore: client closed")

// token returns a string unique across nodes and requests.
func (c *Client) token() string {
	return c.node + "-" + strconv.FormatUint(c.seq.Add(1), 36)
}
