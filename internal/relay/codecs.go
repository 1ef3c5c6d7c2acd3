package relay

import (
	"time"

	"switchboard/internal/format/anthropic"
	"switchboard/internal/format/gemini"
	"switchboard/internal/format/openai"
	"switchboard/internal/gateway"
	"switchboard/internal/llm"
	"switchboard/internal/sse"
	"switchboard/internal/tokencount"
	"switchboard/internal/upstream"

	"github.com/tidwall/gjson"
)

// The adapters below give the three chat codecs one shape for the
// translation path; each format package stays free of the others.

type openaiCodec struct{}

func (openaiCodec) DecodeRequest(_ string, body []byte) (*llm.Request, error) {
	return openai.DecodeRequest(body)
}
func (openaiCodec) EncodeRequest(req *llm.Request) ([]byte, any, error) {
	b, err := openai.EncodeRequest(req)
	return b, nil, err
}
func (openaiCodec) DecodeResponse(body []byte, _ any) (*llm.Response, error) {
	return openai.DecodeResponse(body)
}
func (openaiCodec) EncodeResponse(resp *llm.Response) ([]byte, error) {
	return openai.EncodeResponse(resp)
}
func (openaiCodec) NewStreamDecoder(any) streamDecoder { return openai.NewStreamDecoder() }
func (openaiCodec) NewStreamEncoder(c *Call, id, model string) streamEncoder {
	return openai.NewStreamEncoder(openai.StreamOptions{ID: id, Model: model, Created: time.Now().Unix(), IncludeUsage: c.IncludeUsage})
}
func (openaiCodec) UpstreamError(status int, body []byte) *gateway.Error {
	return openai.ParseUpstreamError(status, body)
}
func (openaiCodec) ContentType(*Call) string { return "text/event-stream" }

type anthropicCodec struct{}

func (anthropicCodec) DecodeRequest(_ string, body []byte) (*llm.Request, error) {
	return anthropic.DecodeRequest(body)
}
func (anthropicCodec) EncodeRequest(req *llm.Request) ([]byte, any, error) {
	b, emu, err := anthropic.EncodeRequestOpts(req, anthropic.EncodeOptions{})
	return b, emu, err
}
func (anthropicCodec) DecodeResponse(body []byte, emu any) (*llm.Response, error) {
	e, _ := emu.(anthropic.Emulation)
	return anthropic.DecodeResponseWith(body, e)
}
func (anthropicCodec) EncodeResponse(resp *llm.Response) ([]byte, error) {
	return anthropic.EncodeResponse(resp)
}
func (anthropicCodec) NewStreamDecoder(emu any) streamDecoder {
	e, _ := emu.(anthropic.Emulation)
	return anthropic.NewStreamDecoderWith(e)
}
func (anthropicCodec) NewStreamEncoder(c *Call, id, model string) streamEncoder {
	return anthropic.NewStreamEncoder(anthropic.StreamOptions{ID: id, Model: model,
		EstimateInput: func() int64 { return estimateUsage(c.Body, nil).InputTokens }})
}
func (anthropicCodec) UpstreamError(status int, body []byte) *gateway.Error {
	return anthropic.ParseUpstreamError(status, body)
}
func (anthropicCodec) ContentType(*Call) string { return "text/event-stream" }

type geminiCodec struct{}

func (geminiCodec) DecodeRequest(model string, body []byte) (*llm.Request, error) {
	return gemini.DecodeRequest(model, body)
}
func (geminiCodec) EncodeRequest(req *llm.Request) ([]byte, any, error) {
	b, err := gemini.EncodeRequest(req)
	return b, nil, err
}
func (geminiCodec) DecodeResponse(body []byte, _ any) (*llm.Response, error) {
	return gemini.DecodeResponse(body)
}
func (geminiCodec) EncodeResponse(resp *llm.Response) ([]byte, error) {
	return gemini.EncodeResponse(resp)
}
func (geminiCodec) NewStreamDecoder(any) streamDecoder { return gemini.NewStreamDecoder() }
func (geminiCodec) NewStreamEncoder(c *Call, id, model string) streamEncoder {
	return gemini.NewStreamEncoder(gemini.StreamOptions{Model: model, ResponseID: id, SSE: c.GeminiSSE})
}
func (geminiCodec) UpstreamError(status int, body []byte) *gateway.Error {
	return gemini.ParseUpstreamError(status, body)
}
func (geminiCodec) ContentType(c *Call) string {
	if c.GeminiSSE {
		return "text/event-stream"
	}
	return "application/json"
}

func init() {
	codecs[upstream.FormatOpenAI] = openaiCodec{}
	codecs[upstream.FormatAnthropic] = anthropicCodec{}
	codecs[upstream.FormatGemini] = geminiCodec{}

	wires[upstream.FormatAnthropic] = &wire{
		parseUsage:    anthropic.ParseUsage,
		upstreamError: anthropic.ParseUpstreamError,
		streamUsage: func(ev sse.Event) (llm.Usage, bool) {
			switch string(ev.Event) {
			case "message_start", "message_delta":
				return anthropic.ParseUsage(ev.Data)
			}
			return llm.Usage{}, false
		},
		streamText: func(data []byte, c *tokencount.Stream) bool {
			d := gjson.GetBytes(data, "delta")
			if !d.Exists() || gjson.GetBytes(data, "type").Str != "content_block_delta" {
				return gjson.GetBytes(data, "type").Str == "content_block_start"
			}
			for _, k := range [...]string{"text", "thinking", "partial_json"} {
				if v := d.Get(k); v.Str != "" {
					c.WriteString(v.Str)
				}
			}
			return true
		},
		terminal:      func(ev sse.Event) bool { return string(ev.Event) == "message_stop" },
		needsTerminal: true,
		streamError: func(sw *sse.Writer, e *gateway.Error, requestID string) {
			_ = sw.WriteEvent("error", anthropic.ErrorBody(e, requestID))
		},
	}
	wires[upstream.FormatGemini] = &wire{
		parseUsage:    gemini.ParseUsage,
		upstreamError: gemini.ParseUpstreamError,
		streamUsage: func(ev sse.Event) (llm.Usage, bool) {
			return gemini.ParseUsage(ev.Data)
		},
		streamText: func(data []byte, c *tokencount.Stream) bool {
			any := false
			gjson.GetBytes(data, "candidates.0.content.parts").ForEach(func(_, p gjson.Result) bool {
				if t := p.Get("text"); t.Str != "" {
					c.WriteString(t.Str)
				}
				if fc := p.Get("functionCall"); fc.Exists() {
					c.WriteString(fc.Raw)
				}
				any = true
				return true
			})
			return any
		},
		terminal: func(sse.Event) bool { return false },
		// Gemini streams end at EOF; a cut stream is seen by finishReason
		// missing, which the pass-through path does not track.
		needsTerminal: false,
		streamError: func(sw *sse.Writer, e *gateway.Error, requestID string) {
			_ = sw.WriteData(gemini.ErrorBody(e, requestID))
		},
	}
}
