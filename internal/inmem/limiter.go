package inmem

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"switchboard/internal/gateway"
)

// The rate windows are 60 one-second buckets: a request or token counts
// against the window for between 59 and 60 seconds, whatever the traffic
// pattern, and the memory per key is fixed.
const (
	windowBuckets = 60
	windowSpan    = windowBuckets * time.Second

	limiterShards = 256 // power of two
)

// DefaultIdleTTL is how long a key's state survives without traffic.
const DefaultIdleTTL = 2 * windowSpan

// LimiterConfig configures a Limiter. The zero value is usable.
type LimiterConfig struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// IdleTTL is how long a key with no traffic and no request in flight
	// keeps its state. It is raised to the window length (60s) when lower,
	// so evicting a key never forgets counts that still matter.
	// 0 means DefaultIdleTTL.
	IdleTTL time.Duration
}

// Limiter is the single-node gateway.Limiter. Keys are sharded by ID and
// each key has its own mutex, so traffic on one key does not slow another;
// a key with no limits touches no shared state at all.
type Limiter struct {
	now     func() time.Time
	idleTTL int64 // nanoseconds
	shards  [limiterShards]limiterShard
}

type limiterShard struct {
	mu        sync.RWMutex
	keys      map[int64]*keyState
	lastSweep int64 // unix nanoseconds
	_         [24]byte
}

// keyState is one key's counters. The shard lock guards the map entry; mu
// guards the fields. dead marks a state removed from its shard so a caller
// that looked it up just before the sweep retries with a fresh one.
type keyState struct {
	mu       sync.Mutex
	dead     bool
	inflight int64
	lastSeen int64 // unix nanoseconds
	requests *window
	tokens   *window
}

var _ gateway.Limiter = (*Limiter)(nil)

// NewLimiter returns an empty limiter.
func NewLimiter(cfg LimiterConfig) *Limiter {
	l := &Limiter{now: cfg.Now, idleTTL: int64(cfg.IdleTTL)}
	if l.now == nil {
		l.now = time.Now
	}
	if l.idleTTL == 0 {
		l.idleTTL = int64(DefaultIdleTTL)
	}
	l.idleTTL = max(l.idleTTL, int64(windowSpan))
	for i := range l.shards {
		l.shards[i].keys = make(map[int64]*keyState)
	}
	return l
}

func noRelease() {}

// Acquire implements gateway.Limiter. The in-memory limiter never blocks,
// so ctx is not consulted.
func (l *Limiter) Acquire(_ context.Context, k gateway.Key) (func(), error) {
	if k.RPM <= 0 && k.TPM <= 0 && k.MaxConcurrent <= 0 {
		return noRelease, nil
	}
	now := l.now()
	st := l.lock(k.ID, now)
	defer st.mu.Unlock()
	st.lastSeen = now.UnixNano()
	sec := now.Unix()

	if k.MaxConcurrent > 0 && st.inflight >= int64(k.MaxConcurrent) {
		// No way to know when a slot frees; one second is the smallest
		// Retry-After a client can be told.
		return nil, refusal(time.Second, "concurrency limit reached: %d requests in flight", k.MaxConcurrent)
	}
	if k.RPM > 0 && st.requests != nil {
		st.requests.advance(sec)
		if st.requests.sum >= int64(k.RPM) {
			ra := st.requests.retryAfter(now, st.requests.sum-int64(k.RPM)+1)
			return nil, refusal(ra, "rate limit reached: %d requests per minute", k.RPM)
		}
	}
	if k.TPM > 0 && st.tokens != nil {
		st.tokens.advance(sec)
		if st.tokens.sum >= int64(k.TPM) {
			ra := st.tokens.retryAfter(now, st.tokens.sum-int64(k.TPM)+1)
			return nil, refusal(ra, "rate limit reached: %d tokens per minute", k.TPM)
		}
	}

	if k.RPM > 0 {
		if st.requests == nil {
			st.requests = &window{}
		}
		st.requests.add(sec, 1)
	}
	if k.MaxConcurrent <= 0 {
		return noRelease, nil
	}
	st.inflight++
	r := &releaser{l: l, st: st}
	return r.release, nil
}

// AddTokens implements gateway.Limiter. Keys without a TPM limit are not
// tracked.
func (l *Limiter) AddTokens(_ context.Context, k gateway.Key, tokens int64) {
	if k.TPM <= 0 || tokens <= 0 {
		return
	}
	now := l.now()
	st := l.lock(k.ID, now)
	st.lastSeen = now.UnixNano()
	if st.tokens == nil {
		st.tokens = &window{}
	}
	st.tokens.add(now.Unix(), tokens)
	st.mu.Unlock()
}

type releaser struct {
	l    *Limiter
	st   *keyState
	done atomic.Bool
}

func (r *releaser) release() {
	if !r.done.CompareAndSwap(false, true) {
		return
	}
	now := r.l.now().UnixNano()
	r.st.mu.Lock()
	r.st.inflight--
	r.st.lastSeen = now
	r.st.mu.Unlock()
}

func refusal(retryAfter time.Duration, format string, args ...any) *gateway.Error {
	e := gateway.Errorf(gateway.KindRateLimited, format, args...).WithCode("rate_limit_exceeded")
	e.RetryAfter = retryAfter
	return e
}

// lock returns id's state, created if needed, with its mutex held.
func (l *Limiter) lock(id int64, now time.Time) *keyState {
	sh := &l.shards[shardOf(id)]
	for {
		sh.mu.RLock()
		st := sh.keys[id]
		sh.mu.RUnlock()
		if st == nil {
			st = l.create(sh, id, now.UnixNano())
		}
		st.mu.Lock()
		if !st.dead {
			return st
		}
		st.mu.Unlock()
	}
}

func (l *Limiter) create(sh *limiterShard, id int64, now int64) *keyState {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if st := sh.keys[id]; st != nil {
		return st
	}
	// The map only grows here, so sweeping here bounds it: a shard holds
	// at most the keys seen within about two idle periods.
	if now-sh.lastSweep >= l.idleTTL {
		l.sweepLocked(sh, now)
	}
	st := &keyState{lastSeen: now}
	sh.keys[id] = st
	return st
}

// Sweep evicts the state of keys idle for longer than the idle TTL. The
// limiter also sweeps a shard by itself when it adds a key to it, so calling
// Sweep is only needed to return memory after a burst of keys goes quiet.
func (l *Limiter) Sweep() {
	now := l.now().UnixNano()
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		l.sweepLocked(sh, now)
		sh.mu.Unlock()
	}
}

func (l *Limiter) sweepLocked(sh *limiterShard, now int64) {
	sh.lastSweep = now
	for id, st := range sh.keys {
		st.mu.Lock()
		if st.inflight == 0 && now-st.lastSeen >= l.idleTTL {
			st.dead = true
			delete(sh.keys, id)
		}
		st.mu.Unlock()
	}
}

// Len reports how many keys have state, for metrics and tests.
func (l *Limiter) Len() int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.RLock()
		n += len(sh.keys)
		sh.mu.RUnlock()
	}
	return n
}

func shardOf(id int64) uint64 {
	// Fibonacci hashing spreads sequential database IDs over the shards.
	return (uint64(id) * 0x9E3779B97F4A7C15) >> (64 - 8)
}

// window counts events in the last windowBuckets seconds, one bucket per
// second, with a running sum so checks are O(1).
type window struct {
	head    int64 // unix second of the newest bucket
	sum     int64
	buckets [windowBuckets]int64
}

func bucketOf(sec int64) int {
	i := sec % windowBuckets
	if i < 0 {
		i += windowBuckets
	}
	return int(i)
}

// advance drops the buckets that fell out of the window by second sec.
// A clock that steps back leaves the window as it is.
func (w *window) advance(sec int64) {
	if sec <= w.head {
		return
	}
	if sec-w.head >= windowBuckets {
		clear(w.buckets[:])
		w.sum = 0
	} else {
		for s := w.head + 1; s <= sec; s++ {
			i := bucketOf(s)
			w.sum -= w.buckets[i]
			w.buckets[i] = 0
		}
	}
	w.head = sec
}

func (w *window) add(sec, n int64) {
	w.advance(sec)
	w.buckets[bucketOf(w.head)] += n
	w.sum += n
}

// retryAfter is how long until at least need units have left the window,
// rounded up to whole seconds (what Retry-After can express), at least 1s.
func (w *window) retryAfter(now time.Time, need int64) time.Duration {
	var acc int64
	for s := w.head - windowBuckets + 1; s <= w.head; s++ {
		acc += w.buckets[bucketOf(s)]
		if acc >= need {
			return ceilSecond(time.Unix(s+windowBuckets, 0).Sub(now))
		}
	}
	return windowSpan
}

func ceilSecond(d time.Duration) time.Duration {
	if d <= time.Second {
		return time.Second
	}
	return (d + time.Second - 1).Truncate(time.Second)
}
