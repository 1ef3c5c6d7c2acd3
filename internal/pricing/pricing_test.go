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
			builtin["gemini-2.5-flash-image-preview"], llm.Usage{InputTokens: 10, OutputTokens: 1300, ImageOutputTokens: 1290},
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

func TestCostN(t *testing.T) {
	dalle := builtin["dall-e-3"]
	if got, want := CostN(dalle, llm.Usage{}, 4), int64(4*40_000_000); got != want {
		t.Errorf("4 images = %d, want %d", got, want)
	}
	if got := CostN(dalle, llm.Usage{}, -1); got != 0 {
		t.Errorf("negative n = %d, want 0", got)
	}
	if got := CostN(gateway.Price{PerCall: math.MaxInt64}, llm.Usage{}, 3); got != math.MaxInt64 {
		t.Errorf("overflow = %d, want saturation", got)
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
		// Cache writes are the dearest input class for Anthropic.
		{"anthropic worst case", sonnet, 1000, 100, 1000*3750 + 100*15000},
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
		{"gpt-4o-2024-11-20", "gpt-4o"},
		{"gpt-4o-2024-05-13", "gpt-4o-2024-05-13"}, // exact beats normalisation
		{"gpt-4o-mini-2024-07-18", "gpt-4o-mini"},
		{"gpt-4o-mini-xyz", "gpt-4o-mini"},
		{"gpt-4o-mini-tts", "gpt-4o-mini-tts"},
		{"gpt-4.1-mini-2025-04-14", "gpt-4.1-mini"},
		{"gpt-4.5-preview", "gpt-4.5-preview"},
		{"o3-mini-high", "o3-mini"},
		{"o3-pro-2025-06-10", "o3-pro"},
		{"gpt-5-codex", "gpt-5"},
		{"openai/gpt-4o", "gpt-4o"},
		{"openrouter/anthropic/claude-sonnet-4", "claude-sonnet-4"},
		{"anthropic/claude-3-5-sonnet-20241022", "claude-3-5-sonnet"},
		{"claude-sonnet-4-20250514", "claude-sonnet-4"},
		{"claude-sonnet-4-5-20250929", "claude-sonnet-4-5"},
		{"claude-3-7-sonnet-latest", "claude-3-7-sonnet"},
		{"claude-3-7-sonnet-20250219-thinking", "claude-3-7-sonnet"},
		{"claude-opus-4-1-20250805", "claude-opus-4-1"},
		{"claude-opus-4-0", "claude-opus-4"},
		{"models/gemini-2.5-pro", "gemini-2.5-pro"},
		{"gemini-2.5-flash-lite-preview-06-17", "gemini-2.5-flash-lite"},
		{"gemini-2.5-flash-preview-05-20", "gemini-2.5-flash"},
		{"deepseek-chat", "deepseek-chat"},
		{"simulator-fast", "simulator"},
		{"sim-1-mini", "sim-1"},
		{"mj/imagine", "mj/imagine"},
		{"MJ/Upscale", "mj/upscale"},
		{"omni-moderation-latest", "omni-moderation"},
		{"veo-3.0-generate-001", "veo-3.0-generate"},
		// Unknown models stay unknown rather than $0.
		{"gpt-4o2", ""},
		{"llama-3-70b", ""},
		{"", ""},
		{"-latest", ""},
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
			if p != builtin[tt.as] {
				t.Errorf("price of %q = %+v, want %+v", tt.model, p, builtin[tt.as])
			}
			if lp, lok := tab.Lookup(tt.model); !lok || lp != p {
				t.Errorf("Lookup disagrees with Match")
			}
		})
	}
}

func TestWith(t *testing.T) {
	base := Builtin()
	over := gateway.Price{InputPerMTok: 1, OutputPerMTok: 2}
	tab := base.With(map[string]gateway.Price{"GPT-4o": over, "my-model": {PerCall: 5}})
	if p, _ := tab.Lookup("gpt-4o-2024-11-20"); p != over {
		t.Errorf("override not used through normalisation: %+v", p)
	}
	if p, ok := tab.Lookup("my-model-v2"); !ok || p.PerCall != 5 {
		t.Errorf("new model not matched as family: %+v %v", p, ok)
	}
	if p, _ := base.Lookup("gpt-4o"); p == over {
		t.Error("With modified the receiver")
	}
	if _, ok := base.Lookup("my-model"); ok {
		t.Error("With added to the receiver")
	}
	// An override replaces the entry, it does not merge with it.
	if p, _ := tab.Lookup("gpt-4o"); p.CachedInputPerMTok != 0 {
		t.Errorf("override merged with built-in: %+v", p)
	}
	var nilTab *Table
	if _, ok := nilTab.Lookup("gpt-4o"); ok {
		t.Error("nil table knows a model")
	}
	if got := New(nil).With(nil).Models(); len(got) != 0 {
		t.Errorf("empty table lists %v", got)
	}
}

// TestBuiltinSane guards the table against typos: output never cheaper than
// a tenth of input for chat models, caches never dearer than writes, and
// every Anthropic model with exact 1.25×/0.1× cache prices.
func TestBuiltinSane(t *testing.T) {
	for name, p := range builtin {
		if p == (gateway.Price{}) {
			continue
		}
		for _, v := range []int64{p.InputPerMTok, p.OutputPerMTok, p.CachedInputPerMTok, p.CacheWritePerMTok,
			p.ReasoningPerMTok, p.AudioInputPerMTok, p.AudioOutputPerMTok, p.ImageOutputPerMTok, p.PerCall} {
			if v < 0 || v > usd(1000) {
				t.Errorf("%s: implausible price %d", name, v)
			}
		}
		if p.CachedInputPerMTok > 0 && p.CachedInputPerMTok > p.InputPerMTok {
			t.Errorf("%s: cached input dearer than input", name)
		}
		if len(name) > 7 && name[:7] == "claude-" {
			if p.CacheWritePerMTok*4 != p.InputPerMTok*5 || p.CachedInputPerMTok*10 != p.InputPerMTok {
				t.Errorf("%s: cache prices not 1.25x/0.1x: %+v", name, p)
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
		"deepseek-chat", "deepseek-reasoner", "simulator", "mj/imagine"} {
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
		tab.Lookup("gpt-4o-mini-search-preview-2025-03-11")
	}
}

func BenchmarkCost(b *testing.B) {
	p := claude(3, 15)
	u := llm.Usage{InputTokens: 12000, CachedInputTokens: 9000, CacheWriteTokens: 1000, OutputTokens: 800, ReasoningTokens: 300}
	for b.Loop() {
		Cost(p, u)
	}
}
