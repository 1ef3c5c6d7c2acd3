package pricing

import (
	"testing"

	"switchboard/internal/gateway"
	"switchboard/internal/llm"
)

// FuzzLookupCost checks that any model name and any counts neither panic
// nor produce a negative cost, and that costs never decrease when a call
// produces more plain output.
func FuzzLookupCost(f *testing.F) {
	f.Add("gpt-4o-2024-11-20", int64(1000), int64(200), int64(10), int64(0), int64(50), int64(20), int64(0))
	f.Add("anthropic/claude-sonnet-4-5-20250929-thinking", int64(-1), int64(5), int64(9), int64(3), int64(2), int64(7), int64(1))
	f.Add("", int64(0), int64(0), int64(0), int64(0), int64(0), int64(0), int64(0))
	f.Add("-20250101", int64(9e18), int64(9e18), int64(9e18), int64(9e18), int64(9e18), int64(9e18), int64(9e18))
	tab := Builtin().With(map[string]gateway.Price{"x": {InputPerMTok: -5, OutputPerMTok: 1 << 62}})
	f.Fuzz(func(t *testing.T, model string, in, out, cached, write, reason, audioOut, n int64) {
		p, ok := tab.Lookup(model)
		if !ok {
			p = gateway.Price{InputPerMTok: in, OutputPerMTok: out, PerCall: n}
		}
		u := llm.Usage{InputTokens: in, OutputTokens: out, CachedInputTokens: cached, CacheWriteTokens: write,
			ReasoningTokens: reason, AudioOutputTokens: audioOut}
		c, _ := CostUnits(p, u, []gateway.Metered{{Unit: "image", Count: n}})
		if c < 0 {
			t.Fatalf("negative cost %d for %q %+v", c, model, u)
		}
		if e := Estimate(p, in, out); e < 0 {
			t.Fatalf("negative estimate %d", e)
		}
		if out >= 0 && out < 1<<40 {
			more := u
			more.OutputTokens = out + 1
			if m, _ := CostUnits(p, more, []gateway.Metered{{Unit: "image", Count: n}}); m < c {
				t.Fatalf("more output cost less")
			}
		}
	})
}
