package anthropic

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"switchboard/internal/endpoint"
	"switchboard/internal/gateway"
	"switchboard/internal/llm"
	"switchboard/internal/payload"
	"switchboard/internal/sse"
	"switchboard/internal/tokencount"
	"switchboard/internal/upstream"
)

// Messages is POST /v1/messages (also with ?beta=true, which Claude Code
// sends; the query string passes through to Anthropic upstreams).
var Messages endpoint.Spec = messagesSpec{}

// CountTokens is POST /v1/messages/count_tokens: relayed to Anthropic
// channels for their exact count, estimated by the gateway otherwise.
var CountTokens endpoint.Spec = countTokensSpec{}

var (
	_ endpoint.Streamer      = messagesSpec{}
	_ endpoint.ChatCodec     = messagesSpec{}
	_ endpoint.Passer        = countTokensSpec{}
	_ endpoint.LocalAnswerer = countTokensSpec{}
	_ endpoint.Free          = countTokensSpec{}
)

// wire is what every Anthropic-format spec shares.
type wire struct{}

func (wire) Family() string { return upstream.FormatAnthropic }

// ClientKey reads the key as Anthropic's SDKs send it (x-api-key), or as a
// Bearer token (Claude Code with ANTHROPIC_AUTH_TOKEN, other clients).
func (wire) ClientKey(r *http.Request) string {
	if k := r.Header.Get("X-Api-Key"); k != "" {
		return k
	}
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

func (wire) WriteError(w http.ResponseWriter, e *gateway.Error, requestID string) {
	WriteError(w, e, requestID)
}

func (wire) UpstreamError(status int, body []byte) *gateway.Error {
	return ParseUpstreamError(status, body)
}

// PassRequest forwards the body with the upstream's model name.
func (wire) PassRequest(p endpoint.Peek, body payload.Body, upstreamModel string) (upstream.Body, error) {
	b := body.JSON
	if upstreamModel != p.Model {
		var err error
		if b, err = sjson.SetBytes(b, "model", upstreamModel); err != nil {
			return upstream.Body{}, &gateway.Error{Kind: gateway.KindInvalidRequest, Message: "cannot set the model in the request body", Err: err}
		}
	}
	return upstream.JSON(b), nil
}

type messagesSpec struct{ wire }

func (messagesSpec) Endpoint() string { return "messages" }
func (messagesSpec) Op() upstream.Op  { return upstream.OpChat }

// peekMessages reads the fields routing needs of a Messages body.
func peekMessages(body payload.Body) (p endpoint.Peek, messages gjson.Result, err error) {
	if body.JSON == nil {
		return p, messages, gateway.Errorf(gateway.KindInvalidRequest, "the request body must be JSON")
	}
	var model, stream, maxTokens gjson.Result
	endpoint.ParseJSON(body.JSON).ForEach(func(key, v gjson.Result) bool {
		switch key.Str {
		case "model":
			model = v
		case "messages":
			messages = v
		case "stream":
			stream = v
		case "max_tokens":
			maxTokens = v
		}
		return true
	})
	if model.Type != gjson.String || model.Str == "" {
		return p, messages, gateway.Errorf(gateway.KindInvalidRequest, "model: field required").WithParam("model")
	}
	if !messages.IsArray() {
		return p, messages, gateway.Errorf(gateway.KindInvalidRequest, "messages: field required").WithParam("messages")
	}
	if maxTokens.Exists() && (maxTokens.Type != gjson.Number || maxTokens.Int() < 1) {
		return p, messages, gateway.Errorf(gateway.KindInvalidRequest, "max_tokens: must be a positive integer").WithParam("max_tokens")
	}
	p.Model, p.Stream, p.MaxOutput = strings.Clone(model.Str), stream.Type == gjson.True, maxTokens.Int()
	return p, messages, nil
}

func (messagesSpec) Peek(_ *http.Request, body payload.Body) (endpoint.Peek, error) {
	p, _, err := peekMessages(body)
	return p, err
}

func (messagesSpec) ParseUsage(body []byte) (llm.Usage, bool) { return ParseUsage(body) }

func (messagesSpec) CountAnswer(body []byte, c endpoint.TextCounter) {
	gjson.GetBytes(body, "content").ForEach(func(_, b gjson.Result) bool {
		for _, k := range [...]string{"text", "thinking"} {
			if v := b.Get(k); v.Str != "" {
				c.WriteString(v.Str)
			}
		}
		if in := b.Get("input"); in.IsObject() {
			c.WriteString(in.Raw)
		}
		return true
	})
}

// EventError reads Anthropic's `event: error` frame.
func (messagesSpec) EventError(ev sse.Event) *gateway.Error {
	if string(ev.Event) != "error" && gjson.GetBytes(ev.Data, "type").Str != "error" {
		return nil
	}
	e := ParseUpstreamError(http.StatusBadGateway, ev.Data)
	if gjson.GetBytes(ev.Data, "error.type").Str == "overloaded_error" {
		e.Status = StatusOverloaded
	}
	e.Kind = gateway.KindUpstream
	return e
}

// EventUsage reads usage from message_start (input, and a placeholder
// output count) and message_delta (the final output count).
func (messagesSpec) EventUsage(ev sse.Event) (llm.Usage, bool, bool) {
	switch string(ev.Event) {
	case "message_start":
		u, ok := ParseUsage(ev.Data)
		return u, false, ok
	case "message_delta":
		u, ok := ParseUsage(ev.Data)
		return u, true, ok
	}
	return llm.Usage{}, false, false
}

func (messagesSpec) EventText(ev sse.Event, c endpoint.TextCounter) bool {
	switch string(ev.Event) {
	case "content_block_start":
		return true
	case "content_block_delta":
	default:
		return false
	}
	d := gjson.GetBytes(ev.Data, "delta")
	for _, k := range [...]string{"text", "thinking", "partial_json"} {
		if v := d.Get(k); v.Str != "" {
			c.WriteString(v.Str)
		}
	}
	return true
}

func (messagesSpec) Terminal(ev sse.Event) bool { return string(ev.Event) == "message_stop" }
func (messagesSpec) NeedsTerminal() bool        { return true }

func (messagesSpec) NewStreamWriter(w http.ResponseWriter, _ endpoint.Peek) endpoint.StreamWriter {
	return &streamWriter{sw: sse.NewWriter(w)}
}

// streamWriter relays Anthropic SSE verbatim.
type streamWriter struct{ sw *sse.Writer }

func (s *streamWriter) ContentType() string { return "text/event-stream" }

func (s *streamWriter) Event(ev sse.Event, flush bool) error {
	if flush {
		return s.sw.WriteRaw(ev.Raw)
	}
	return s.sw.WriteRawNoFlush(ev.Raw)
}

func (s *streamWriter) End(terminal *sse.Event) error {
	if terminal == nil {
		return s.sw.Flush()
	}
	return s.sw.WriteRaw(terminal.Raw)
}

func (s *streamWriter) Error(e *gateway.Error, requestID string) error {
	return s.sw.WriteEvent("error", ErrorBody(e, requestID))
}

func (messagesSpec) DecodeChat(_ endpoint.Peek, body payload.Body) (*llm.Request, error) {
	return DecodeRequest(body.JSON)
}

func (messagesSpec) EncodeChat(resp *llm.Response, _ endpoint.Peek) ([]byte, error) {
	return EncodeResponse(resp)
}

func (messagesSpec) NewChatEncoder(p endpoint.Peek, o endpoint.EncoderOptions) endpoint.ChatEncoder {
	return NewStreamEncoder(StreamOptions{ID: o.ID, Model: p.Model, EstimateInput: o.EstimateInput})
}

func (messagesSpec) EncodeChatRequest(req *llm.Request) ([]byte, any, error) {
	b, emu, err := EncodeRequestOpts(req, EncodeOptions{})
	return b, emu, err
}

func (messagesSpec) DecodeChatResponse(body []byte, emu any) (*llm.Response, error) {
	e, _ := emu.(Emulation)
	return DecodeResponseWith(body, e)
}

func (messagesSpec) NewChatDecoder(emu any) endpoint.ChatDecoder {
	e, _ := emu.(Emulation)
	return NewStreamDecoderWith(e)
}

// ContentType is the Content-Type of the streams the encoder writes.
func (e *StreamEncoder) ContentType() string { return "text/event-stream" }

type countTokensSpec struct{ wire }

func (countTokensSpec) Endpoint() string { return "messages.count_tokens" }
func (countTokensSpec) Op() upstream.Op  { return upstream.OpCountToken }
func (countTokensSpec) Free()            {}

func (countTokensSpec) Peek(_ *http.Request, body payload.Body) (endpoint.Peek, error) {
	p, _, err := peekMessages(body)
	p.Stream = false // count_tokens never streams, whatever the body says
	return p, err
}

func (countTokensSpec) ParseUsage([]byte) (llm.Usage, bool)      { return llm.Usage{}, false }
func (countTokensSpec) CountAnswer([]byte, endpoint.TextCounter) {}

// AnswerLocally estimates the count with the embedded tokenizer over the
// request's text, tool definitions and system prompt, for models no
// Anthropic channel serves.
func (countTokensSpec) AnswerLocally(_ endpoint.Peek, body payload.Body) ([]byte, error) {
	req, err := DecodeRequest(body.JSON)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]int64{"input_tokens": tokencount.Request(req)})
}
