package openai

import (
	"github.com/tidwall/gjson"

	"switchboard/internal/llm"
)

// ParseUsage reads the `usage` object of a chat completion (or of one
// stream chunk) without decoding the rest of the body. It reports false when
// the body has no usage object.
func ParseUsage(body []byte) (llm.Usage, bool) {
	u := gjson.GetBytes(body, "usage")
	if !u.IsObject() {
		return llm.Usage{}, false
	}
	return UsageFromResult(u), true
}

// UsageFromResult maps an OpenAI usage object (chat or embeddings, and the
// Responses API's input_tokens/output_tokens spelling) to llm.Usage.
func UsageFromResult(u gjson.Result) llm.Usage {
	var out llm.Usage
	u.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "prompt_tokens", "input_tokens":
			out.InputTokens = v.Int()
		case "completion_tokens", "output_tokens":
			out.OutputTokens = v.Int()
		case "prompt_tokens_details", "input_tokens_details":
			out.CachedInputTokens = v.Get("cached_tokens").Int()
			out.AudioInputTokens = v.Get("audio_tokens").Int()
			out.ImageInputTokens = v.Get("image_tokens").Int()
			// Some compatible servers report cache writes here.
			out.CacheWriteTokens = v.Get("cache_creation_tokens").Int()
		case "completion_tokens_details", "output_tokens_details":
			out.ReasoningTokens = v.Get("reasoning_tokens").Int()
			out.AudioOutputTokens = v.Get("audio_tokens").Int()
			out.ImageOutputTokens = v.Get("image_tokens").Int()
		case "prompt_cache_hit_tokens": // DeepSeek
			if out.CachedInputTokens == 0 {
				out.CachedInputTokens = v.Int()
			}
		}
		return true
	})
	return out
}
