package inmem

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/internal/gateway"
)

// healthStep is one action in a breaker scenario: advance the clock, then
// report an outcome or check availability.
type healthStep struct {
	advance time.Duration
	report  *gateway.HealthReport
	key     int
	want    tri    // when set, the expected Available(1, key) after the report
	state   string // when set, the Snapshot state of channel 1 after that
}

type tri int8

const (
	yes tri = 1
	no  tri = -1
)

func fail() *gateway.HealthReport {
	return &gateway.HealthReport{ChannelID: 1, Outcome: gateway.OutcomeFailure, Reason: "502 from upstream"}
}
func ok() *gateway.HealthReport {
	return &gateway.HealthReport{ChannelID: 1, Outcome: gateway.OutcomeSuccess}
}

func TestBreakerTransitions(t *testing.T) {
	cfg := HealthConfig{FailureThreshold: 3, Cooldown: 30 * time.Second, MaxCooldown: 2 * time.Minute}
	tests := []struct {
		name  string
		steps []healthStep
	}{
		{
			name: "failures below the threshold and a success in between keep it closed",
			steps: []healthStep{
				{report: fail()}, {report: fail()}, {want: yes, state: "closed"},
				{report: ok()}, {report: fail()}, {report: fail()}, {want: yes, state: "closed"},
			},
		},
		{
			name: "open, half-open with one probe, probe success closes",
			steps: []healthStep{
				{report: fail()}, {report: fail()}, {report: fail()},
				{want: no, state: "open"}, {key: 1, want: no},
				{advance: 29 * time.Second, want: no},
				{advance: time.Second, state: "half-open"},
				{want: yes},               // the probe
				{want: no, key: 0},        // probe slot taken
				{want: no, key: 1},        // for every key
				{report: ok(), want: yes}, // closed again
				{want: yes, state: "closed"},
			},
		},
		{
			name: "probe failure reopens with a doubling cooldown, capped",
			steps: []healthStep{
				{report: fail()}, {report: fail()}, {report: fail()},
				{advance: 30 * time.Second, want: yes}, {report: fail(), want: no, state: "open"},
				{advance: 59 * time.Second, want: no},
				{advance: time.Second, want: yes}, {report: fail(), want: no},
				{advance: 119 * time.Second, want: no},
				{advance: time.Second, want: yes}, {report: fail(), want: no},
				{advance: 119 * time.Second, want: no}, // capped at MaxCooldown = 2m
				{advance: time.Second, want: yes}, {report: ok()},
				// After closing, the backoff starts over.
				{report: fail()}, {report: fail()}, {report: fail(), want: no},
				{advance: 30 * time.Second, want: yes},
			},
		},
		{
			name: "stragglers failing while open do not extend it",
			steps: []healthStep{
				{report: fail()}, {report: fail()}, {report: fail()},
				{advance: 20 * time.Second, report: fail()}, {report: fail()},
				{advance: 10 * time.Second, want: yes},
			},
		},
		{
			name: "a probe that never reports frees its slot after the probe timeout",
			steps: []healthStep{
				{report: fail()}, {report: fail()}, {report: fail()},
				{advance: 30 * time.Second, want: yes},
				{advance: 59 * time.Second, want: no},
				{advance: time.Second, want: yes},
				{want: no},
			},
		},
		{
			name: "a 429 on the probe lets another request probe",
			steps: []healthStep{
				{report: fail()}, {report: fail()}, {report: fail()},
				{advance: 30 * time.Second, want: yes},
				{report: &gateway.HealthReport{ChannelID: 1, KeyIndex: 0, Outcome: gateway.OutcomeRateLimited}},
				{key: 0, want: no},  // the key cools
				{key: 1, want: yes}, // the next probe
				{key: 2, want: no},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			c := cfg
			c.Now = clk.Now
			h := NewHealth(c)
			for i, s := range tt.steps {
				clk.Advance(s.advance)
				if s.report != nil {
					h.Report(*s.report)
				}
				if s.want != 0 {
					if got := h.Available(1, s.key, clk.Now()); got != (s.want == yes) {
						t.Fatalf("step %d: Available(1, %d) = %v, want %v", i, s.key, got, !got)
					}
				}
				if s.state != "" {
					snap := h.Snapshot()
					if len(snap) != 1 || snap[0].State != s.state {
						t.Fatalf("step %d: snapshot %+v, want state %s", i, snap, s.state)
					}
				}
			}
		})
	}
}

func TestBreakerSnapshot(t *testing.T) {
	clk := newClock()
	h := NewHealth(HealthConfig{Now: clk.Now})
	for range 3 {
		h.Report(gateway.HealthReport{ChannelID: 7, Outcome: gateway.OutcomeFailure, Reason: "timeout"})
	}
	h.Report(gateway.HealthReport{ChannelID: 3, KeyIndex: 1, Outcome: gateway.OutcomeRateLimited, RetryAfter: 10 * time.Second})
	snap := h.Snapshot()
	if len(snap) != 2 || snap[0].ChannelID != 3 || snap[1].ChannelID != 7 {
		t.Fatalf("snapshot not in ID order: %+v", snap)
	}
	open := snap[1]
	if open.State != "open" || open.Failures != 3 || open.LastError != "timeout" || !open.OpenUntil.Equal(clk.Now().Add(30*time.Second)) {
		t.Errorf("channel 7: %+v", open)
	}
	keys := snap[0].Keys
	if snap[0].State != "closed" || len(keys) != 2 || keys[0].State != "ok" || keys[1].State != "cooling" ||
		!keys[1].Until.Equal(clk.Now().Add(10*time.Second)) {
		t.Errorf("channel 3: %+v", snap[0])
	}
}

func TestKeyRateLimitCooldown(t *testing.T) {
	clk := newClock()
	h := NewHealth(HealthConfig{Now: clk.Now})
	h.Report(gateway.HealthReport{ChannelID: 1, KeyIndex: 1, Outcome: gateway.OutcomeRateLimited, RetryAfter: 10 * time.Second})
	h.Report(gateway.HealthReport{ChannelID: 1, KeyIndex: 2, Outcome: gateway.OutcomeRateLimited}) // default 5s
	check := func(want0, want1, want2 bool) {
		t.Helper()
		now := clk.Now()
		if got := [3]bool{h.Available(1, 0, now), h.Available(1, 1, now), h.Available(1, 2, now)}; got != [3]bool{want0, want1, want2} {
			t.Fatalf("at +%v: availability %v, want %v", now.Sub(time.Unix(1_700_000_000, 0)), got, [3]bool{want0, want1, want2})
		}
	}
	check(true, false, false)
	clk.Advance(5 * time.Second)
	check(true, false, true)
	clk.Advance(5 * time.Second)
	check(true, true, true)
	// Many 429s never open the breaker.
	for range 10 {
		h.Report(gateway.HealthReport{ChannelID: 1, KeyIndex: 0, Outcome: gateway.OutcomeRateLimited, RetryAfter: time.Second})
	}
	if s := h.Snapshot()[0]; s.State != "closed" || s.Failures != 0 {
		t.Fatalf("429s changed the breaker: %+v", s)
	}
	// A shorter Retry-After does not shorten a longer cooldown.
	h.Report(gateway.HealthReport{ChannelID: 1, KeyIndex: 1, Outcome: gateway.OutcomeRateLimited, RetryAfter: time.Minute})
	h.Report(gateway.HealthReport{ChannelID: 1, KeyIndex: 1, Outcome: gateway.OutcomeRateLimited, RetryAfter: time.Second})
	clk.Advance(30 * time.Second)
	check(true, false, true)
}

func TestKeyAuthFailureDisables(t *testing.T) {
	clk := newClock()
	h := NewHealth(HealthConfig{Now: clk.Now})
	h.Report(gateway.HealthReport{ChannelID: 1, KeyIndex: 0, Outcome: gateway.OutcomeAuthFailure, Reason: "401 invalid api key"})
	clk.Advance(50 * time.Minute)
	if h.Available(1, 0, clk.Now()) || !h.Available(1, 1, clk.Now()) {
		t.Fatal("auth failure must disable key 0 only, for DisableFor")
	}
	k := h.Snapshot()[0].Keys[0]
	if k.State != "disabled" || k.Reason != "401 invalid api key" {
		t.Fatalf("key 0: %+v", k)
	}

	// With every key disabled the channel is unavailable for every key.
	h.Report(gateway.HealthReport{ChannelID: 1, KeyIndex: 1, Outcome: gateway.OutcomeAuthFailure})
	if h.Available(1, 0, clk.Now()) || h.Available(1, 1, clk.Now()) {
		t.Fatal("channel with all keys disabled is available")
	}
	if r := h.Snapshot()[0].Keys[1].Reason; r == "" {
		t.Error("a disabled key must have a reason")
	}

	if !h.EnableKey(1, 0) || !h.Available(1, 0, clk.Now()) {
		t.Fatal("EnableKey did not restore key 0")
	}
	// A disabled key comes back by itself after DisableFor.
	clk.Advance(61 * time.Minute)
	if !h.Available(1, 1, clk.Now()) || h.Snapshot()[0].Keys[1].State != gateway.KeyStateOK {
		t.Fatal("key 1 still disabled after DisableFor")
	}
	if h.EnableKey(1, 5) || h.EnableKey(2, 0) {
		t.Error("EnableKey of an unknown key reported true")
	}
	h.Reset(1)
	if !h.Available(1, 1, clk.Now()) || len(h.Snapshot()) != 0 {
		t.Fatal("Reset did not forget the channel")
	}
	h.Reset(99) // unknown: no-op
}

func TestHealthIgnoresBogusKeyIndex(t *testing.T) {
	h := NewHealth(HealthConfig{})
	h.Report(gateway.HealthReport{ChannelID: 1, KeyIndex: -1, Outcome: gateway.OutcomeAuthFailure})
	h.Report(gateway.HealthReport{ChannelID: 1, KeyIndex: 1 << 30, Outcome: gateway.OutcomeAuthFailure})
	if !h.Available(1, -1, time.Now()) || !h.Available(1, 0, time.Now()) || len(h.Snapshot()[0].Keys) != 0 {
		t.Fatal("bogus key indexes changed state")
	}
}

func TestAvailableDoesNotAllocate(t *testing.T) {
	h := NewHealth(HealthConfig{})
	h.Report(gateway.HealthReport{ChannelID: 1, KeyIndex: 2, Outcome: gateway.OutcomeRateLimited})
	now := time.Now()
	if n := testing.AllocsPerRun(1000, func() {
		h.Available(1, 0, now)
		h.Available(1, 2, now)
		h.Available(2, 0, now)
	}); n != 0 {
		t.Fatalf("Available allocates %v times", n)
	}
}

func TestHalfOpenSingleProbeUnderContention(t *testing.T) {
	clk := newClock()
	h := NewHealth(HealthConfig{Now: clk.Now})
	for range 3 {
		h.Report(gateway.HealthReport{ChannelID: 1, Outcome: gateway.OutcomeFailure})
	}
	clk.Advance(time.Minute)
	now := clk.Now()
	var probes atomic.Int64
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				if h.Available(1, g%3, now) {
					probes.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if probes.Load() != 1 {
		t.Fatalf("%d probes admitted, want exactly 1", probes.Load())
	}
}

func TestHealthRace(t *testing.T) {
	h := NewHealth(HealthConfig{Cooldown: time.Millisecond, MaxCooldown: 4 * time.Millisecond})
	outcomes := []gateway.Outcome{gateway.OutcomeSuccess, gateway.OutcomeFailure, gateway.OutcomeFailure,
		gateway.OutcomeFailure, gateway.OutcomeRateLimited, gateway.OutcomeAuthFailure}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				ch := int64(i % 4)
				switch g % 4 {
				case 0, 1:
					h.Available(ch, i%3, time.Now())
				case 2:
					h.Report(gateway.HealthReport{ChannelID: ch, KeyIndex: i % 3, Outcome: outcomes[i%len(outcomes)], RetryAfter: time.Millisecond})
				case 3:
					if i%50 == 0 {
						h.Reset(ch)
						h.EnableKey(ch, 0)
					}
					h.Snapshot()
				}
			}
		}()
	}
	wg.Wait()
}

func BenchmarkAvailable(b *testing.B) {
	h := NewHealth(HealthConfig{})
	for id := range int64(20) {
		h.Report(gateway.HealthReport{ChannelID: id, Outcome: gateway.OutcomeSuccess})
	}
	h.Report(gateway.HealthReport{ChannelID: 5, KeyIndex: 1, Outcome: gateway.OutcomeRateLimited})
	now := time.Now()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h.Available(5, 0, now)
		}
	})
}
