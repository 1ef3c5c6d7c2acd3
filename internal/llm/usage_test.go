package llm

import "testing"

func TestUsageMergeKeepsLatestOfEachKind(t *testing.T) {
	// Anthropic streams report input at message_start and output at
	// message_delta; merging must keep both.
	start := Usage{InputTokens: 100, CachedInputTokens: 40, OutputTokens: 1}
	delta := Usage{OutputTokens: 57}
	got := start.Merge(delta)
	want := Usage{InputTokens: 100, CachedInputTokens: 40, OutputTokens: 57}
	if got != want {
		t.Fatalf("Merge = %+v, want %+v", got, want)
	}
	if got.Total() != 157 || got.IsZero() || !(Usage{}).IsZero() {
		t.Fatalf("Total/IsZero wrong for %+v", got)
	}
	sum := got.Add(Usage{InputTokens: 1, ReasoningTokens: 2, ImageOutputTokens: 3})
	if sum.InputTokens != 101 || sum.ReasoningTokens != 2 || sum.ImageOutputTokens != 3 || sum.OutputTokens != 57 {
		t.Fatalf("Add = %+v", sum)
	}
}

func TestUsageCarriesCacheLifetimeAndServerTools(t *testing.T) {
	a := Usage{CacheWriteTokens: 10, CacheWrite1hTokens: 4, WebSearchRequests: 1}
	b := Usage{CacheWrite1hTokens: 6, WebSearchRequests: 2, GroundedPrompts: 1}
	if s := a.Add(b); s.CacheWrite1hTokens != 10 || s.WebSearchRequests != 3 || s.GroundedPrompts != 1 {
		t.Fatalf("Add = %+v", s)
	}
	if m := a.Merge(b); m.CacheWrite1hTokens != 6 || m.WebSearchRequests != 2 || m.CacheWriteTokens != 10 {
		t.Fatalf("Merge = %+v", m)
	}
	if (Usage{WebSearchRequests: 1}).IsZero() {
		t.Fatal("a call with only a web search is not zero usage")
	}
}
