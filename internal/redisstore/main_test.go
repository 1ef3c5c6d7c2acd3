package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testURL is the Redis the integration tests use.
func testURL() string {
	if u := os.Getenv("SWITCHBOARD_TEST_REDIS"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// skipOrFail skips an integration test when Redis is unreachable, unless
// SWITCHBOARD_REQUIRE_INTEGRATION=1 makes that a failure (CI).
func skipOrFail(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("SWITCHBOARD_REQUIRE_INTEGRATION") == "1" {
		t.Fatalf("Redis at %s is required (SWITCHBOARD_REQUIRE_INTEGRATION=1): %v", testURL(), err)
	}
	t.Skipf("skipping: Redis at %s unreachable (set SWITCHBOARD_TEST_REDIS to point elsewhere): %v", testURL(), err)
}

var (
	reachOnce sync.Once
	reachErr  error
)

// requireRedis skips (or fails, see skipOrFail) unless Redis answers. The
// probe runs once per test binary so that a missing server costs one
// connection attempt, not one per test.
func requireRedis(t testing.TB) {
	t.Helper()
	reachOnce.Do(func() {
		opt, err := redis.ParseURL(testURL())
		if err != nil {
			reachErr = err
			return
		}
		opt.DialerRetries = 1
		opt.MaxRetries = -1
		rdb := redis.NewClient(opt)
		defer rdb.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		reachErr = rdb.Ping(ctx).Err()
	})
	if reachErr != nil {
		skipOrFail(t, reachErr)
	}
}

func randomPrefix(t testing.TB) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "sbtest:" + hex.EncodeToString(b[:]) + ":"
}

// openNodes opens n clients ("nodes") sharing one fresh prefix, and removes
// every key under that prefix when the test ends.
func openNodes(t testing.TB, n int) []*Client {
	t.Helper()
	requireRedis(t)
	prefix := randomPrefix(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	nodes := make([]*Client, 0, n)
	for range n {
		c, err := Open(ctx, testURL(), prefix)
		if err != nil {
			for _, c := range nodes {
				c.Close()
			}
			t.Fatalf("open: %v", err)
		}
		nodes = append(nodes, c)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		rdb := nodes[0].rdb
		iter := rdb.Scan(ctx, 0, prefix+"*", 500).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("cleanup scan: %v", err)
		}
		if len(keys) > 0 {
			if err := rdb.Del(ctx, keys...).Err(); err != nil {
				t.Errorf("cleanup del: %v", err)
			}
		}
		for _, c := range nodes {
			if err := c.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		}
	})
	return nodes
}

// commandCounter counts the commands a client sends, to prove that a path
// does not touch Redis.
type commandCounter struct{ n atomic.Int64 }

func (c *commandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}
func (c *commandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

func countCommands(c *Client) *commandCounter {
	cc := &commandCounter{}
	c.rdb.AddHook(cc)
	return cc
}

// eventually polls cond every 5 ms until it holds or within passes.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
