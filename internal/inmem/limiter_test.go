package inmem

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/internal/gateway"
)

// step is one action in a limiter scenario.
type step struct {
	at      time.Duration // since the start
	tokens  int64         // > 0: AddTokens instead of Acquire
	refused string        // expected substring of the refusal; "" = admitted
	retry   time.Duration // expected RetryAfter when refused
}

func TestLimiterWindows(t *testing.T) {
	tests := []struct {
		name  string
		key   gateway.Key
		steps []step
	}{
		{
			name: "rpm burst waits for the whole window",
			key:  gateway.Key{ID: 1, RPM: 3},
			steps: []step{
				{at: 0}, {at: 0}, {at: 0},
				{at: 0, refused: "3 requests per minute", retry: 60 * time.Second},
				{at: 30 * time.Second, refused: "requests per minute", retry: 30 * time.Second},
				{at: 59*time.Second + 500*time.Millisecond, refused: "requests per minute", retry: time.Second},
				{at: 60 * time.Second}, {at: 60 * time.Second}, {at: 60 * time.Second},
				{at: 61 * time.Second, refused: "requests per minute", retry: 59 * time.Second},
			},
		},
		{
			name: "rpm spread frees one slot at a time",
			key:  gateway.Key{ID: 2, RPM: 3},
			steps: []step{
				{at: 0}, {at: 10 * time.Second}, {at: 20 * time.Second},
				{at: 25 * time.Second, refused: "requests per minute", retry: 35 * time.Second},
				{at: 60 * time.Second},
				{at: 60 * time.Second, refused: "requests per minute", retry: 10 * time.Second},
				{at: 70 * time.Second},
			},
		},
		{
			name: "retry after rounds up to whole seconds",
			key:  gateway.Key{ID: 3, RPM: 1},
			steps: []step{
				{at: 0},
				{at: 1500 * time.Millisecond, refused: "1 requests per minute", retry: 59 * time.Second},
			},
		},
		{
			name: "tpm refuses once the window is spent",
			key:  gateway.Key{ID: 4, TPM: 100},
			steps: []step{
				{at: 0},
				{at: 0, tokens: 60},
				{at: 5 * time.Second},
				{at: 10 * time.Second, tokens: 50},
				{at: 20 * time.Second, refused: "100 tokens per minute", retry: 40 * time.Second},
				{at: 60 * time.Second},
				{at: 61 * time.Second, tokens: 50},
				{at: 62 * time.Second, refused: "tokens per minute", retry: 8 * time.Second},
				{at: 70 * time.Second},
			},
		},
		{
			name: "tpm does not count requests",
			key:  gateway.Key{ID: 5, TPM: 10},
			steps: []step{{at: 0}, {at: 0}, {at: 0}, {at: 0}, {at: 0, tokens: 10},
				{at: 0, refused: "tokens per minute", retry: 60 * time.Second}},
		},
		{
			name: "refused requests do not count against rpm",
			key:  gateway.Key{ID: 6, RPM: 2},
			steps: []step{
				{at: 0}, {at: 0},
				{at: time.Second, refused: "requests per minute"},
				{at: 2 * time.Second, refused: "requests per minute"},
				{at: 60 * time.Second}, {at: 60 * time.Second},
			},
		},
		{
			name: "a clock that steps back counts in the newest bucket",
			key:  gateway.Key{ID: 7, RPM: 2},
			steps: []step{
				{at: 10 * time.Second}, {at: 0},
				{at: 5 * time.Second, refused: "requests per minute", retry: 65 * time.Second},
				{at: 70 * time.Second},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			start := clk.Now()
			l := NewLimiter(LimiterConfig{Now: clk.Now})
			ctx := context.Background()
			for i, s := range tt.steps {
				clk.mu.Lock()
				clk.t = start.Add(s.at)
				clk.mu.Unlock()
				if s.tokens > 0 {
					l.AddTokens(ctx, tt.key, s.tokens)
					continue
				}
				release, err := l.Acquire(ctx, tt.key)
				if s.refused == "" {
					if err != nil {
						t.Fatalf("step %d at %v: refused: %v", i, s.at, err)
					}
					release()
					continue
				}
				var ge *gateway.Error
				if !errors.As(err, &ge) {
					t.Fatalf("step %d at %v: err = %v, want *gateway.Error", i, s.at, err)
				}
				if ge.Kind != gateway.KindRateLimited || !strings.Contains(ge.Message, s.refused) {
					t.Errorf("step %d: got kind %v %q, want rate limited %q", i, ge.Kind, ge.Message, s.refused)
				}
				if ge.RetryAfter < time.Second {
					t.Errorf("step %d: RetryAfter %v < 1s", i, ge.RetryAfter)
				}
				if s.retry != 0 && ge.RetryAfter != s.retry {
					t.Errorf("step %d at %v: RetryAfter = %v, want %v", i, s.at, ge.RetryAfter, s.retry)
				}
			}
		})
	}
}

func TestLimiterConcurrency(t *testing.T) {
	clk := newClock()
	l := NewLimiter(LimiterConfig{Now: clk.Now})
	ctx := context.Background()
	k := gateway.Key{ID: 9, MaxConcurrent: 2, RPM: 100}

	a, err := l.Acquire(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Acquire(ctx, k); err != nil {
		t.Fatal(err)
	}
	_, err = l.Acquire(ctx, k)
	var ge *gateway.Error
	if !errors.As(err, &ge) || !strings.Contains(ge.Message, "2 requests in flight") || ge.RetryAfter != time.Second {
		t.Fatalf("third acquire: %v, want concurrency refusal with RetryAfter 1s", err)
	}
	// Release is idempotent: releasing a twice frees one slot, not two.
	a()
	a()
	if _, err := l.Acquire(ctx, k); err != nil {
		t.Fatalf("after release: %v", err)
	}
	if _, err := l.Acquire(ctx, k); err == nil {
		t.Fatal("double release freed two slots")
	}
}

func TestLimiterUnlimitedKeyHasNoState(t *testing.T) {
	l := NewLimiter(LimiterConfig{})
	ctx := context.Background()
	for range 1000 {
		release, err := l.Acquire(ctx, gateway.Key{ID: 42})
		if err != nil {
			t.Fatal(err)
		}
		release()
		l.AddTokens(ctx, gateway.Key{ID: 42}, 1000)
	}
	if n := l.Len(); n != 0 {
		t.Fatalf("unlimited key left %d states", n)
	}
	if n := testing.AllocsPerRun(100, func() {
		release, _ := l.Acquire(ctx, gateway.Key{ID: 42})
		release()
	}); n != 0 {
		t.Errorf("unlimited Acquire allocates %v times", n)
	}
}

func TestLimiterEvictsIdleKeys(t *testing.T) {
	clk := newClock()
	l := NewLimiter(LimiterConfig{Now: clk.Now, IdleTTL: time.Second}) // raised to 60s
	ctx := context.Background()
	for id := range int64(1000) {
		if _, err := l.Acquire(ctx, gateway.Key{ID: id, RPM: 1}); err != nil {
			t.Fatal(err)
		}
	}
	held, err := l.Acquire(ctx, gateway.Key{ID: 5000, MaxConcurrent: 1})
	if err != nil {
		t.Fatal(err)
	}
	if n := l.Len(); n != 1001 {
		t.Fatalf("Len = %d, want 1001", n)
	}

	clk.Advance(59 * time.Second)
	l.Sweep()
	if n := l.Len(); n != 1001 {
		t.Fatalf("swept before the window ended: Len = %d", n)
	}
	// Within the window the counts still matter.
	if _, err := l.Acquire(ctx, gateway.Key{ID: 1, RPM: 1}); err == nil {
		t.Fatal("key 1 admitted twice within a minute")
	}

	// Adding new keys sweeps their shards without an explicit Sweep.
	clk.Advance(2 * time.Minute)
	for id := int64(10000); id < 11000; id++ {
		l.AddTokens(ctx, gateway.Key{ID: id, TPM: 10}, 1)
	}
	if n := l.Len(); n != 1001 {
		t.Fatalf("after inserting 1000 new keys: Len = %d, want 1001 (1000 new + 1 in flight)", n)
	}

	clk.Advance(2 * time.Minute)
	l.Sweep()
	if n := l.Len(); n != 1 {
		t.Fatalf("key with a request in flight: Len = %d, want 1", n)
	}
	held()
	clk.Advance(2 * time.Minute)
	l.Sweep()
	if n := l.Len(); n != 0 {
		t.Fatalf("Len = %d, want 0", n)
	}
	// An evicted key starts afresh.
	if _, err := l.Acquire(ctx, gateway.Key{ID: 1, RPM: 1}); err != nil {
		t.Fatal(err)
	}
}

func TestLimiterRace(t *testing.T) {
	clk := newClock()
	l := NewLimiter(LimiterConfig{Now: clk.Now})
	ctx := context.Background()
	const workers, tries = 8, 200
	rpmKey := gateway.Key{ID: 1, RPM: 500}
	concKey := gateway.Key{ID: 2, MaxConcurrent: 3}

	var admitted, inflight, peak atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range tries {
				if _, err := l.Acquire(ctx, rpmKey); err == nil {
					admitted.Add(1)
				}
				release, err := l.Acquire(ctx, concKey)
				if err == nil {
					n := inflight.Add(1)
					for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
					}
					inflight.Add(-1)
					release()
					release()
				}
				// Keys that come and go, with sweeps racing them.
				k := gateway.Key{ID: int64(100 + w*tries + i), RPM: 5, TPM: 5}
				l.AddTokens(ctx, k, 1)
				if r, err := l.Acquire(ctx, k); err == nil {
					r()
				}
				if i%50 == 0 {
					clk.Advance(time.Minute)
					l.Sweep()
				}
			}
		}()
	}
	wg.Wait()
	if admitted.Load() < 500 {
		// The clock moved on during the run, so more may be admitted,
		// but never fewer than one window's worth.
		t.Errorf("admitted %d, want at least 500", admitted.Load())
	}
	if p := peak.Load(); p > 3 {
		t.Errorf("peak concurrency %d > 3", p)
	}
}

func TestLimiterRPMExactUnderContention(t *testing.T) {
	clk := newClock()
	l := NewLimiter(LimiterConfig{Now: clk.Now})
	ctx := context.Background()
	k := gateway.Key{ID: 1, RPM: 500}
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				if _, err := l.Acquire(ctx, k); err == nil {
					admitted.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if admitted.Load() != 500 {
		t.Fatalf("admitted %d, want exactly 500", admitted.Load())
	}
}

func BenchmarkAcquireUnlimited(b *testing.B) {
	l := NewLimiter(LimiterConfig{})
	ctx := context.Background()
	k := gateway.Key{ID: 1}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			release, _ := l.Acquire(ctx, k)
			release()
		}
	})
}

func BenchmarkAcquireLimited(b *testing.B) {
	for _, bc := range []struct {
		name string
		key  gateway.Key
	}{
		{"rpm", gateway.Key{ID: 1, RPM: 1 << 30}},
		{"rpm+tpm+concurrency", gateway.Key{ID: 1, RPM: 1 << 30, TPM: 1 << 30, MaxConcurrent: 1 << 20}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			l := NewLimiter(LimiterConfig{})
			ctx := context.Background()
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

func BenchmarkAcquireManyKeysParallel(b *testing.B) {
	l := NewLimiter(LimiterConfig{})
	ctx := context.Background()
	var next atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		k := gateway.Key{ID: next.Add(1), RPM: 1 << 30}
		for pb.Next() {
			release, _ := l.Acquire(ctx, k)
			release()
		}
	})
}
