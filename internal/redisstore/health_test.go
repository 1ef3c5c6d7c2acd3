package redisstore

import (
	"context"
	"github.com/redis/go-redis/v9"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/internal/gateway"
)

func newHealths(t *testing.T, opts HealthOptions, nodes ...*Client) []*Health {
	t.Helper()
	out := make([]*Health, len(nodes))
	for i, c := range nodes {
		h, err := c.NewHealth(context.Background(), opts)
		if err != nil {
			t.Fatalf("NewHealth: %v", err)
		}
		t.Cleanup(func() { h.Close() })
		out[i] = h
	}
	return out
}

func fail(h *Health, ch int64, reason string) {
	h.Report(gateway.HealthReport{ChannelID: ch, Outcome: gateway.OutcomeFailure, Reason: reason})
}

func channelState(h *Health, ch int64) (gateway.ChannelHealth, bool) {
	for _, c := range h.Snapshot() {
		if c.ChannelID == ch {
			return c, true
		}
	}
	return gateway.ChannelHealth{}, false
}

func TestHealthBreakerSharedAcrossNodes(t *testing.T) {
	nodes := openNodes(t, 2)
	// A long resync proves pub/sub, not polling, carries the change.
	hs := newHealths(t, HealthOptions{Resync: time.Minute}, nodes...)
	a, b := hs[0], hs[1]
	const ch = 5

	fail(a, ch, "upstream 502")
	fail(b, ch, "upstream 503")
	if !a.Available(ch, 0, time.Now()) {
		t.Fatal("open after 2 failures, threshold is 3")
	}
	fail(a, ch, "timeout")
	if a.Available(ch, 0, time.Now()) {
		t.Fatal("reporting node still sees channel available after 3 failures")
	}
	start := time.Now()
	eventually(t, time.Second, "node B sees the open breaker", func() bool { return !b.Available(ch, 0, time.Now()) })
	t.Logf("open breaker reached node B in %v", time.Since(start))
	if !b.Available(ch+1, 0, time.Now()) {
		t.Fatal("another channel unavailable")
	}

	st, ok := channelState(b, ch)
	if !ok || st.State != gateway.StateOpen || st.Failures != 3 || st.LastError != "timeout" {
		t.Fatalf("snapshot on B = %+v", st)
	}
	if d := time.Until(st.OpenUntil); d < 25*time.Second || d > 31*time.Second {
		t.Fatalf("OpenUntil in %v, want about the 30 s default cooldown", d)
	}

	// A success anywhere closes it everywhere.
	b.Report(gateway.HealthReport{ChannelID: ch, Outcome: gateway.OutcomeSuccess})
	eventually(t, time.Second, "node A sees the closed breaker", func() bool { return a.Available(ch, 0, time.Now()) })
	if got := a.Snapshot(); len(got) != 0 {
		t.Fatalf("snapshot after recovery = %+v, want empty", got)
	}
}

func TestHealthHalfOpenSingleProbe(t *testing.T) {
	nodes := openNodes(t, 2)
	const cool = 150 * time.Millisecond
	hs := newHealths(t, HealthOptions{Cooldown: cool, ProbeLease: 300 * time.Millisecond, FailureThreshold: 1}, nodes...)
	const ch = 8

	// probeRace asks both nodes from many goroutines at once and returns how
	// many got the probe.
	probeRace := func() int {
		var got atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 40 {
			wg.Go(func() {
				<-start
				if hs[i%2].Available(ch, 0, time.Now()) {
					got.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		return int(got.Load())
	}
	waitOpenEverywhere := func() gateway.ChannelHealth {
		t.Helper()
		for _, h := range hs {
			eventually(t, time.Second, "open everywhere", func() bool {
				st, ok := channelState(h, ch)
				return ok && st.State == gateway.StateOpen
			})
		}
		st, _ := channelState(hs[1], ch)
		return st
	}

	fail(hs[0], ch, "502")
	first := waitOpenEverywhere()
	time.Sleep(time.Until(first.OpenUntil) + 10*time.Millisecond)
	if st, _ := channelState(hs[0], ch); st.State != gateway.StateHalfOpen {
		t.Fatalf("after cooldown state = %q, want half-open", st.State)
	}
	if n := probeRace(); n != 1 {
		t.Fatalf("%d requests took the half-open probe, want exactly 1", n)
	}

	// The probe fails: open again, for twice as long.
	reopenedAt := time.Now()
	fail(hs[1], ch, "still 502")
	second := waitOpenEverywhere()
	if d := second.OpenUntil.Sub(reopenedAt); d < 2*cool-20*time.Millisecond || d > 2*cool+100*time.Millisecond {
		t.Fatalf("second cooldown %v, want about %v", d, 2*cool)
	}
	time.Sleep(time.Until(second.OpenUntil) + 10*time.Millisecond)
	if n := probeRace(); n != 1 {
		t.Fatalf("second episode: %d probes, want 1", n)
	}

	// The probe's outcome is never reported (its node died): after the
	// probe lease another probe is allowed, still just one.
	time.Sleep(350 * time.Millisecond)
	if n := probeRace(); n != 1 {
		t.Fatalf("after the probe lease: %d probes, want 1", n)
	}

	// The probe succeeds: closed everywhere.
	hs[0].Report(gateway.HealthReport{ChannelID: ch, Outcome: gateway.OutcomeSuccess})
	for _, h := range hs {
		eventually(t, time.Second, "closed everywhere", func() bool { return h.Available(ch, 0, time.Now()) })
	}
	if n := probeRace(); n != 40 {
		t.Fatalf("closed channel admitted %d of 40", n)
	}
}

func TestHealthKeyCooldownAndDisable(t *testing.T) {
	nodes := openNodes(t, 2)
	hs := newHealths(t, HealthOptions{Resync: time.Minute}, nodes...)
	a, b := hs[0], hs[1]
	const ch = 3

	a.Report(gateway.HealthReport{ChannelID: ch, KeyIndex: 1, Outcome: gateway.OutcomeRateLimited, RetryAfter: 300 * time.Millisecond, Reason: "429"})
	eventually(t, time.Second, "B sees key 1 cooling", func() bool { return !b.Available(ch, 1, time.Now()) })
	if !b.Available(ch, 0, time.Now()) || !a.Available(ch, 2, time.Now()) {
		t.Fatal("a 429 on key 1 made other keys unavailable")
	}
	st, _ := channelState(b, ch)
	if st.State != gateway.StateClosed || st.Failures != 0 || len(st.Keys) != 1 || st.Keys[0].State != gateway.KeyStateCooling {
		t.Fatalf("snapshot = %+v, want closed breaker and key 1 cooling", st)
	}
	// Cooldowns end by the clock, without any message.
	if !b.Available(ch, 1, time.Now().Add(time.Second)) {
		t.Fatal("key 1 still cooling after its Retry-After")
	}

	// 401: key 0 is disabled with its reason, everywhere.
	b.Report(gateway.HealthReport{ChannelID: ch, KeyIndex: 0, Outcome: gateway.OutcomeAuthFailure, Reason: "401 invalid api key"})
	eventually(t, time.Second, "A sees key 0 disabled", func() bool { return !a.Available(ch, 0, time.Now()) })
	if a.Available(ch, 0, time.Now().Add(50*time.Minute)) != false {
		t.Fatal("disabled key back before DisableFor")
	}
	st, _ = channelState(a, ch)
	var k0 gateway.KeyHealth
	for _, k := range st.Keys {
		if k.Index == 0 {
			k0 = k
		}
	}
	if k0.State != gateway.KeyStateDisabled || k0.Reason != "401 invalid api key" {
		t.Fatalf("key 0 = %+v, want disabled with reason", k0)
	}
	// A later 429 on a disabled key does not downgrade it to cooling.
	a.Report(gateway.HealthReport{ChannelID: ch, KeyIndex: 0, Outcome: gateway.OutcomeRateLimited, RetryAfter: time.Millisecond})
	if a.Available(ch, 0, time.Now().Add(time.Second)) {
		t.Fatal("429 re-enabled a disabled key")
	}
	st, _ = channelState(a, ch)
	if st.Keys[0].State != gateway.KeyStateDisabled || st.Keys[0].Reason != "401 invalid api key" {
		t.Fatalf("key 0 after a 429 = %+v, want still disabled with the 401 reason", st.Keys[0])
	}

	// EnableKey brings key 0 back on every node and leaves key 1's state and
	// the breaker's failure count alone.
	a.Report(gateway.HealthReport{ChannelID: ch, KeyIndex: 1, Outcome: gateway.OutcomeRateLimited, RetryAfter: time.Minute, Reason: "429"})
	a.Report(gateway.HealthReport{ChannelID: ch, KeyIndex: 1, Outcome: gateway.OutcomeFailure, Reason: "500"})
	if err := b.EnableKey(context.Background(), ch, 0); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "A sees key 0 enabled", func() bool { return a.Available(ch, 0, time.Now()) })
	st, _ = channelState(a, ch)
	if st.Failures != 1 || len(st.Keys) != 1 || st.Keys[0].Index != 1 || st.Keys[0].State != gateway.KeyStateCooling {
		t.Fatalf("after EnableKey(0): %+v, want 1 failure and only key 1 cooling", st)
	}
	if a.Available(ch, 1, time.Now()) {
		t.Fatal("EnableKey(0) also ended key 1's cooldown")
	}
	// Enabling a key with no state is harmless.
	if err := b.EnableKey(context.Background(), ch, 5); err != nil {
		t.Fatal(err)
	}

	// Reset brings everything back on every node.
	if err := a.Reset(context.Background(), ch); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "B sees the reset", func() bool { return b.Available(ch, 0, time.Now()) })
}

func TestHealthResyncRepairsMissedMessages(t *testing.T) {
	nodes := openNodes(t, 2)
	a := newHealths(t, HealthOptions{}, nodes[0])[0]
	const ch = 21
	for range 3 {
		fail(a, ch, "boom")
	}
	// A node starting later loads the state at once.
	b := newHealths(t, HealthOptions{Resync: 50 * time.Millisecond}, nodes[1])[0]
	if b.Available(ch, 0, time.Now()) {
		t.Fatal("new node does not see the existing open breaker")
	}
	// A change whose message never reaches b (published to a channel nobody
	// listens on) arrives by the periodic resync.
	id := "22"
	err := reportScript.Run(context.Background(), nodes[0].rdb,
		[]string{a.chanKeyBase() + id, a.indexKey(), a.versionKey(), a.probeKey(22)},
		time.Now().UnixMilli(), "a", 0, 0, "403", 3, 30000, 600000, 3600000, 3600000, a.c.prefix+"nowhere", id, "0", 3, 600000).Err()
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "resync brings the missed change", func() bool { return !b.Available(22, 0, time.Now()) })
	// And a reset whose message is missed is repaired too.
	if err := nodes[0].rdb.Del(context.Background(), a.chanKeyBase()+id).Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Second, "resync drops a deleted state", func() bool { return b.Available(22, 0, time.Now()) })
}

func TestHealthHotPathsStayLocal(t *testing.T) {
	nodes := openNodes(t, 1)
	h := newHealths(t, HealthOptions{Resync: time.Minute}, nodes[0])[0]
	fail(h, 1, "x") // one channel with some state in the cache
	cc := countCommands(nodes[0])
	now := time.Now()
	for i := range 1000 {
		h.Available(int64(i%10), i%3, now)
		h.Report(gateway.HealthReport{ChannelID: int64(10 + i%10), Outcome: gateway.OutcomeSuccess})
	}
	if n := cc.n.Load(); n != 0 {
		t.Fatalf("Available and successes on healthy channels sent %d commands, want 0", n)
	}
	h.Report(gateway.HealthReport{ChannelID: 1, Outcome: gateway.OutcomeSuccess})
	if n := cc.n.Load(); n != 1 {
		t.Fatalf("success after a failure sent %d commands, want 1", n)
	}
}

func TestDecodeState(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		wantErr bool
		check   func(*testing.T, int64, *chanState)
	}{
		{name: "tombstone", in: `["7","v","12"]`, check: func(t *testing.T, id int64, st *chanState) {
			if id != 7 || st.ver != 12 || st.openUntil != 0 || st.keys != nil {
				t.Fatalf("got %d %+v", id, st)
			}
		}},
		{name: "full", in: `["9","v","3","f","4","o","1700000000000","n","2","e","bad | gateway","k0","d|1700000001000|401 a|b","k2","c|5|429"]`,
			check: func(t *testing.T, id int64, st *chanState) {
				if id != 9 || st.fails != 4 || st.openUntil != 1700000000000 || st.opens != 2 || st.lastErr != "bad | gateway" {
					t.Fatalf("got %d %+v", id, st)
				}
				if k := st.keys[0]; !k.disabled || k.until != 1700000001000 || k.reason != "401 a|b" {
					t.Fatalf("key 0 = %+v", k)
				}
				if k := st.keys[2]; k.disabled || k.until != 5 || k.reason != "429" {
					t.Fatalf("key 2 = %+v", k)
				}
			}},
		{name: "callers", in: `["5","v","1","f","2","c","7,9","a3","1700|7,8"]`, check: func(t *testing.T, id int64, st *chanState) {
			if len(st.streak) != 2 || st.streak[1] != 9 || st.suspects[3].since != 1700 || len(st.suspects[3].callers) != 2 {
				t.Fatalf("got %+v", st)
			}
		}},
		{name: "bad caller", in: `["1","c","7,x"]`, wantErr: true},
		{name: "bad suspicion", in: `["1","a0","nobar"]`, wantErr: true},
		{name: "unknown field ignored", in: `["1","zz","x"]`},
		{name: "not json", in: `nope`, wantErr: true},
		{name: "empty", in: `[]`, wantErr: true},
		{name: "odd pairs", in: `["1","v"]`, wantErr: true},
		{name: "bad id", in: `["x","v","1"]`, wantErr: true},
		{name: "bad version", in: `["1","v","one"]`, wantErr: true},
		{name: "bad key state", in: `["1","k0","x|1|r"]`, wantErr: true},
		{name: "bad key index", in: `["1","kx","c|1|r"]`, wantErr: true},
		{name: "key without deadline", in: `["1","k0","c"]`, wantErr: true},
		{name: "numbers not strings", in: `[1,"v",2]`, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, st, err := decodeState(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if tc.check != nil {
				tc.check(t, id, st)
			}
		})
	}
}

func FuzzDecodeState(f *testing.F) {
	f.Add(`["7","v","12"]`)
	f.Add(`["9","v","3","f","4","o","1700000000000","n","2","e","x","k0","d|1|401","k2","c|5|429"]`)
	f.Add(`["1","k-1","c|9|"]`)
	f.Fuzz(func(t *testing.T, in string) {
		id, st, err := decodeState(in)
		if err != nil {
			return
		}
		if st == nil {
			t.Fatalf("nil state without error for %q (id %d)", in, id)
		}
		// Whatever decodes must be usable by the cache.
		h := &Health{channels: map[int64]*chanState{}}
		h.installLocked(id, st)
		h.Snapshot()
	})
}

// BenchmarkAvailable measures the cached hot path: no Redis, no allocation.
func BenchmarkAvailable(b *testing.B) {
	h := &Health{channels: map[int64]*chanState{}}
	now := time.Now()
	for i := range int64(50) {
		st := &chanState{ver: i + 1, fails: 1}
		if i%5 == 0 {
			st.openUntil = now.Add(time.Minute).UnixMilli()
		}
		if i%7 == 0 {
			st.keys = map[int]keyState{1: {until: now.Add(time.Minute).UnixMilli()}}
		}
		h.channels[i] = st
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			h.Available(int64(i%100), i%3, now)
			i++
		}
	})
}

// stateView is what of a chanState matters at an instant: expired key
// states are gone and healthy states are all alike.
type stateView struct {
	Fails     int
	OpenUntil int64
	Opens     int
	LastErr   string
	Keys      map[int]keyState
	Streak    []int64
	Suspects  map[int]suspect
}

func view(st *chanState, now int64) stateView {
	if st == nil {
		return stateView{}
	}
	var keys map[int]keyState
	for idx, k := range st.keys {
		if k.until > now {
			if keys == nil {
				keys = map[int]keyState{}
			}
			keys[idx] = k
		}
	}
	var suspects map[int]suspect
	for idx, sus := range st.suspects {
		if suspects == nil {
			suspects = map[int]suspect{}
		}
		suspects[idx] = sus
	}
	if st.fails == 0 && st.openUntil == 0 && len(keys) == 0 && len(suspects) == 0 {
		return stateView{}
	}
	var streak []int64
	if len(st.streak) > 0 {
		streak = st.streak
	}
	return stateView{Fails: st.fails, OpenUntil: st.openUntil, Opens: st.opens, LastErr: st.lastErr, Keys: keys, Streak: streak, Suspects: suspects}
}

// TestHealthLocalFallbackMatchesScript drives the Redis script and the
// local fallback through the same outcomes at the same instants and checks
// they agree at every step, so a Redis outage changes where the breaker
// lives, not how it behaves.
func TestHealthLocalFallbackMatchesScript(t *testing.T) {
	nodes := openNodes(t, 1)
	opts := HealthOptions{Resync: time.Minute, Cooldown: 30 * time.Second, MaxCooldown: 5 * time.Minute}
	shared := newHealths(t, opts, nodes[0])[0]
	opts.defaults()
	local := &Health{opts: opts, channels: map[int64]*chanState{}}
	const ch = 77
	fl := func(reason string) gateway.HealthReport {
		return gateway.HealthReport{ChannelID: ch, Outcome: gateway.OutcomeFailure, Reason: reason}
	}
	rl := func(key int, retry time.Duration, reason string) gateway.HealthReport {
		return gateway.HealthReport{ChannelID: ch, KeyIndex: key, Outcome: gateway.OutcomeRateLimited, RetryAfter: retry, Reason: reason}
	}
	byCaller := func(r gateway.HealthReport, caller int64) gateway.HealthReport { r.Caller = caller; return r }
	au := func(key int, caller int64) gateway.HealthReport {
		return gateway.HealthReport{ChannelID: ch, KeyIndex: key, Outcome: gateway.OutcomeAuthFailure, Reason: "403", Caller: caller}
	}
	steps := []struct {
		after time.Duration
		r     gateway.HealthReport
	}{
		{0, fl("a")},
		{time.Second, fl("b")},
		{time.Second, rl(1, 5*time.Second, "429 slow down")},
		{time.Second, fl("c")},       // third failure: open for 30 s
		{time.Second, fl("d")},       // while open: counted only
		{31 * time.Second, fl("e")},  // failed probe: 60 s
		{61 * time.Second, fl("f")},  // 120 s
		{121 * time.Second, fl("g")}, // 240 s
		{241 * time.Second, fl("h")}, // capped at 300 s
		{301 * time.Second, fl("i")}, // still 300 s
		{time.Second, gateway.HealthReport{ChannelID: ch, KeyIndex: 0, Outcome: gateway.OutcomeAuthFailure, Reason: "401 bad key"}},
		{time.Second, rl(0, time.Second, "")}, // stays disabled, keeps its reason
		{time.Second, rl(2, 0, "429")},        // default cooldown
		{time.Second, gateway.HealthReport{ChannelID: ch, Outcome: gateway.OutcomeSuccess}},
		{time.Second, fl("j")},
		{time.Second, gateway.HealthReport{ChannelID: ch, Outcome: gateway.OutcomeSuccess}},
		{2 * time.Hour, rl(3, time.Second, "late 429")}, // every earlier deadline has passed
		{2 * time.Second, gateway.HealthReport{ChannelID: ch, Outcome: gateway.OutcomeSuccess}},
		// Failures by callers: each counts once per streak.
		{time.Second, byCaller(fl("p1"), 7)},
		{time.Second, byCaller(fl("p2"), 7)},
		{time.Second, byCaller(fl("p3"), 8)},
		{time.Second, fl("dial")},                 // a channel-level failure counts
		{time.Second, byCaller(fl("p4"), 9)},      // third counted: open (threshold 3 was reached)
		{31 * time.Second, byCaller(fl("p5"), 7)}, // failed probe by a known caller still re-opens
		{time.Second, gateway.HealthReport{ChannelID: ch, Outcome: gateway.OutcomeSuccess}},
		// Auth failures by callers make a key suspect; distinct ones disable it.
		{time.Second, au(4, 7)},
		{time.Second, au(4, 7)},
		{time.Second, au(4, 8)},
		{time.Second, gateway.HealthReport{ChannelID: ch, KeyIndex: 4, Outcome: gateway.OutcomeSuccess}}, // clears it
		{time.Second, au(4, 1)},
		{time.Second, au(4, 2)},
		{time.Second, au(4, 3)}, // disabled
		{time.Second, gateway.HealthReport{ChannelID: ch, KeyIndex: 4, Outcome: gateway.OutcomeKeyVerified}},
		{time.Second, au(5, 1)},
		{11 * time.Minute, au(5, 2)}, // the first suspicion expired
		{time.Second, au(6, 0)},      // confirmed by the gateway: disabled at once
		{time.Second, rl(6, time.Second, "429")},
		{time.Second, gateway.HealthReport{ChannelID: ch, KeyIndex: 6, Outcome: gateway.OutcomeKeyVerified}},
	}
	now := time.Now().UnixMilli()
	for i, s := range steps {
		now += s.after.Milliseconds()
		shared.report(s.r, now)
		r := s.r
		if r.RetryAfter <= 0 {
			r.RetryAfter = opts.RateLimitCooldown
		}
		local.applyLocal(r, now)
		shared.mu.RLock()
		got := view(shared.channels[ch], now)
		shared.mu.RUnlock()
		want := view(local.channels[ch], now)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("step %d (%v %q): script state %+v, local fallback %+v", i, s.r.Outcome, s.r.Reason, got, want)
		}
	}
}

func TestHealthWithoutRedisBreaksLocally(t *testing.T) {
	c := &Client{rdb: redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialerRetries: 1}), prefix: "x:", closers: map[int]func(){}}
	defer c.Close()
	opts := HealthOptions{Logger: slog.New(slog.DiscardHandler)}
	opts.defaults()
	h := &Health{c: c, opts: opts, channels: map[int64]*chanState{}}
	for range 3 {
		fail(h, 4, "dial error")
	}
	if h.Available(4, 0, time.Now()) {
		t.Fatal("breaker did not open locally while Redis is down")
	}
	// Half-open without Redis: one local probe.
	later := time.Now().Add(31 * time.Second)
	if !h.Available(4, 0, later) || h.Available(4, 0, later) {
		t.Fatal("want exactly one local probe when the probe slot cannot be claimed in Redis")
	}
}
