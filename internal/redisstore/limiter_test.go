package redisstore

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"switchboard/internal/gateway"
)

// TestLimiterUnlimitedKeyNeverTouchesRedis needs no server: the client
// points at a closed port, and FailClosed would turn any Redis call into an
// error.
func TestLimiterUnlimitedKeyNeverTouchesRedis(t *testing.T) {
	c := &Client{rdb: redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialerRetries: 1}), prefix: "x:", closers: map[int]func(){}}
	defer c.Close()
	cc := countCommands(c)
	l := c.NewLimiter(LimiterOptions{FailClosed: true})
	ctx := context.Background()

	release, err := l.Acquire(ctx, gateway.Key{ID: 1})
	if err != nil {
		t.Fatalf("Acquire(unlimited) = %v", err)
	}
	release()
	release()
	l.AddTokens(ctx, gateway.Key{ID: 1}, 1000)
	if n := cc.n.Load(); n != 0 {
		t.Fatalf("unlimited key sent %d Redis commands, want 0", n)
	}

	// The same limiter with a limited key does go to Redis, and fails closed.
	_, err = l.Acquire(ctx, gateway.Key{ID: 1, RPM: 10})
	var ge *gateway.Error
	if !errors.As(err, &ge) || ge.Kind != gateway.KindUnavailable {
		t.Fatalf("Acquire(limited, no Redis, FailClosed) = %v, want KindUnavailable", err)
	}
	if cc.n.Load() == 0 {
		t.Fatal("limited key sent no command")
	}
}

func TestLimiterFailOpenWithoutRedis(t *testing.T) {
	c := &Client{rdb: redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialerRetries: 1}), prefix: "x:", closers: map[int]func(){}}
	defer c.Close()
	l := c.NewLimiter(LimiterOptions{})
	release, err := l.Acquire(context.Background(), gateway.Key{ID: 1, RPM: 1, MaxConcurrent: 1})
	if err != nil {
		t.Fatalf("Acquire without Redis (fail open) = %v, want admitted", err)
	}
	release()
}

// refused asserts err is a rate-limit refusal naming the limit.
func refused(t *testing.T, err error, mention string) *gateway.Error {
	t.Helper()
	var ge *gateway.Error
	if !errors.As(err, &ge) {
		t.Fatalf("err = %v, want *gateway.Error", err)
	}
	if ge.Kind != gateway.KindRateLimited || ge.HTTPStatus() != 429 {
		t.Fatalf("kind = %v status %d, want rate limited 429", ge.Kind, ge.HTTPStatus())
	}
	if ge.RetryAfter <= 0 {
		t.Fatalf("RetryAfter = %v, want > 0", ge.RetryAfter)
	}
	if !strings.Contains(ge.Message, mention) {
		t.Fatalf("message %q does not mention %q", ge.Message, mention)
	}
	return ge
}

func TestLimiterRPMExactAcrossNodes(t *testing.T) {
	nodes := openNodes(t, 2)
	la, lb := nodes[0].NewLimiter(LimiterOptions{}), nodes[1].NewLimiter(LimiterOptions{})
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		key  gateway.Key
	}{
		{"rpm 1", gateway.Key{ID: 101, RPM: 1}},
		{"rpm 7", gateway.Key{ID: 102, RPM: 7}},
		{"rpm 30 keyed by hash", gateway.Key{Hash: "abc", RPM: 30}},
		{"rpm 5 with concurrency", gateway.Key{ID: 103, RPM: 5, MaxConcurrent: 100}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := range tc.key.RPM {
				l := la
				if i%2 == 1 {
					l = lb
				}
				release, err := l.Acquire(ctx, tc.key)
				if err != nil {
					t.Fatalf("request %d of %d refused: %v", i+1, tc.key.RPM, err)
				}
				release()
			}
			for _, l := range []*Limiter{la, lb} {
				_, err := l.Acquire(ctx, tc.key)
				ge := refused(t, err, "requests per minute")
				if ge.RetryAfter > 2*time.Minute {
					t.Fatalf("RetryAfter = %v, want at most two windows", ge.RetryAfter)
				}
			}
		})
	}
}

func TestLimiterRetryAfterIsEnough(t *testing.T) {
	nodes := openNodes(t, 1)
	// A short window makes waiting for RetryAfter quick; the arithmetic is
	// the same at one minute.
	l := nodes[0].NewLimiter(LimiterOptions{window: 400 * time.Millisecond})
	ctx := context.Background()
	k := gateway.Key{ID: 7, RPM: 3}
	for round := range 3 {
		admitted := 0
		var err error
		for {
			var release func()
			release, err = l.Acquire(ctx, k)
			if err != nil {
				break
			}
			release()
			admitted++
			if admitted > k.RPM {
				t.Fatalf("round %d: admitted more than %d in one window", round, k.RPM)
			}
		}
		ge := refused(t, err, "requests per minute")
		if ge.RetryAfter > 800*time.Millisecond {
			t.Fatalf("round %d: RetryAfter = %v, longer than two windows", round, ge.RetryAfter)
		}
		time.Sleep(ge.RetryAfter + 5*time.Millisecond)
		release, err := l.Acquire(ctx, k)
		if err != nil {
			t.Fatalf("round %d: refused again after waiting RetryAfter %v: %v", round, ge.RetryAfter, err)
		}
		release()
	}
}

func TestLimiterTPM(t *testing.T) {
	nodes := openNodes(t, 2)
	la, lb := nodes[0].NewLimiter(LimiterOptions{}), nodes[1].NewLimiter(LimiterOptions{})
	ctx := context.Background()
	k := gateway.Key{ID: 9, TPM: 100}

	mustAdmit := func(l *Limiter, what string) {
		t.Helper()
		release, err := l.Acquire(ctx, k)
		if err != nil {
			t.Fatalf("%s: refused: %v", what, err)
		}
		release()
	}
	mustAdmit(la, "fresh window")
	la.AddTokens(ctx, k, 60)
	mustAdmit(lb, "60 of 100 tokens spent")
	lb.AddTokens(ctx, k, 39)
	mustAdmit(la, "99 of 100 tokens spent")
	la.AddTokens(ctx, k, 1)
	for _, l := range []*Limiter{la, lb} {
		_, err := l.Acquire(ctx, k)
		refused(t, err, "tokens per minute")
	}
	// A key with RPM but no TPM ignores tokens.
	rk := gateway.Key{ID: 10, RPM: 100}
	la.AddTokens(ctx, rk, 1_000_000)
	release, err := lb.Acquire(ctx, rk)
	if err != nil {
		t.Fatalf("tokens charged to a key without TPM: %v", err)
	}
	release()
}

func TestLimiterConcurrencyAndLeaseExpiry(t *testing.T) {
	nodes := openNodes(t, 2)
	const lease = 300 * time.Millisecond
	la := nodes[0].NewLimiter(LimiterOptions{LeaseTTL: lease})
	lb := nodes[1].NewLimiter(LimiterOptions{LeaseTTL: lease})
	ctx := context.Background()
	k := gateway.Key{ID: 11, MaxConcurrent: 2, RPM: 1000}

	r1, err := la.Acquire(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := lb.Acquire(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	_, err = la.Acquire(ctx, k)
	refused(t, err, "concurrent")

	// A release from any goroutine frees the slot, once.
	done := make(chan struct{})
	go func() { r1(); close(done) }()
	<-done
	r3, err := lb.Acquire(ctx, k)
	if err != nil {
		t.Fatalf("slot not freed by release: %v", err)
	}
	r1()
	_, err = la.Acquire(ctx, k)
	refused(t, err, "concurrent")

	// r2 and r3 are never released, as if their node crashed: the leases
	// expire and the slots come back.
	_ = r2
	_ = r3
	time.Sleep(lease + 50*time.Millisecond)
	r4, err := la.Acquire(ctx, k)
	if err != nil {
		t.Fatalf("slots of expired leases not reclaimed: %v", err)
	}
	r4()
}

// TestLimiterRefusalChargesNothing: requests refused for concurrency must
// not eat the RPM allowance.
func TestLimiterRefusalChargesNothing(t *testing.T) {
	nodes := openNodes(t, 1)
	l := nodes[0].NewLimiter(LimiterOptions{})
	ctx := context.Background()
	k := gateway.Key{ID: 12, MaxConcurrent: 1, RPM: 3}
	r1, err := l.Acquire(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		_, err := l.Acquire(ctx, k)
		refused(t, err, "concurrent")
	}
	r1()
	for i := range 2 {
		r, err := l.Acquire(ctx, k)
		if err != nil {
			t.Fatalf("request %d after concurrency refusals: %v", i+2, err)
		}
		r()
	}
	_, err = l.Acquire(ctx, k)
	refused(t, err, "requests per minute")
}

func TestLimiterExactUnderContention(t *testing.T) {
	nodes := openNodes(t, 2)
	limiters := []*Limiter{nodes[0].NewLimiter(LimiterOptions{}), nodes[1].NewLimiter(LimiterOptions{})}
	k := gateway.Key{ID: 13, RPM: 50}
	var admitted, rejected atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range 200 {
		wg.Go(func() {
			<-start
			release, err := limiters[i%2].Acquire(context.Background(), k)
			if err != nil {
				var ge *gateway.Error
				if errors.As(err, &ge) && ge.Kind == gateway.KindRateLimited && ge.RetryAfter > 0 {
					rejected.Add(1)
				}
				return
			}
			admitted.Add(1)
			release()
		})
	}
	close(start)
	wg.Wait()
	if admitted.Load() != 50 || rejected.Load() != 150 {
		t.Fatalf("admitted %d, rejected %d; want exactly 50 and 150", admitted.Load(), rejected.Load())
	}
}

func TestLimiterHonoursContext(t *testing.T) {
	nodes := openNodes(t, 1)
	l := nodes[0].NewLimiter(LimiterOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := l.Acquire(ctx, gateway.Key{ID: 14, RPM: 5})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Acquire(cancelled ctx) = %v, want context.Canceled", err)
	}
}

// BenchmarkAcquire measures one Acquire round trip for a limited key, and
// Acquire plus release (two round trips) when a concurrency lease is taken.
func BenchmarkAcquire(b *testing.B) {
	nodes := openNodes(b, 1)
	l := nodes[0].NewLimiter(LimiterOptions{})
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		key  gateway.Key
	}{
		{"rpm+tpm", gateway.Key{ID: 1, RPM: 1 << 30, TPM: 1 << 40}},
		{"rpm+tpm+concurrency+release", gateway.Key{ID: 2, RPM: 1 << 30, TPM: 1 << 40, MaxConcurrent: 1 << 20}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				release, err := l.Acquire(ctx, bc.key)
				if err != nil {
					b.Fatal(err)
				}
				release()
			}
		})
	}
}
