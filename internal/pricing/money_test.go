package pricing

import (
	"math"
	"os"
	"slices"
	"testing"

	"switchboard/internal/gateway"
	"switchboard/internal/llm"
)

func channel(mult string) *gateway.Channel {
	ch := &gateway.Channel{Name: "c", Settings: map[string]string{}}
	if mult != "" {
		ch.Settings[MultiplierSetting] = mult
	}
	return ch
}

func TestParseMultiplier(t *testing.T) {
	for in, want := range map[string]int64{"1": ppm, "0.8": 800_000, "1.25": 1_250_000, " 2 ": 2_000_000, "0.000001": 1, "1000": 1000 * ppm} {
		if got, err := ParseMultiplier(in); err != nil || got != want {
			t.Errorf("ParseMultiplier(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0", "-1", "abc", "NaN", "Inf", "1001", "0.0000001"} {
		if _, err := ParseMultiplier(bad); err == nil {
			t.Errorf("ParseMultiplier(%q) accepted", bad)
		}
	}
	if ChannelMultiplier(nil) != ppm || ChannelMultiplier(channel("")) != ppm || ChannelMultiplier(channel("junk")) != ppm {
		t.Error("a channel without a valid multiplier is not 1x")
	}
	if scale(math.MaxInt64, 2*ppm) != math.MaxInt64 || scale(3, 500_000) != 2 || scale(-5, ppm) != 0 {
		t.Error("scale rounds half up and saturates")
	}
}

func TestCharge(t *testing.T) {
	tab := Builtin().
		With(map[string]gateway.Price{"fast": text(1, 2, 0), "gpt-4.1": text(2, 8, 0.5)}).
		WithAliases(map[string]string{"smart": "gpt-4o"})
	u := llm.Usage{InputTokens: 1000, OutputTokens: 100}
	gpt4o := int64(1000*2500 + 100*10000)
	tests := []struct {
		name            string
		client, up      string
		ch              *gateway.Channel
		cost, price     int64
		costOK, priceOK bool
	}{
		{"list price passed on", "gpt-4o", "gpt-4o", channel(""), gpt4o, gpt4o, true, true},
		{"discount channel: key pays the discounted cost", "gpt-4o", "gpt-4o", channel("0.8"), gpt4o * 8 / 10, gpt4o * 8 / 10, true, true},
		{"operator price wins over a discount", "gpt-4.1", "gpt-4.1", channel("0.5"), (1000*2000 + 100*8000) / 2, 1000*2000 + 100*8000, true, true},
		{"alias priced by the operator: key pays the alias", "fast", "gpt-4o", channel("1.1"), gpt4o * 11 / 10, 1000*1000 + 100*2000, true, true},
		{"operator alias to a list price", "smart", "gpt-4o-mini", channel(""), 1000*150 + 100*600, gpt4o, true, true},
		{"unpriced alias of a priced upstream: key pays the cost", "my-alias", "gpt-4o", channel(""), gpt4o, gpt4o, true, true},
		{"priced alias of an unpriced upstream: cost unknown", "fast", "private-model", channel(""), 0, 1000*1000 + 100*2000, false, true},
		{"nothing priced", "private", "private-model", channel(""), 0, 0, false, false},
		{"empty upstream is the client model", "gpt-4o", "", nil, gpt4o, gpt4o, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tab.Charge(tt.client, tt.up, tt.ch, u, nil)
			if b.CostNanoUSD != tt.cost || b.PriceNanoUSD != tt.price || b.CostKnown != tt.costOK || b.Priced != tt.priceOK {
				t.Fatalf("Charge = %+v; want cost %d (%v), price %d (%v)", b, tt.cost, tt.costOK, tt.price, tt.priceOK)
			}
			var rec gateway.UsageRecord
			b.Apply(&rec)
			if rec.CostNanoUSD != tt.cost || rec.PriceNanoUSD != tt.price || rec.CostUnknown == tt.costOK || rec.Unpriced == tt.priceOK {
				t.Fatalf("Apply = %+v", rec)
			}
		})
	}
	// A unit without a price makes the call unpriced, not cheaper.
	b := tab.Charge("dall-e-3", "dall-e-3", nil, llm.Usage{}, []gateway.Metered{{Unit: "video_second", Count: 3}})
	if b.Priced || b.CostKnown {
		t.Fatalf("unpriced unit billed: %+v", b)
	}
}

func TestHold(t *testing.T) {
	tab := Builtin().With(map[string]gateway.Price{"fast": text(1, 2, 0)}).WithAliases(map[string]string{"cheap": "gpt-4o-mini"})
	const m = 1_000_000
	routes := func(ms ...string) []Route {
		var rs []Route
		for _, x := range ms {
			rs = append(rs, Route{UpstreamModel: x, Channel: channel("")})
		}
		return rs
	}
	tests := []struct {
		name     string
		c        Call
		want     int64
		outLimit int64
		priced   bool
		bounded  bool
	}{
		{"no max_tokens: the model's max output", Call{ClientModel: "gpt-4o", Prompt: Prompt{TextBytes: 1000}},
			(1000*2500 + 16_384*10000) / m * m / m * 0, 16_384, true, true},
		{"request limit below the model's", Call{ClientModel: "gpt-4o", Prompt: Prompt{TextBytes: 1000}, MaxOutput: 100},
			0, 100, true, true},
		{"request limit above the model's is the model's", Call{ClientModel: "gpt-4o", Prompt: Prompt{TextBytes: 1000}, MaxOutput: 1 << 40},
			0, 16_384, true, true},
		{"the dearest route of an alias decides", Call{ClientModel: "alias", Routes: routes("gpt-4o-mini", "gpt-4o"), Prompt: Prompt{TextBytes: 10}, MaxOutput: 10},
			10*2500 + 10*10000, 10, true, true},
		{"an operator price for the client model holds that price", Call{ClientModel: "fast", Routes: routes("gpt-4o"), Prompt: Prompt{TextBytes: 10}, MaxOutput: 10},
			10*1000 + 10*2000, 10, true, true},
		{"n multiplies output, not input", Call{ClientModel: "gpt-4o", Prompt: Prompt{TextBytes: 100}, MaxOutput: 50, N: 4},
			100*2500 + 4*50*10000, 50, true, true},
		{"images at the model's per-image bound", Call{ClientModel: "claude-sonnet-4", Prompt: Prompt{TextBytes: 100, Images: 3}, MaxOutput: 10},
			(100+3*1600)*3000 + 10*15000, 10, true, true},
		{"cache writes hold input at the 1h rate", Call{ClientModel: "claude-haiku-4-5", Prompt: Prompt{TextBytes: 100, CacheWrites: true}, MaxOutput: 10},
			100*2000 + 10*5000, 10, true, true},
		{"audio bounds the prompt by the context window, at the long tier", Call{ClientModel: "gemini-2.5-pro", Prompt: Prompt{TextBytes: 10, OtherMedia: 1}, MaxOutput: 10},
			1_048_576*2500 + 10*15000, 10, true, true},
		{"a prompt past the window is the window", Call{ClientModel: "gpt-4o", Prompt: Prompt{TextBytes: 10 << 20}, MaxOutput: 1},
			128_000*2500 + 10000, 1, true, true},
		{"server-tool passes re-read the prompt", Call{ClientModel: "claude-haiku-4-5", Prompt: Prompt{TextBytes: 100}, MaxOutput: 10, Passes: 3,
			Units: []gateway.Metered{{Unit: gateway.UnitWebSearch, Count: 2}}}, 3*100*1000 + 10*5000 + 2*10_000_000, 10, true, true},
		{"images to generate", Call{ClientModel: "dall-e-3", Units: []gateway.Metered{{Unit: "image:1024x1792:hd", Count: 2}}},
			240_000_000, 0, true, true},
		{"unknown model limits fall back and say so", Call{ClientModel: "fast", Prompt: Prompt{TextBytes: 10}},
			10*1000 + DefaultMaxOutput*2000, DefaultMaxOutput, true, false},
		{"an unpriced route is reported, priced ones still held", Call{ClientModel: "x", Routes: routes("private", "gpt-4o"), Prompt: Prompt{TextBytes: 10}, MaxOutput: 10},
			10*2500 + 10*10000, 10, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tab.Hold(tt.c)
			want := tt.want
			if want == 0 && tt.priced {
				// Spelled out: the prompt at gpt-4o's input rate, the output limit at its output rate.
				want = tt.c.Prompt.TextBytes*2500 + tt.outLimit*10000
			}
			if h.Amount != want || h.OutputLimit != tt.outLimit || h.Priced != tt.priced || h.Bounded != tt.bounded {
				t.Fatalf("Hold = amount %d, out %d, priced %v, bounded %v; want %d, %d, %v, %v",
					h.Amount, h.OutputLimit, h.Priced, h.Bounded, want, tt.outLimit, tt.priced, tt.bounded)
			}
			if !tt.priced && !slices.Contains(h.Unpriced, "private") {
				t.Fatalf("Unpriced = %v", h.Unpriced)
			}
		})
	}
	// A route on a markup channel holds the markup.
	h := tab.Hold(Call{ClientModel: "gpt-4o", Routes: []Route{{UpstreamModel: "gpt-4o", Channel: channel("2")}}, Prompt: Prompt{TextBytes: 10}, MaxOutput: 10})
	if h.Amount != 2*(10*2500+10*10000) {
		t.Fatalf("markup hold = %d", h.Amount)
	}
}

// TestHoldBoundsEveryCost: whatever the upstream reports within the
// request's bounds, the cost never exceeds the hold.
func TestHoldBoundsEveryCost(t *testing.T) {
	tab := Builtin()
	for _, model := range []string{"claude-sonnet-4-5", "gemini-2.5-pro", "gpt-4o", "gpt-4o-audio-preview", "gemini-3-pro-preview", "o3"} {
		c := Call{ClientModel: model, Prompt: Prompt{TextBytes: 300_000, CacheWrites: true}, MaxOutput: 2000, N: 2}
		h := tab.Hold(c)
		p, _ := tab.Lookup(model)
		lim, _ := tab.Limits(model)
		in := min(c.Prompt.TextBytes, lim.ContextWindow)
		for _, u := range []llm.Usage{
			{InputTokens: in, OutputTokens: 4000},
			{InputTokens: in, CacheWriteTokens: in, CacheWrite1hTokens: in, OutputTokens: 4000, ReasoningTokens: 4000},
			{InputTokens: in, CachedInputTokens: in, OutputTokens: 4000, AudioOutputTokens: 4000},
			{InputTokens: min(200_001, in), OutputTokens: 4000},
		} {
			if c := Cost(p, u); c > h.Amount {
				t.Errorf("%s: cost %d of %+v exceeds hold %d", model, c, u, h.Amount)
			}
		}
	}
}

func TestAffordable(t *testing.T) {
	tab := Builtin()
	h := tab.Hold(Call{ClientModel: "gpt-4o", Prompt: Prompt{TextBytes: 1000}})
	if out, ok := h.Affordable(h.Amount); !ok || out != h.OutputLimit {
		t.Fatalf("full budget affords %d, %v", out, ok)
	}
	if _, ok := h.Affordable(h.Min - 1); ok {
		t.Fatal("a budget below the minimal answer is affordable")
	}
	if out, ok := h.Affordable(h.Min); !ok || out != DefaultMinOutput {
		t.Fatalf("minimal budget affords %d, %v", out, ok)
	}
	for _, budget := range []int64{h.Min + 1, h.Min + 12_345, h.Amount / 2, h.Amount - 1} {
		out, ok := h.Affordable(budget)
		if !ok {
			t.Fatalf("budget %d refused", budget)
		}
		if h.HoldFor(out) > budget || h.HoldFor(out+1) <= budget {
			t.Fatalf("budget %d: limit %d is not the largest affordable (%d, %d)", budget, out, h.HoldFor(out), h.HoldFor(out+1))
		}
	}
	// 1000 input tokens at $2.50 and 1000 output at $10: $0.0125.
	out, _ := h.Affordable(1000*2500 + 1000*10000)
	if out != 1000 {
		t.Fatalf("exact affordable = %d, want 1000", out)
	}
	if h.HoldFor(0) != h.Amount {
		t.Fatal("HoldFor(0) is the full hold")
	}
}

func TestUnpricedPolicy(t *testing.T) {
	for in, want := range map[string]UnpricedPolicy{"": UnpricedRefuse, "refuse": UnpricedRefuse, "warn": UnpricedWarn, "free": UnpricedFree} {
		if got, err := ParseUnpricedPolicy(in); err != nil || got != want {
			t.Errorf("ParseUnpricedPolicy(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseUnpricedPolicy("allow"); err == nil {
		t.Error("unknown policy accepted")
	}
	budget := &gateway.Key{BudgetNanoUSD: 1}
	open := &gateway.Key{}
	cases := []struct {
		p           UnpricedPolicy
		k           *gateway.Key
		admit, warn bool
	}{
		{UnpricedRefuse, budget, false, true}, {UnpricedRefuse, open, true, true},
		{UnpricedWarn, budget, true, true}, {UnpricedFree, budget, true, false},
	}
	for _, c := range cases {
		if a, w := c.p.Admit(c.k); a != c.admit || w != c.warn {
			t.Errorf("%s.Admit(budget %d) = %v, %v", c.p, c.k.BudgetNanoUSD, a, w)
		}
	}
	e := RefuseUnpriced("alias", []string{"private-model"})
	if e.Kind != gateway.KindPermission || e.Code != "model_not_priced" || e.Message == "" {
		t.Errorf("RefuseUnpriced = %+v", e)
	}
}

func TestUnpricedRoutes(t *testing.T) {
	tab := Builtin().With(map[string]gateway.Price{"fast": text(1, 1, 0)})
	chs := []gateway.Channel{
		{Name: "a", Enabled: true, Models: []string{"gpt-4o", "private-model", "fast", "gpt-*"},
			ModelMap: map[string]string{"gpt-4o": "gpt-4o-2024-11-20", "fast": "unpriced-upstream", "mapped": "also-private"}},
		{Name: "off", Enabled: false, Models: []string{"nope"}},
		{Name: "sim", Enabled: true, Models: []string{"simulator", "simulator-*", "sim-1-*x"}},
	}
	got := tab.UnpricedRoutes(chs)
	want := []UnpricedRoute{
		{Channel: "a", Model: "gpt-*", Glob: true},
		{Channel: "a", Model: "mapped", UpstreamModel: "also-private"},
		{Channel: "a", Model: "private-model", UpstreamModel: "private-model"},
		{Channel: "sim", Model: "sim-1-*x", Glob: true},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("UnpricedRoutes =\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseLiteLLM(t *testing.T) {
	data, err := os.ReadFile("testdata/litellm_sample.json")
	if err != nil {
		t.Fatal(err)
	}
	prices, limits, err := ParseLiteLLM(data)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := prices["sample_spec"]; ok {
		t.Error("sample_spec loaded as a model")
	}
	if _, ok := prices["some-described-only-model"]; ok {
		t.Error("a model without prices loaded")
	}
	if p := prices["gpt-4o"]; !p.Equal(text(2.5, 10, 1.25)) {
		t.Errorf("gpt-4o = %+v", p)
	}
	sonnet := prices["claude-sonnet-4-5-20250929"]
	want := claudeLong(3, 15)
	if !sonnet.Equal(want) {
		t.Errorf("sonnet =\n%+v\nwant\n%+v", sonnet, want)
	}
	// Bare names of first-party providers, but not of resellers.
	if p, ok := prices["gemini-2.5-pro"]; !ok || p.InputPerMTok != usd(1.25) || len(p.Tiers) != 1 || p.Tiers[0].Price.OutputPerMTok != usd(15) {
		t.Errorf("gemini bare name = %+v, %v", p, ok)
	}
	if p := prices["dall-e-3"]; len(p.Units) != 1 || p.Units[0] != unit("image", 0.04) {
		t.Errorf("dall-e-3 = %+v", p)
	}
	if l := limits["gpt-4o"]; l != (Limits{ContextWindow: 128_000, MaxOutput: 16_384}) {
		t.Errorf("gpt-4o limits = %+v", l)
	}
	if l := limits["legacy-max-tokens"]; l.MaxOutput != 4096 {
		t.Errorf("legacy max_tokens = %+v", l)
	}
	tab := New(nil).WithList(prices).WithLimits(limits)
	if _, op := tab.OperatorPrice("gpt-4o"); op {
		t.Error("catalog prices are list prices")
	}
	if c := Cost(tab.mustLookup(t, "claude-sonnet-4-5-20250929"), llm.Usage{InputTokens: 300_000, WebSearchRequests: 1}); c != 300_000*6000+10_000_000 {
		t.Errorf("catalog long-context cost = %d", c)
	}
	for _, bad := range []string{`[]`, `{"m": {"input_cost_per_token": "x"}}`, `{"m": {"input_cost_per_token": -1}}`} {
		if _, _, err := ParseLiteLLM([]byte(bad)); err == nil {
			t.Errorf("ParseLiteLLM(%s) accepted", bad)
		}
	}
}

func (t *Table) mustLookup(tb testing.TB, model string) gateway.Price {
	tb.Helper()
	p, ok := t.Lookup(model)
	if !ok {
		tb.Fatalf("%s not priced", model)
	}
	return p
}

func FuzzParseLiteLLM(f *testing.F) {
	if data, err := os.ReadFile("testdata/litellm_sample.json"); err == nil {
		f.Add(data)
	}
	f.Add([]byte(`{"m":{"input_cost_per_token":1e300,"max_tokens":1e308}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		prices, _, err := ParseLiteLLM(data)
		if err != nil {
			return
		}
		for name, p := range prices {
			for _, v := range []int64{p.InputPerMTok, p.OutputPerMTok, p.CachedInputPerMTok} {
				if v < 0 {
					t.Fatalf("%s: negative price", name)
				}
			}
			if c, _ := CostUnits(p, llm.Usage{InputTokens: 1 << 40, OutputTokens: 1 << 40}, nil); c < 0 {
				t.Fatalf("%s: negative cost", name)
			}
		}
	})
}
