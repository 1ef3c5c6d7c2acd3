package relay

import (
	"bytes"

	"github.com/tidwall/gjson"

	"switchboard/internal/format/anthropic"
	"switchboard/internal/format/gemini"
	"switchboard/internal/format/openai"
	"switchboard/internal/gateway"
	"switchboard/internal/llm"
	"switchboard/internal/sse"
	"switchboard/internal/tokencount"
	"switchboard/internal/upstream"
)

// wire is what the pass-through path needs to know of a format: where usage
// and generated text sit in its events, which event ends a stream, and how
// it spells errors.
type wire struct {
	parseUsage    func(body []byte) (llm.Usage, bool)
	upstreamError func(status int, body []byte) *gateway.Error
	streamUsage   func(ev sse.Event) (llm.Usage, bool)
	// streamText feeds generated text of one event to the counter and
	// reports whether the event carried any (for time to first token).
	streamText func(data []byte, c *tokencount.Stream) bool
	// terminal reports the event that ends a stream; the ledger is written
	// before it is forwarded.
	terminal func(ev sse.Event) bool
	// needsTerminal: a stream without its terminal event was cut short.
	needsTerminal bool
	streamError   func(sw *sse.Writer, e *gateway.Error, requestID string)
}

var wires = map[string]*wire{}

func wireOf(format string) *wire {
	if w, ok := wires[format]; ok {
		return w
	}
	return wires[upstream.FormatOpenAI]
}

func init() {
	wires[upstream.FormatOpenAI] = &wire{
		parseUsage:    openai.ParseUsage,
		upstreamError: openai.ParseUpstreamError,
		streamUsage: func(ev sse.Event) (llm.Usage, bool) {
			if !containsUsage(ev.Data) {
				return llm.Usage{}, false
			}
			return openai.ParseUsage(ev.Data)
		},
		streamText: func(data []byte, c *tokencount.Stream) bool {
			d := gjson.GetBytes(data, "choices.0.delta")
			if !d.Exists() {
				return false
			}
			any := false
			d.ForEach(func(k, v gjson.Result) bool {
				switch k.Str {
				case "content", "reasoning_content", "reasoning", "refusal":
					if v.Type == gjson.String && v.Str != "" {
						c.WriteString(v.Str)
						any = true
					}
				case "tool_calls":
					v.ForEach(func(_, tc gjson.Result) bool {
						if a := tc.Get("function.arguments"); a.Str != "" {
							c.WriteString(a.Str)
						}
						any = true
						return true
					})
				case "audio":
					any = true
				}
				return true
			})
			return any
		},
		terminal:      func(sse.Event) bool { return false }, // [DONE] is handled by the caller
		needsTerminal: true,
		streamError: func(sw *sse.Writer, e *gateway.Error, requestID string) {
			// The OpenAI SDKs raise an error for a chunk carrying "error".
			_ = sw.WriteData(openai.ErrorBody(e, requestID))
		},
	}
}

// containsUsage is a cheap pre-check so most chunks skip the usage parse.
func containsUsage(data []byte) bool {
	// bytes.Contains is vectorised; a byte-by-byte loop here was 2% of a
	// streaming gateway's CPU.
	return bytes.Contains(data, usageKey)
}

var usageKey = []byte(`"usage"`)

// wireErrorBody renders an error body in a format's shape.
func wireErrorBody(format string, e *gateway.Error, requestID string) []byte {
	switch format {
	case upstream.FormatGemini:
		return gemini.ErrorBody(e, requestID)
	case upstream.FormatAnthropic:
		return anthropic.ErrorBody(e, requestID)
	}
	return openai.ErrorBody(e, requestID)
}
