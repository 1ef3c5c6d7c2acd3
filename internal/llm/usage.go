package llm

// Usage counts tokens by kind. The totals follow OpenAI's convention so that
// every format's numbers add up the same way:
//   - InputTokens is every prompt token, including those read from or written
//     to a prompt cache (Anthropic reports these apart; decoders add them in).
//   - OutputTokens is every generated token, including reasoning, audio and
//     image tokens (Gemini reports thoughts apart; decoders add them in).
//
// The other fields are subsets of those two totals.
type Usage struct {
	InputTokens       int64
	CachedInputTokens int64 // subset of InputTokens read from cache
	CacheWriteTokens  int64 // subset of InputTokens written to cache
	// CacheWrite1hTokens is the part of CacheWriteTokens written with a
	// one-hour lifetime (Anthropic bills those at 2× input, the
	// five-minute ones at 1.25×).
	CacheWrite1hTokens int64
	AudioInputTokens   int64 // subset of InputTokens
	ImageInputTokens   int64 // subset of InputTokens

	OutputTokens      int64
	ReasoningTokens   int64 // subset of OutputTokens
	AudioOutputTokens int64 // subset of OutputTokens
	ImageOutputTokens int64 // subset of OutputTokens

	// Server-side tool use the provider bills per call, as its usage
	// reports it: Anthropic's server_tool_use.web_search_requests, and
	// Gemini's Google Search grounding (the search queries it ran, and
	// whether the answer was grounded at all).
	WebSearchRequests int64
	GroundedPrompts   int64
}

// IsZero reports whether no tokens were counted at all.
func (u Usage) IsZero() bool { return u == Usage{} }

// Total is input plus output.
func (u Usage) Total() int64 { return u.InputTokens + u.OutputTokens }

// Add sums two usages field by field.
func (u Usage) Add(o Usage) Usage {
	return Usage{
		InputTokens:        u.InputTokens + o.InputTokens,
		CachedInputTokens:  u.CachedInputTokens + o.CachedInputTokens,
		CacheWriteTokens:   u.CacheWriteTokens + o.CacheWriteTokens,
		CacheWrite1hTokens: u.CacheWrite1hTokens + o.CacheWrite1hTokens,
		AudioInputTokens:   u.AudioInputTokens + o.AudioInputTokens,
		ImageInputTokens:   u.ImageInputTokens + o.ImageInputTokens,
		OutputTokens:       u.OutputTokens + o.OutputTokens,
		ReasoningTokens:    u.ReasoningTokens + o.ReasoningTokens,
		AudioOutputTokens:  u.AudioOutputTokens + o.AudioOutputTokens,
		ImageOutputTokens:  u.ImageOutputTokens + o.ImageOutputTokens,
		WebSearchRequests:  u.WebSearchRequests + o.WebSearchRequests,
		GroundedPrompts:    u.GroundedPrompts + o.GroundedPrompts,
	}
}

// Merge returns u with every non-zero field of o taken over. Streams report
// usage in pieces (Anthropic: input at message_start, output at
// message_delta); merging keeps the latest value of each kind.
func (u Usage) Merge(o Usage) Usage {
	pick := func(a, b int64) int64 {
		if b != 0 {
			return b
		}
		return a
	}
	return Usage{
		InputTokens:        pick(u.InputTokens, o.InputTokens),
		CachedInputTokens:  pick(u.CachedInputTokens, o.CachedInputTokens),
		CacheWriteTokens:   pick(u.CacheWriteTokens, o.CacheWriteTokens),
		CacheWrite1hTokens: pick(u.CacheWrite1hTokens, o.CacheWrite1hTokens),
		AudioInputTokens:   pick(u.AudioInputTokens, o.AudioInputTokens),
		ImageInputTokens:   pick(u.ImageInputTokens, o.ImageInputTokens),
		OutputTokens:       pick(u.OutputTokens, o.OutputTokens),
		ReasoningTokens:    pick(u.ReasoningTokens, o.ReasoningTokens),
		AudioOutputTokens:  pick(u.AudioOutputTokens, o.AudioOutputTokens),
		ImageOutputTokens:  pick(u.ImageOutputTokens, o.ImageOutputTokens),
		WebSearchRequests:  pick(u.WebSearchRequests, o.WebSearchRequests),
		GroundedPrompts:    pick(u.GroundedPrompts, o.GroundedPrompts),
	}
}
