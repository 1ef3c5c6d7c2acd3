package pricing

import (
	"math"
	"testing"

	"switchboard/internal/gateway"
	"switchboard/internal/llm"
)

func TestCost(t *testing.T) {
	gpt4o := gateway.Price{InputPerMTok: 2_500_000_000, OutputPerMTok: 10_000_000_000, CachedInputPerMTok: 1_250_000_000}
	sonnet := claude(3, 15)
	audioP := audio(text(2.5, 10, 0), 40, 80)
	tests := []struct {
		name string
		p    gateway.Price
		u    llm.Usage
		want int64
	}{
		{"zero usage", gpt4o, llm.Usage{}, 0},
		{"one input token", gpt4o, llm.Usage{InputTokens: 1}, 2500},
		{"plain", gpt4o, llm.Usage{InputTokens: 1000, OutputTokens: 500}, 1000*2500 + 500*10000},
		{"cached part of input",
			gpt4o, llm.Usage{InputTokens: 1000, CachedInputTokens: 400, OutputTokens: 10},
			600*2500 + 400*1250 + 10*10000},
		{"anthropic cache write and read",
			sonnet, llm.Usage{InputTokens: 10_000, CachedInputTokens: 6_000, CacheWriteTokens: 3_000, OutputTokens: 100},
			1_000*3000 + 6_000*300 + 3_000*3750 + 100*15000},
		{"cached price zero falls back to input",
			gateway.Price{InputPerMTok: 1_000_000_000}, llm.Usage{InputTokens: 10, CachedInputTokens: 10}, 10 * 1000},
		{"reasoning at output price when unset",
			text(2, 8, 0.5), llm.Usage{OutputTokens: 1000, ReasoningTokens: 900}, 1000 * 8000},
		{"reasoning priced apart",
			gateway.Price{OutputPerMTok: 8_000_000_000, ReasoningPerMTok: 16_000_000_000},
			llm.Usage{OutputTokens: 1000, ReasoningTokens: 900}, 100*8000 + 900*16000},
		{"audio in and out",
			audioP, llm.Usage{InputTokens: 300, AudioInputTokens: 200, OutputTokens: 150, AudioOutputTokens: 100},
			100*2500 + 200*40000 + 50*10000 + 100*80000},
		{"image output tokens",
			builtin["gemini-2.5-flash-image"], llm.Usage{InputTokens: 10, OutputTokens: 1300, ImageOutputTokens: 1290},
			10*300 + 10*2500 + 1290*30000},
		{"parts larger than total never bill less than the parts",
			gpt4o, llm.Usage{InputTokens: 100, CachedInputTokens: 400}, 400 * 1250},
		{"negative counts are zero",
			gpt4o, llm.Usage{InputTokens: -5, OutputTokens: -1, CachedInputTokens: -3}, 0},
		{"per call", perCall(0.05), llm.Usage{}, 50_000_000},
		{"per call plus tokens", gateway.Price{InputPerMTok: 1_000_000_000, PerCall: 7}, llm.Usage{InputTokens: 1}, 1007},
		{"rounds half up: 0.5 nano", gateway.Price{InputPerMTok: 500_000}, llm.Usage{InputTokens: 1}, 1},
		{"rounds down below half", gateway.Price{InputPerMTok: 499_999}, llm.Usage{InputTokens: 1}, 0},
		{"sum first, divide once", gateway.Price{InputPerMTok: 300_000, OutputPerMTok: 300_000},
			llm.Usage{InputTokens: 1, OutputTokens: 1}, 1},
		{"cheapest list price is exact", text(0.005, 0, 0), llm.Usage{InputTokens: 3}, 15},
		{"saturates instead of overflowing",
			gateway.Price{InputPerMTok: math.MaxInt64, OutputPerMTok: math.MaxInt64},
			llm.Usage{InputTokens: math.MaxInt64, OutputTokens: math.MaxInt64}, math.MaxInt64},
		{"large but representable", gateway.Price{OutputPerMTok: usd(600)},
			llm.Usage{OutputTokens: 10_000_000_000}, 6_000_000_000_000_000}, // $6M
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Cost(tt.p, tt.u); got != tt.want {
				t.Errorf("Cost = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestCostUnits(t *testing.T) {
	dalle := builtin["dall-e-3"]
	tests := []struct {
		name   string
		p      gateway.Price
		u      llm.Usage
		units  []gateway.Metered
		want   int64
		priced bool
	}{
		{"4 standard images", dalle, llm.Usage{}, []gateway.Metered{{Unit: "image:1024x1024:standard", Count: 4}}, 4 * 40_000_000, true},
		{"hd tall image", dalle, llm.Usage{}, []gateway.Metered{{Unit: "image:1024x1792:hd", Count: 1}}, 120_000_000, true},
		{"variant falls back to its general unit", dalle, llm.Usage{}, []gateway.Metered{{Unit: "image:1024x1024:vivid", Count: 2}}, 80_000_000, true},
		{"unknown unit is unpriced", dalle, llm.Usage{}, []gateway.Metered{{Unit: "video_second", Count: 8}}, 0, false},
		{"negative count ignored", dalle, llm.Usage{}, []gateway.Metered{{Unit: "image", Count: -3}}, 0, true},
		{"sora seconds", builtin["sora-2-pro"], llm.Usage{}, []gateway.Metered{{Unit: "video_second:1792x1024", Count: 12}}, 12 * 500_000_000, true},
		{"whisper by the second", builtin["whisper-1"], llm.Usage{}, []gateway.Metered{{Unit: gateway.UnitAudioSecond, Count: 90}}, 9_000_000, true},
		{"anthropic web searches from usage", claude(3, 15), llm.Usage{InputTokens: 1000, WebSearchRequests: 3},
			nil, 1000*3000 + 3*10_000_000, true},
		{"search without a price is unpriced", text(1, 1, 0), llm.Usage{InputTokens: 10, WebSearchRequests: 1}, nil, 10 * 1000, false},
		{"gemini 2.5 grounding", builtin["gemini-2.5-flash"], llm.Usage{GroundedPrompts: 1}, nil, 35_000_000, true},
		{"gemini 3 per query", builtin["gemini-3-pro-preview"], llm.Usage{WebSearchRequests: 4}, nil, 4 * 14_000_000, true},
		{"overflowing unit saturates", gateway.Price{Units: []gateway.UnitPrice{{Unit: "x", PerMUnits: math.MaxInt64}}},
			llm.Usage{}, []gateway.Metered{{Unit: "x", Count: math.MaxInt64}}, math.MaxInt64, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, priced := CostUnits(tt.p, tt.u, tt.units)
			if got != tt.want || priced != tt.priced {
				t.Errorf("CostUnits = %d, %v; want %d, %v", got, priced, tt.want, tt.priced)
			}
		})
	}
}

func TestCostTiersAndCacheLifetimes(t *testing.T) {
	sonnet := builtin["claude-sonnet-4-5"]
	pro := builtin["gemini-2.5-pro"]
	tests := []struct {
		name string
		p    gateway.Price
		u    llm.Usage
		want int64
	}{
		{"sonnet at 200k is the base tier", sonnet, llm.Usage{InputTokens: 200_000, OutputTokens: 1000}, 200_000*3000 + 1000*15000},
		{"sonnet above 200k bills every token at the long tier", sonnet, llm.Usage{InputTokens: 200_001, OutputTokens: 1000},
			200_001*6000 + 1000*22500},
		{"long tier scales the cache prices", sonnet, llm.Usage{InputTokens: 300_000, CachedInputTokens: 100_000, CacheWriteTokens: 100_000,
			CacheWrite1hTokens: 40_000}, 100_000*6000 + 100_000*600 + 60_000*7500 + 40_000*12000},
		{"one-hour writes at 2x, five-minute at 1.25x", claude(3, 15), llm.Usage{InputTokens: 1000, CacheWriteTokens: 1000, CacheWrite1hTokens: 400},
			600*3750 + 400*6000},
		{"1h count above the write count is clamped", claude(3, 15), llm.Usage{InputTokens: 10, CacheWriteTokens: 10, CacheWrite1hTokens: 99}, 10 * 6000},
		{"1h price falls back to the 5m price", gateway.Price{InputPerMTok: 1000, CacheWritePerMTok: 2000},
			llm.Usage{InputTokens: 1_000_000, CacheWriteTokens: 1_000_000, CacheWrite1hTokens: 1_000_000}, 2000},
		{"gemini pro long prompt", pro, llm.Usage{InputTokens: 250_000, OutputTokens: 10_000}, 250_000*2500 + 10_000*15000},
		{"gemini pro short prompt", pro, llm.Usage{InputTokens: 150_000, CachedInputTokens: 100_000, OutputTokens: 10_000},
			50_000*1250 + 100_000*125 + 10_000*10000},
		{"image input priced apart", builtin["gpt-image-1"], llm.Usage{InputTokens: 1100, ImageInputTokens: 1000, OutputTokens: 100, ImageOutputTokens: 100},
			100*5000 + 1000*10000 + 100*40000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Cost(tt.p, tt.u); got != tt.want {
				t.Errorf("Cost = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestEstimate(t *testing.T) {
	sonnet := claude(3, 15)
	tests := []struct {
		name    string
		p       gateway.Price
		in, out int64
		want    int64
	}{
		// One-hour cache writes are the dearest input class for Anthropic.
		{"anthropic worst case", sonnet, 1000, 100, 1000*6000 + 100*15000},
		{"audio output dearest", audio(text(2.5, 10, 0), 40, 80), 10, 10, 10*40000 + 10*80000},
		{"per call included", perCall(0.04), 0, 0, 40_000_000},
		{"negative inputs", text(1, 1, 0), -1, -1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Estimate(tt.p, tt.in, tt.out); got != tt.want {
				t.Errorf("Estimate = %d, want %d", got, tt.want)
			}
		})
	}
	// An estimate bounds every cost of the same size.
	p := builtin["gpt-4o-audio-preview"]
	u := llm.Usage{InputTokens: 500, AudioInputTokens: 500, OutputTokens: 300, AudioOutputTokens: 300}
	if c, e := Cost(p, u), Estimate(p, 500, 300); c > e {
		t.Errorf("cost %d exceeds estimate %d", c, e)
	}
}

func TestLookup(t *testing.T) {
	tab := Builtin()
	tests := []struct {
		model string
		as    string // "" = unknown
	}{
		{"gpt-4o", "gpt-4o"},
		{"GPT-4o", "gpt-4o"},
		{"gpt-4o-2024-11-20", "gpt-4o"}, // explicit alias
		{"gpt-4o-2024-05-13", "gpt-4o-2024-05-13"},
		{"gpt-4o-mini-2024-07-18", "gpt-4o-mini"},
		{"gpt-4o-mini-tts", "gpt-4o-mini-tts"},
		{"gpt-4.1-mini-2025-04-14", "gpt-4.1-mini"},
		{"gpt-5.1", "gpt-5.1"},
		{"gpt-5.1-2025-11-13", "gpt-5.1"},
		{"gpt-5.1-codex", "gpt-5.1-codex"},
		{"gpt-5.1-codex-mini", "gpt-5.1-codex-mini"},
		{"gpt-5.1-chat-latest", "gpt-5.1-chat-latest"},
		{"gpt-5-codex", "gpt-5-codex"},
		{"gpt-audio-mini", "gpt-audio-mini"},
		{"o3-pro-2025-06-10", "o3-pro"},
		{"openai/gpt-4o", "gpt-4o"},
		{"openrouter/anthropic/claude-sonnet-4", "claude-sonnet-4"},
		{"anthropic/claude-3-5-sonnet-20241022", "claude-3-5-sonnet"},
		{"claude-sonnet-4-20250514", "claude-sonnet-4"},
		{"claude-sonnet-4-5-20250929", "claude-sonnet-4-5"},
		{"claude-3-7-sonnet-latest", "claude-3-7-sonnet"},
		{"claude-opus-4-1-20250805", "claude-opus-4-1"},
		{"claude-opus-4-0", "claude-opus-4"},
		{"models/gemini-2.5-pro", "gemini-2.5-pro"},
		{"gemini-2.5-flash-lite-preview-06-17", "gemini-2.5-flash-lite"},
		{"gemini-2.5-flash-image-preview", "gemini-2.5-flash-image"},
		{"deepseek-chat", "deepseek-chat"},
		{"simulator", "simulator"},
		{"simulator-fast", "simulator-*"},
		{"sim-1-mini", "sim-1-*"},
		{"mj/imagine", "mj/imagine"},
		{"MJ/Upscale", "mj/upscale"},
		{"openai/mj/imagine", "mj/imagine"},
		{"omni-moderation-latest", "omni-moderation-latest"},
		{"veo-3.0-generate-001", "veo-3.0-generate-001"},
		// Never a sibling's or a family's price.
		{"gpt-audio-mini-2099-01-01", ""},
		{"gpt-4o-2099-01-01", ""},
		{"gpt-4o-mini-search-preview-2099-03-11", ""},
		{"gpt-5.1-codex-ultra", ""},
		{"claude-3-7-sonnet-20250219-thinking", ""},
		{"gpt-4o2", ""},
		{"simulator2", ""},
		{"llama-3-70b", ""},
		{"", ""},
		{"/", ""},
		{"portkey/some-private-model", ""},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			as, p, ok := tab.Match(tt.model)
			if tt.as == "" {
				if ok {
					t.Fatalf("Match(%q) = %q, want unknown", tt.model, as)
				}
				return
			}
			if !ok || as != tt.as {
				t.Fatalf("Match(%q) = %q, %v; want %q", tt.model, as, ok, tt.as)
			}
			if !p.Equal(builtin[tt.as]) {
				t.Errorf("price of %q = %+v, want %+v", tt.model, p, builtin[tt.as])
			}
			if lp, lok := tab.Lookup(tt.model); !lok || !lp.Equal(p) {
				t.Errorf("Lookup disagrees with Match")
			}
			if _, op := tab.OperatorPrice(tt.model); op {
				t.Errorf("built-in price of %q counted as the operator's", tt.model)
			}
		})
	}
}

func TestWith(t *testing.T) {
	base := Builtin()
	over := gateway.Price{InputPerMTok: 1, OutputPerMTok: 2}
	tab := base.With(map[string]gateway.Price{"GPT-4o": over, "my-model": {PerCall: 5}, "team-*": {PerCall: 7}})
	if p, _ := tab.Lookup("gpt-4o-2024-11-20"); !p.Equal(over) {
		t.Errorf("override not used through the snapshot alias: %+v", p)
	}
	if _, op := tab.OperatorPrice("gpt-4o-2024-11-20"); !op {
		t.Error("a snapshot aliased to an operator entry is priced by the operator")
	}
	if _, ok := tab.Lookup("my-model-v2"); ok {
		t.Error("a new model was matched as a family")
	}
	if p, ok := tab.Lookup("team-a"); !ok || p.PerCall != 7 {
		t.Errorf("explicit pattern entry: %+v %v", p, ok)
	}
	if p, _ := base.Lookup("gpt-4o"); p.Equal(over) {
		t.Error("With modified the receiver")
	}
	if _, ok := base.Lookup("my-model"); ok {
		t.Error("With added to the receiver")
	}
	// An override replaces the entry, it does not merge with it.
	if p, _ := tab.Lookup("gpt-4o"); p.CachedInputPerMTok != 0 {
		t.Errorf("override merged with built-in: %+v", p)
	}
	if _, op := tab.OperatorPrice("gpt-4o"); !op {
		t.Error("an override is the operator's price")
	}
	var nilTab *Table
	if _, ok := nilTab.Lookup("gpt-4o"); ok {
		t.Error("nil table knows a model")
	}
	if got := New(nil).With(nil).Models(); len(got) != 0 {
		t.Errorf("empty table lists %v", got)
	}

	// Aliases: the operator's make the alias an operator price; chains
	// resolve; an alias to nothing is unknown; an entry beats an alias.
	al := base.WithAliases(map[string]string{"fast": "gpt-4o-mini", "fast-dated": "gpt-4o-2024-11-20", "ghost": "nope", "gpt-4o": "gpt-4.1"})
	if name, _, ok := al.Match("fast"); !ok || name != "gpt-4o-mini" {
		t.Errorf("alias fast = %q, %v", name, ok)
	}
	if _, op := al.OperatorPrice("fast"); !op {
		t.Error("an operator alias is an operator price")
	}
	if name, _, ok := al.Match("fast-dated"); !ok || name != "gpt-4.1" { // fast-dated → gpt-4o-2024-11-20 → gpt-4o → gpt-4.1
		t.Errorf("alias chain = %q, %v", name, ok)
	}
	if _, ok := al.Lookup("ghost"); ok {
		t.Error("alias to an unpriced model is priced")
	}
	if name, _, _ := al.Match("gpt-4o"); name != "gpt-4.1" {
		t.Errorf("an alias set over an entry replaces it: %q", name)
	}
	if name, _, _ := al.With(map[string]gateway.Price{"fast": over}).Match("fast"); name != "fast" {
		t.Errorf("an entry set over an alias replaces it: %q", name)
	}
	loop := New(map[string]gateway.Price{"x": over}).WithAliases(map[string]string{"a": "b", "b": "a"})
	if _, ok := loop.Lookup("a"); ok {
		t.Error("alias cycle priced")
	}
	// List prices from a catalog price cost only.
	cat := base.WithList(map[string]gateway.Price{"new-model": over})
	if _, ok := cat.Lookup("new-model"); !ok {
		t.Error("catalog entry not priced")
	}
	if _, op := cat.OperatorPrice("new-model"); op {
		t.Error("catalog entry counted as an operator price")
	}
}

func TestLimits(t *testing.T) {
	tab := Builtin()
	if l, ok := tab.Limits("claude-sonnet-4-5-20250929"); !ok || l.MaxOutput != 64_000 || l.ContextWindow != 1_000_000 {
		t.Errorf("limits through an alias: %+v %v", l, ok)
	}
	if _, ok := tab.Limits("no-such-model"); ok {
		t.Error("limits of an unknown model")
	}
	more := tab.WithLimits(map[string]Limits{"gpt-4o": {MaxOutput: 100}})
	if l, _ := more.Limits("gpt-4o"); l.MaxOutput != 100 || l.ContextWindow != 128_000 {
		t.Errorf("WithLimits merges field by field: %+v", l)
	}
	if l, _ := tab.Limits("gpt-4o"); l.MaxOutput != 16_384 {
		t.Error("WithLimits modified the receiver")
	}
	// Every priced chat model has limits, so holds never guess.
	for name, p := range builtin {
		if p.InputPerMTok == 0 || p.OutputPerMTok == 0 {
			continue
		}
		if _, ok := tab.Limits(name); !ok {
			t.Errorf("%s is priced per token but has no limits", name)
		}
	}
	for a, target := range builtinAliases {
		if _, ok := builtin[target]; !ok {
			t.Errorf("alias %s → %s: target not priced", a, target)
		}
	}
}

// TestBuiltinSane guards the table against typos: output never cheaper than
// a tenth of input for chat models, caches never dearer than writes, and
// every Anthropic model with exact 1.25×/0.1× cache prices.
func TestBuiltinSane(t *testing.T) {
	for name, p := range builtin {
		if p.IsZero() {
			continue
		}
		for _, v := range []int64{p.InputPerMTok, p.OutputPerMTok, p.CachedInputPerMTok, p.CacheWritePerMTok,
			p.ReasoningPerMTok, p.AudioInputPerMTok, p.AudioOutputPerMTok, p.ImageInputPerMTok, p.ImageOutputPerMTok,
			p.CacheWrite1hPerMTok, p.PerCall} {
			if v < 0 || v > usd(1000) {
				t.Errorf("%s: implausible price %d", name, v)
			}
		}
		if p.CachedInputPerMTok > 0 && p.CachedInputPerMTok > p.InputPerMTok {
			t.Errorf("%s: cached input dearer than input", name)
		}
		if len(name) > 7 && name[:7] == "claude-" && name != "claude-3-haiku" {
			if p.CacheWritePerMTok*4 != p.InputPerMTok*5 || p.CachedInputPerMTok*10 != p.InputPerMTok ||
				p.CacheWrite1hPerMTok != 2*p.InputPerMTok {
				t.Errorf("%s: cache prices not 1.25x/2x/0.1x: %+v", name, p)
			}
		}
		for _, tr := range p.Tiers {
			if tr.Price.InputPerMTok < p.InputPerMTok || tr.Price.OutputPerMTok < p.OutputPerMTok {
				t.Errorf("%s: a long-context tier is cheaper than the base", name)
			}
		}
	}
	// The brief's well-known models must all be priced.
	for _, m := range []string{"gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o1", "o3",
		"o3-mini", "o4-mini", "gpt-5", "gpt-5-mini", "gpt-5-nano", "gpt-4o-audio-preview",
		"text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002", "whisper-1", "tts-1",
		"dall-e-3", "gpt-image-1", "claude-3-5-sonnet", "claude-3-7-sonnet", "claude-sonnet-4", "claude-opus-4",
		"claude-3-5-haiku", "claude-haiku-4-5", "claude-sonnet-4-5", "claude-opus-4-1", "gemini-2.5-pro",
		"gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.0-flash", "gemini-2.5-flash-image-preview",
		"deepseek-chat", "deepseek-reasoner", "simulator", "mj/imagine", "gpt-5.1", "gpt-5.1-codex", "gpt-5.1-codex-mini",
		"gpt-5.1-chat-latest", "gpt-5-codex", "gpt-audio-mini", "gpt-realtime-mini", "claude-opus-4-5", "gemini-3-pro-preview",
		"gemini-embedding-001", "grok-4"} {
		if _, ok := Builtin().Lookup(m); !ok {
			t.Errorf("%s is not priced", m)
		}
	}
	if p, _ := Builtin().Lookup("simulator"); Cost(p, llm.Usage{InputTokens: 100, OutputTokens: 100}) <= 0 {
		t.Error("simulator calls must cost something in demos")
	}
}

func BenchmarkLookupFamily(b *testing.B) {
	tab := Builtin()
	for b.Loop() {
		tab.Lookup("openrouter/openai/gpt-4o-mini-search-preview-2025-03-11")
	}
}

func BenchmarkCost(b *testing.B) {
	p := claude(3, 15)
	u := llm.Usage{InputTokens: 12000, CachedInputTokens: 9000, CacheWriteTokens: 1000, OutputTokens: 800, ReasoningTokens: 300}
	for b.Loop() {
		Cost(p, u)
	}
}
