package gemini

import (
	"github.com/tidwall/gjson"

	"switchboard/internal/llm"
)

// ParseUsage reads usageMetadata from a generateContent response body or
// from one stream chunk's data, without decoding the rest. A whole
// JSON-array stream body is accepted too: its last usage wins, since Gemini
// reports usage cumulatively.
func ParseUsage(body []byte) (llm.Usage, bool) {
	r := gjson.ParseBytes(body)
	if r.IsArray() {
		var last gjson.Result
		var searches, grounded int64
		for _, e := range r.Array() {
			if u := usageField(e); u.IsObject() {
				last = u
			}
			if q, g := groundingCounts(e.Get("candidates")); g > 0 {
				searches, grounded = q, g
			}
		}
		if !last.Exists() && grounded == 0 {
			return llm.Usage{}, false
		}
		u := UsageFromResult(last)
		u.WebSearchRequests, u.GroundedPrompts = searches, grounded
		return u, true
	}
	u := usageField(r)
	searches, grounded := groundingCounts(r.Get("candidates"))
	if !u.IsObject() && grounded == 0 {
		return llm.Usage{}, false
	}
	out := UsageFromResult(u)
	out.WebSearchRequests, out.GroundedPrompts = searches, grounded
	return out, true
}

// groundingCounts reads Google Search grounding from a response's
// candidates: the search queries run (Gemini 3 bills per query) and
// whether the answer was grounded at all (Gemini 2.x bills per grounded
// prompt, once however many candidates were grounded).
func groundingCounts(cands gjson.Result) (queries, grounded int64) {
	for _, c := range cands.Array() {
		g := c.Get("groundingMetadata")
		if !g.Exists() {
			g = c.Get("grounding_metadata")
		}
		if !g.IsObject() {
			continue
		}
		q := g.Get("webSearchQueries")
		if !q.Exists() {
			q = g.Get("web_search_queries")
		}
		queries += int64(len(q.Array()))
		grounded = 1
	}
	return queries, grounded
}

func usageField(r gjson.Result) gjson.Result {
	if u := r.Get("usageMetadata"); u.Exists() {
		return u
	}
	return r.Get("usage_metadata")
}

// UsageFromResult maps a usageMetadata object to the hub's totals: input
// is the prompt plus tool-use prompt tokens (cached tokens are already part
// of promptTokenCount); output is candidates plus thoughts, which Gemini
// reports apart.
func UsageFromResult(u gjson.Result) llm.Usage {
	var out llm.Usage
	var toolUse int64
	u.ForEach(func(k, v gjson.Result) bool {
		switch camel(k.Str) {
		case "promptTokenCount":
			out.InputTokens += v.Int()
		case "toolUsePromptTokenCount":
			toolUse = v.Int()
		case "candidatesTokenCount":
			out.OutputTokens += v.Int()
		case "thoughtsTokenCount":
			out.ReasoningTokens = v.Int()
			out.OutputTokens += v.Int()
		case "cachedContentTokenCount":
			out.CachedInputTokens = v.Int()
		case "promptTokensDetails":
			for _, d := range v.Array() {
				switch modality(d) {
				case "AUDIO":
					out.AudioInputTokens += tokenCount(d)
				case "IMAGE", "VIDEO":
					out.ImageInputTokens += tokenCount(d)
				}
			}
		case "candidatesTokensDetails":
			for _, d := range v.Array() {
				switch modality(d) {
				case "AUDIO":
					out.AudioOutputTokens += tokenCount(d)
				case "IMAGE":
					out.ImageOutputTokens += tokenCount(d)
				}
			}
		}
		return true
	})
	out.InputTokens += toolUse
	return out
}

func modality(d gjson.Result) string { return d.Get("modality").String() }

func tokenCount(d gjson.Result) int64 {
	if c := d.Get("tokenCount"); c.Exists() {
		return c.Int()
	}
	return d.Get("token_count").Int()
}

type outModalityCount struct {
	Modality   string `json:"modality"`
	TokenCount int64  `json:"tokenCount"`
}

type outUsage struct {
	PromptTokenCount        int64              `json:"promptTokenCount"`
	CandidatesTokenCount    int64              `json:"candidatesTokenCount"`
	TotalTokenCount         int64              `json:"totalTokenCount"`
	CachedContentTokenCount int64              `json:"cachedContentTokenCount,omitempty"`
	ThoughtsTokenCount      int64              `json:"thoughtsTokenCount,omitempty"`
	PromptTokensDetails     []outModalityCount `json:"promptTokensDetails,omitempty"`
	CandidatesTokensDetails []outModalityCount `json:"candidatesTokensDetails,omitempty"`
}

// usageOut is the inverse of UsageFromResult. Tool-use prompt tokens stay
// inside promptTokenCount: the hub does not keep them apart.
func usageOut(u llm.Usage) *outUsage {
	o := &outUsage{
		PromptTokenCount:        u.InputTokens,
		CandidatesTokenCount:    u.OutputTokens - u.ReasoningTokens,
		TotalTokenCount:         u.InputTokens + u.OutputTokens,
		CachedContentTokenCount: u.CachedInputTokens,
		ThoughtsTokenCount:      u.ReasoningTokens,
	}
	if u.ImageInputTokens > 0 {
		o.PromptTokensDetails = append(o.PromptTokensDetails, outModalityCount{"IMAGE", u.ImageInputTokens})
	}
	if u.AudioInputTokens > 0 {
		o.PromptTokensDetails = append(o.PromptTokensDetails, outModalityCount{"AUDIO", u.AudioInputTokens})
	}
	if u.ImageOutputTokens > 0 {
		o.CandidatesTokensDetails = append(o.CandidatesTokensDetails, outModalityCount{"IMAGE", u.ImageOutputTokens})
	}
	if u.AudioOutputTokens > 0 {
		o.CandidatesTokensDetails = append(o.CandidatesTokensDetails, outModalityCount{"AUDIO", u.AudioOutputTokens})
	}
	return o
}
