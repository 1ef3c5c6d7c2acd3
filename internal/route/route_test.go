package route_test

import (
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"switchboard/internal/gateway"
	"switchboard/internal/inmem"
	"switchboard/internal/route"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeHealth marks (channel, key) pairs unavailable; key -1 means every key.
type fakeHealth struct {
	down map[[2]int64]bool
}

func (f *fakeHealth) Available(ch int64, key int, _ time.Time) bool {
	return !f.down[[2]int64{ch, -1}] && !f.down[[2]int64{ch, int64(key)}]
}
func (f *fakeHealth) Report(gateway.HealthReport)       {}
func (f *fakeHealth) Snapshot() []gateway.ChannelHealth { return nil }

func down(pairs ...[2]int64) *fakeHealth {
	f := &fakeHealth{down: map[[2]int64]bool{}}
	for _, p := range pairs {
		f.down[p] = true
	}
	return f
}

func ch(id int64, prio, weight int, models ...string) gateway.Channel {
	return gateway.Channel{
		ID: id, Name: fmt.Sprintf("ch%d", id), Type: gateway.ChannelOpenAI, Enabled: true,
		APIKeys: []string{fmt.Sprintf("k%d", id)}, Models: models, Priority: prio, Weight: weight,
	}
}

// drain returns the channel IDs a plan yields, in order.
func drain(r *route.Router, model string) []int64 {
	return drainAt(r, model, time.Now())
}

func drainAt(r *route.Router, model string, now time.Time) []int64 {
	p := r.Plan(model, now)
	var ids []int64
	for c, ok := p.Next(now); ok; c, ok = p.Next(now) {
		ids = append(ids, c.Channel.ID)
	}
	return ids
}

func TestPlanOrder(t *testing.T) {
	tests := []struct {
		name   string
		chs    []gateway.Channel
		health gateway.Health
		model  string
		// tiers: the plan must yield each group, in group order, each
		// group's members in any order.
		tiers [][]int64
	}{
		{
			name:  "priority tiers, highest first",
			chs:   []gateway.Channel{ch(1, 0, 1, "m"), ch(2, 10, 1, "m"), ch(3, 5, 1, "m"), ch(4, 10, 1, "m")},
			model: "m",
			tiers: [][]int64{{2, 4}, {3}, {1}},
		},
		{
			name:  "weight 0 only after the weighted channels of its tier",
			chs:   []gateway.Channel{ch(1, 1, 0, "m"), ch(2, 1, 5, "m"), ch(3, 1, 1, "m"), ch(4, 0, 1, "m")},
			model: "m",
			tiers: [][]int64{{2, 3}, {1}, {4}},
		},
		{
			name:   "weight 0 stands in when the weighted channels are down",
			chs:    []gateway.Channel{ch(1, 1, 0, "m"), ch(2, 1, 5, "m"), ch(3, 0, 1, "m")},
			health: down([2]int64{2, -1}),
			model:  "m",
			tiers:  [][]int64{{1}, {3}},
		},
		{
			name:  "negative weight counts as 0",
			chs:   []gateway.Channel{ch(1, 1, -3, "m"), ch(2, 1, 1, "m")},
			model: "m",
			tiers: [][]int64{{2}, {1}},
		},
		{
			name:  "all weights 0: configuration order",
			chs:   []gateway.Channel{ch(3, 1, 0, "m"), ch(1, 1, 0, "m"), ch(2, 1, 0, "m")},
			model: "m",
			tiers: [][]int64{{3}, {1}, {2}},
		},
		{
			name:   "unavailable channels are skipped across tiers",
			chs:    []gateway.Channel{ch(1, 10, 1, "m"), ch(2, 10, 1, "m"), ch(3, 5, 1, "m"), ch(4, 0, 1, "m")},
			health: down([2]int64{1, -1}, [2]int64{3, -1}),
			model:  "m",
			tiers:  [][]int64{{2}, {4}},
		},
		{
			name:   "every channel unavailable: empty plan",
			chs:    []gateway.Channel{ch(1, 10, 1, "m"), ch(2, 0, 1, "m")},
			health: down([2]int64{1, -1}, [2]int64{2, -1}),
			model:  "m",
		},
		{
			name: "disabled channels are not routed",
			chs: func() []gateway.Channel {
				c := ch(1, 10, 1, "m")
				c.Enabled = false
				return []gateway.Channel{c, ch(2, 0, 1, "m")}
			}(),
			model: "m",
			tiers: [][]int64{{2}},
		},
		{
			name:  "a channel matching exactly and by glob comes once",
			chs:   []gateway.Channel{ch(1, 0, 1, "m", "m*", "*"), ch(2, 0, 1, "m")},
			model: "m",
			tiers: [][]int64{{1, 2}},
		},
		{
			name:  "duplicate channel IDs keep the first",
			chs:   []gateway.Channel{ch(1, 0, 1, "m"), ch(1, 9, 1, "m"), ch(2, 5, 1, "m")},
			model: "m",
			tiers: [][]int64{{2}, {1}},
		},
		{
			name:  "unknown model",
			chs:   []gateway.Channel{ch(1, 0, 1, "m")},
			model: "n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := route.New(tt.health)
			r.SetChannels(tt.chs)
			for seed := range uint64(50) {
				r.SetSeed(seed)
				got := drain(r, tt.model)
				rest := got
				for _, tier := range tt.tiers {
					if len(rest) < len(tier) {
						t.Fatalf("seed %d: plan %v, want tiers %v", seed, got, tt.tiers)
					}
					head := slices.Clone(rest[:len(tier)])
					slices.Sort(head)
					sorted := slices.Clone(tier)
					slices.Sort(sorted)
					if !slices.Equal(head, sorted) {
						t.Fatalf("seed %d: plan %v, want tiers %v", seed, got, tt.tiers)
					}
					rest = rest[len(tier):]
				}
				if len(rest) != 0 {
					t.Fatalf("seed %d: plan %v has extra candidates, want tiers %v", seed, got, tt.tiers)
				}
			}
		})
	}
}

func TestPlanWeights(t *testing.T) {
	r := route.New(nil)
	r.SetChannels([]gateway.Channel{ch(1, 0, 3, "m"), ch(2, 0, 1, "m"), ch(3, -1, 100, "m")})
	r.SetSeed(42)
	const plans = 10000
	first := map[int64]int{}
	for range plans {
		ids := drain(r, "m")
		if len(ids) != 3 || ids[2] != 3 {
			t.Fatalf("plan %v: the lower tier must come last", ids)
		}
		first[ids[0]]++
	}
	share := float64(first[1]) / plans
	t.Logf("channel 1 first in %.4f of plans", share)
	if math.Abs(share-0.75) > 0.05 {
		t.Fatalf("weight 3:1 gave channel 1 a share of %.3f (%v), want 0.75±0.05", share, first)
	}
}

func TestPlanNeverRepeatsAChannel(t *testing.T) {
	var chs []gateway.Channel
	for id := range int64(150) { // more than 64: exercises the large exclusion set
		chs = append(chs, ch(id, int(id%3), int(id%4), "m", "*"))
	}
	r := route.New(nil)
	r.SetChannels(chs)
	for seed := range uint64(20) {
		r.SetSeed(seed)
		ids := drain(r, "m")
		seen := map[int64]bool{}
		for _, id := range ids {
			if seen[id] {
				t.Fatalf("seed %d: channel %d yielded twice", seed, id)
			}
			seen[id] = true
		}
		if len(ids) != len(chs) {
			t.Fatalf("seed %d: %d candidates, want %d", seed, len(ids), len(chs))
		}
	}
}

func TestGlobModels(t *testing.T) {
	r := route.New(nil)
	r.SetChannels([]gateway.Channel{
		ch(1, 0, 1, "gpt-4o", "text-embedding-3-small"),
		ch(2, 0, 1, "gpt-4o*"),
		ch(3, 0, 1, "claude-*", "claude-sonnet-4"),
		ch(4, -1, 1, "*"),
		ch(5, 0, 1, "meta-llama/*"),
	})
	tests := []struct {
		model string
		want  []int64
	}{
		{"gpt-4o", []int64{1, 2, 4}},
		{"gpt-4o-mini", []int64{2, 4}},
		{"claude-sonnet-4", []int64{3, 4}},
		{"claude-opus-4", []int64{3, 4}},
		{"meta-llama/Llama-3.1-8B", []int64{4, 5}},
		{"text-embedding-3-small", []int64{1, 4}},
		{"anything", []int64{4}},
		{"", []int64{4}},
	}
	for _, tt := range tests {
		for range 2 { // the second time from the glob cache
			got := drain(r, tt.model)
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("%q: channels %v, want %v", tt.model, got, tt.want)
			}
			if !r.HasModel(tt.model) {
				t.Errorf("HasModel(%q) = false", tt.model)
			}
		}
	}
	want := []string{"claude-sonnet-4", "gpt-4o", "text-embedding-3-small"}
	if got := r.Models(); !slices.Equal(got, want) {
		t.Errorf("Models() = %v, want %v", got, want)
	}

	r.SetChannels([]gateway.Channel{ch(2, 0, 1, "gpt-4o*")})
	if r.HasModel("claude-opus-4") || !r.HasModel("gpt-4o-2024-11-20") || r.HasModel("gpt-4") {
		t.Error("HasModel after SetChannels")
	}
	if got := r.Models(); len(got) != 0 {
		t.Errorf("Models() = %v, want none", got)
	}
	// Many distinct names through a glob stay correct past the cache bound.
	for i := range 3000 {
		if !r.HasModel(fmt.Sprintf("gpt-4o-%d", i)) || r.HasModel(fmt.Sprintf("x-%d", i)) {
			t.Fatalf("glob resolution wrong at %d", i)
		}
	}
}

func TestDisabledChannelStillFoundByID(t *testing.T) {
	c := ch(7, 0, 1, "m")
	c.Enabled = false
	r := route.New(nil)
	r.SetChannels([]gateway.Channel{c})
	if r.HasModel("m") || len(r.Models()) != 0 {
		t.Error("disabled channel's models are served")
	}
	got, ok := r.Channel(7)
	if !ok || got.Name != "ch7" {
		t.Errorf("Channel(7) = %v, %v", got, ok)
	}
	if _, ok := r.Channel(8); ok {
		t.Error("Channel(8) found")
	}
}

func TestKeyRotation(t *testing.T) {
	c := ch(1, 0, 1, "m")
	c.APIKeys = []string{"a", "b", "c"}
	tests := []struct {
		name   string
		health gateway.Health
		want   string // keys of 6 successive plans
	}{
		{"round robin", nil, "abcabc"},
		{"skips an unavailable key fairly", down([2]int64{1, 1}), "acacac"},
		{"one key left", down([2]int64{1, 0}, [2]int64{1, 2}), "bbbbbb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := route.New(tt.health)
			r.SetChannels([]gateway.Channel{c})
			var got string
			now := time.Now()
			for range 6 {
				p := r.Plan("m", now)
				cand, ok := p.Next(now)
				if !ok {
					t.Fatal("no candidate")
				}
				if cand.Channel.APIKeys[cand.KeyIndex] != cand.APIKey {
					t.Fatalf("KeyIndex %d does not match APIKey %q", cand.KeyIndex, cand.APIKey)
				}
				got += cand.APIKey
				if _, ok := p.Next(now); ok {
					t.Fatal("a one-channel plan yielded twice")
				}
			}
			if got != tt.want {
				t.Fatalf("keys %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCandidateFields(t *testing.T) {
	c := ch(1, 0, 1, "gpt-4o", "gpt-4o-mini")
	c.ModelMap = map[string]string{"gpt-4o": "gpt-4o-2024-11-20"}
	keyless := ch(2, -1, 1, "gpt-4o")
	keyless.APIKeys = nil
	in := []gateway.Channel{c, keyless}
	r := route.New(nil)
	r.SetChannels(in)
	// The router keeps its own copy.
	in[0].APIKeys[0] = "mutated"
	in[0].ModelMap["gpt-4o"] = "mutated"
	in[0].Priority = -100

	now := time.Now()
	p := r.Plan("gpt-4o", now)
	c1, _ := p.Next(now)
	c2, ok := p.Next(now)
	if !ok {
		t.Fatal("keyless channel not yielded")
	}
	if c1.Channel.ID != 1 || c1.APIKey != "k1" || c1.UpstreamModel != "gpt-4o-2024-11-20" {
		t.Errorf("first candidate %+v", c1)
	}
	if c2.Channel.ID != 2 || c2.APIKey != "" || c2.KeyIndex != 0 || c2.UpstreamModel != "gpt-4o" {
		t.Errorf("keyless candidate %+v", c2)
	}
	p = r.Plan("gpt-4o-mini", now)
	if c, _ := p.Next(now); c.UpstreamModel != "gpt-4o-mini" {
		t.Errorf("unmapped model sent as %q", c.UpstreamModel)
	}
	var zero route.Plan
	if _, ok := zero.Next(now); ok {
		t.Error("zero Plan yielded")
	}
}

// TestPlanWithBreakers runs the router against the real in-memory health.
func TestPlanWithBreakers(t *testing.T) {
	clk := time.Unix(1_700_000_000, 0)
	h := inmem.NewHealth(inmem.HealthConfig{Now: func() time.Time { return clk }})
	a := ch(1, 10, 1, "m")
	a.APIKeys = []string{"a0", "a1"}
	r := route.New(h)
	r.SetChannels([]gateway.Channel{a, ch(2, 0, 1, "m")})

	if got := drainAt(r, "m", clk); !slices.Equal(got, []int64{1, 2}) {
		t.Fatalf("healthy: %v", got)
	}
	// A 429 on one key leaves the channel in rotation with the other key.
	h.Report(gateway.HealthReport{ChannelID: 1, KeyIndex: 0, Outcome: gateway.OutcomeRateLimited, RetryAfter: time.Minute})
	for range 4 {
		p := r.Plan("m", clk)
		if c, _ := p.Next(clk); c.Channel.ID != 1 || c.APIKey != "a1" {
			t.Fatalf("cooling key: got %s/%s, want 1/a1", c.Channel.Name, c.APIKey)
		}
	}
	// 401 on the other key: no key left, the channel drops out.
	h.Report(gateway.HealthReport{ChannelID: 1, KeyIndex: 1, Outcome: gateway.OutcomeAuthFailure, Reason: "401"})
	if got := drainAt(r, "m", clk); !slices.Equal(got, []int64{2}) {
		t.Fatalf("all keys out: %v", got)
	}
	h.Reset(1)
	// Three failures open channel 1's breaker.
	for range 3 {
		h.Report(gateway.HealthReport{ChannelID: 1, Outcome: gateway.OutcomeFailure})
	}
	if got := drainAt(r, "m", clk); !slices.Equal(got, []int64{2}) {
		t.Fatalf("open breaker: %v", got)
	}
	// After the cooldown exactly one plan gets channel 1 as the probe.
	clk = clk.Add(30 * time.Second)
	if got := drainAt(r, "m", clk); !slices.Equal(got, []int64{1, 2}) {
		t.Fatalf("half-open probe: %v", got)
	}
	if got := drainAt(r, "m", clk); !slices.Equal(got, []int64{2}) {
		t.Fatalf("second plan during the probe: %v", got)
	}
	h.Report(gateway.HealthReport{ChannelID: 1, Outcome: gateway.OutcomeSuccess})
	if got := drainAt(r, "m", clk); !slices.Equal(got, []int64{1, 2}) {
		t.Fatalf("closed again: %v", got)
	}
}

func TestPlanDoesNotAllocate(t *testing.T) {
	h := inmem.NewHealth(inmem.HealthConfig{})
	h.Report(gateway.HealthReport{ChannelID: 2, Outcome: gateway.OutcomeSuccess})
	for _, health := range []gateway.Health{nil, h} {
		r := route.New(health)
		r.SetChannels([]gateway.Channel{ch(1, 1, 3, "m"), ch(2, 1, 1, "m"), ch(3, 0, 1, "*")})
		now := time.Now()
		if n := testing.AllocsPerRun(200, func() {
			p := r.Plan("m", now)
			for _, ok := p.Next(now); ok; _, ok = p.Next(now) {
			}
			p = r.Plan("m-glob", now) // cached after the first run
			p.Next(now)
		}); n != 0 {
			t.Errorf("health %T: plan allocates %v times", health, n)
		}
	}
}

func TestRouterRace(t *testing.T) {
	h := inmem.NewHealth(inmem.HealthConfig{})
	r := route.New(h)
	sets := [][]gateway.Channel{
		{ch(1, 1, 1, "m"), ch(2, 0, 1, "m", "x*")},
		{ch(2, 0, 1, "m"), ch(3, 5, 2, "*")},
	}
	r.SetChannels(sets[0])
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			r.SetChannels(sets[i%2])
			time.Sleep(100 * time.Microsecond)
		}
	}()
	var workers sync.WaitGroup
	for g := range 6 {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for i := range 2000 {
				now := time.Now()
				p := r.Plan("m", now)
				seen := map[int64]bool{}
				for c, ok := p.Next(now); ok; c, ok = p.Next(now) {
					if seen[c.Channel.ID] {
						t.Errorf("channel %d repeated", c.Channel.ID)
						return
					}
					seen[c.Channel.ID] = true
					if i%7 == g {
						h.Report(gateway.HealthReport{ChannelID: c.Channel.ID, Outcome: gateway.OutcomeFailure})
					} else {
						h.Report(gateway.HealthReport{ChannelID: c.Channel.ID, Outcome: gateway.OutcomeSuccess})
					}
				}
				r.HasModel(fmt.Sprintf("x%d", i%50))
				r.Models()
				r.Channel(2)
			}
		}()
	}
	workers.Wait()
	close(stop)
	wg.Wait()
}

func BenchmarkPlan(b *testing.B) {
	h := inmem.NewHealth(inmem.HealthConfig{})
	for id := range int64(4) {
		h.Report(gateway.HealthReport{ChannelID: id, Outcome: gateway.OutcomeSuccess})
	}
	r := route.New(h)
	three := ch(3, 0, 1, "gpt-4o", "*")
	three.APIKeys = []string{"a", "b", "c"}
	r.SetChannels([]gateway.Channel{ch(1, 10, 3, "gpt-4o"), ch(2, 10, 1, "gpt-4o"), three})
	for _, bc := range []struct {
		name  string
		model string
		all   bool
	}{
		{"first", "gpt-4o", false},
		{"exhaust", "gpt-4o", true},
		{"glob", "some-model", false},
	} {
		b.Run(bc.name, func(b *testing.B) {
			now := time.Now()
			b.ReportAllocs()
			for b.Loop() {
				p := r.Plan(bc.model, now)
				c, ok := p.Next(now)
				for ok && bc.all {
					c, ok = p.Next(now)
				}
				_ = c
			}
		})
	}
}

// A sticky plan orders channels and keys by its affinity alone: the same
// conversation gets the same channel and key every time, different
// conversations spread over the tier, and the order still fails over.
func TestPlanStick(t *testing.T) {
	r := route.New(nil)
	c1, c2, c3 := ch(1, 0, 1, "m"), ch(2, 0, 1, "m"), ch(3, 0, 1, "m")
	c1.APIKeys = []string{"a", "b", "c"}
	r.SetChannels([]gateway.Channel{c1, c2, c3})
	sticky := func(aff string) []route.Candidate {
		p := r.Plan("m", time.Now())
		p.Stick(aff)
		var out []route.Candidate
		for {
			c, ok := p.Next(time.Now())
			if !ok {
				return out
			}
			out = append(out, c)
		}
	}
	firsts := map[int64]bool{}
	for i := range 40 {
		aff := fmt.Sprintf("thread-%d", i)
		want := sticky(aff)
		if len(want) != 3 {
			t.Fatalf("%s: %d candidates", aff, len(want))
		}
		for range 5 {
			got := sticky(aff)
			for j := range got {
				if got[j].Channel.ID != want[j].Channel.ID || got[j].KeyIndex != want[j].KeyIndex {
					t.Fatalf("%s: plan %v then %v", aff, want, got)
				}
			}
		}
		firsts[want[0].Channel.ID] = true
	}
	if len(firsts) != 3 {
		t.Errorf("40 conversations all start on %v", firsts)
	}
}
