package openai

import (
	"bytes"
	"net/http"
	"strings"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"switchboard/internal/endpoint"
	"switchboard/internal/gateway"
	"switchboard/internal/llm"
	"switchboard/internal/payload"
	"switchboard/internal/sse"
	"switchboard/internal/upstream"
)

// Chat is POST /v1/chat/completions.
var Chat endpoint.Spec = chatSpec{}

var (
	_ endpoint.Streamer      = chatSpec{}
	_ endpoint.ChatCodec     = chatSpec{}
	_ endpoint.ChannelFilter = chatSpec{}
)

// ServedBy: a channel whose models answer only the Responses API
// (settings.responses: only) gets chat calls translated to Responses.
func (chatSpec) ServedBy(ch *gateway.Channel) bool { return !upstream.OnlyResponses(ch) }

// optIncludeUsage: the client asked for stream_options.include_usage.
const optIncludeUsage uint64 = 1 << iota

// wire is what every OpenAI-format spec shares: the key, the error
// shapes and the family.
type wire struct{}

func (wire) Family() string { return upstream.FormatOpenAI }

// ClientKey reads the Bearer token the OpenAI SDKs send (or x-api-key,
// which some clients of OpenAI-compatible servers use).
func (wire) ClientKey(r *http.Request) string {
	if k := Bearer(r); k != "" {
		return k
	}
	return r.Header.Get("X-Api-Key")
}

func (wire) WriteError(w http.ResponseWriter, e *gateway.Error, requestID string) {
	WriteError(w, e, requestID)
}

func (wire) UpstreamError(status int, body []byte) *gateway.Error {
	return ParseUpstreamError(status, body)
}

// Bearer extracts a key from "Authorization: Bearer <key>".
func Bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

type chatSpec struct{ wire }

func (chatSpec) Endpoint() string { return "chat.completions" }
func (chatSpec) Op() upstream.Op  { return upstream.OpChat }

// Peek picks what routing needs in one pass over the top level; the rest
// of the body is never decoded on the pass-through path.
func (chatSpec) Peek(_ *http.Request, body payload.Body) (endpoint.Peek, error) {
	var p endpoint.Peek
	if body.JSON == nil {
		return p, gateway.Errorf(gateway.KindInvalidRequest, "the request body must be JSON")
	}
	var model, messages, stream, includeUsage, maxTokens, n gjson.Result
	endpoint.ParseJSON(body.JSON).ForEach(func(key, v gjson.Result) bool {
		switch key.Str {
		case "model":
			model = v
		case "messages":
			messages = v
		case "stream":
			stream = v
		case "stream_options":
			includeUsage = v.Get("include_usage")
		case "max_tokens", "max_completion_tokens":
			maxTokens = v
		case "n":
			n = v
		}
		return true
	})
	if model.Type != gjson.String || model.Str == "" {
		return p, gateway.Errorf(gateway.KindInvalidRequest, "you must provide a model parameter").WithParam("model").WithCode("missing_required_parameter")
	}
	if !messages.IsArray() {
		return p, gateway.Errorf(gateway.KindInvalidRequest, "'messages' is a required property and must be an array").WithParam("messages").WithCode("missing_required_parameter")
	}
	if stream.Exists() && stream.Type != gjson.True && stream.Type != gjson.False && stream.Type != gjson.Null {
		return p, gateway.Errorf(gateway.KindInvalidRequest, "'stream' must be a boolean").WithParam("stream")
	}
	p.Model, p.Stream, p.MaxOutput, p.N = strings.Clone(model.Str), stream.Type == gjson.True, maxTokens.Int(), int(n.Int())
	if includeUsage.Type == gjson.True {
		p.Opts |= optIncludeUsage
	}
	return p, nil
}

// PassRequest splices the upstream model in and, for a stream whose client
// did not ask for usage, asks for it: the gateway meters every call, and
// the stream writer strips the extra chunk.
func (chatSpec) PassRequest(p endpoint.Peek, body payload.Body, upstreamModel string) (upstream.Body, error) {
	b, err := setModel(body.JSON, p.Model, upstreamModel)
	if err != nil {
		return upstream.Body{}, err
	}
	if p.Stream && p.Opts&optIncludeUsage == 0 {
		if b, err = sjson.SetBytes(b, "stream_options.include_usage", true); err != nil {
			return upstream.Body{}, &gateway.Error{Kind: gateway.KindInvalidRequest, Message: "cannot set stream_options in the request body", Err: err}
		}
	}
	return upstream.JSON(b), nil
}

// setModel rewrites the body's model when the channel maps it.
func setModel(body []byte, model, upstreamModel string) ([]byte, error) {
	if upstreamModel == model {
		return body, nil
	}
	b, err := sjson.SetBytes(body, "model", upstreamModel)
	if err != nil {
		return nil, &gateway.Error{Kind: gateway.KindInvalidRequest, Message: "cannot set the model in the request body", Err: err}
	}
	return b, nil
}

func (chatSpec) ParseUsage(body []byte) (llm.Usage, bool) { return ParseUsage(body) }

func (chatSpec) CountAnswer(body []byte, c endpoint.TextCounter) {
	for _, path := range [...]string{"choices.#.message.content", "choices.#.message.reasoning_content", "choices.#.message.tool_calls.#.function.arguments"} {
		countStrings(gjson.GetBytes(body, path), c)
	}
}

// countStrings feeds the strings of a (possibly nested) gjson array result.
func countStrings(v gjson.Result, c endpoint.TextCounter) {
	if v.IsArray() {
		v.ForEach(func(_, e gjson.Result) bool { countStrings(e, c); return true })
		return
	}
	if v.Type == gjson.String && v.Str != "" {
		c.WriteString(v.Str)
	}
}

func (chatSpec) EventError(ev sse.Event) *gateway.Error { return eventError(ev) }

// eventError reads an error a stream carries: an `event: error` frame or
// a chunk with an "error" object (the SDKs raise on those).
func eventError(ev sse.Event) *gateway.Error {
	if string(ev.Event) != "error" && !bytes.Contains(ev.Data, errorKey) {
		return nil
	}
	if string(ev.Event) != "error" && !gjson.GetBytes(ev.Data, "error").IsObject() {
		return nil
	}
	status := int(gjson.GetBytes(ev.Data, "error.code").Int())
	if status < 400 || status > 599 {
		status = http.StatusBadGateway
	}
	e := ParseUpstreamError(status, ev.Data)
	e.Kind = gateway.KindUpstream
	return e
}

var errorKey = []byte(`"error"`)

func (chatSpec) EventUsage(ev sse.Event) (llm.Usage, bool, bool) {
	// bytes.Contains is vectorised; a byte-by-byte loop here was 2% of a
	// streaming gateway's CPU.
	if !bytes.Contains(ev.Data, usageKey) {
		return llm.Usage{}, false, false
	}
	u, ok := ParseUsage(ev.Data)
	return u, true, ok
}

var usageKey = []byte(`"usage"`)

func (chatSpec) EventText(ev sse.Event, c endpoint.TextCounter) bool {
	if t, ok := contentOnlyText(ev.Data); ok {
		if len(t) == 0 {
			return false
		}
		if w, ok := c.(interface{ Write([]byte) }); ok {
			w.Write(t) // no string copy: the token counter takes bytes
		} else {
			c.WriteString(string(t))
		}
		return true
	}
	return eventTextWalk(ev.Data, c)
}

// eventTextWalk is EventText for any chunk: the text fields of
// choices[0].delta, and whether it carried content.
func eventTextWalk(data []byte, c endpoint.TextCounter) bool {
	d := gjson.GetBytes(data, "choices.0.delta")
	if !d.Exists() {
		return false
	}
	content := false
	d.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "content", "reasoning_content", "reasoning", "refusal":
			if v.Type == gjson.String && v.Str != "" {
				c.WriteString(v.Str)
				content = true
			}
		case "tool_calls":
			v.ForEach(func(_, tc gjson.Result) bool {
				if a := tc.Get("function.arguments"); a.Str != "" {
					c.WriteString(a.Str)
				}
				content = true
				return true
			})
		case "audio":
			content = true
		}
		return true
	})
	return content
}

func (chatSpec) Terminal(ev sse.Event) bool { return bytes.Equal(ev.Data, doneMarker) }
func (chatSpec) NeedsTerminal() bool        { return true }

func (chatSpec) NewStreamWriter(w http.ResponseWriter, p endpoint.Peek) endpoint.StreamWriter {
	return &streamWriter{sw: sse.NewWriter(w), dropUsage: p.Opts&optIncludeUsage == 0}
}

// streamWriter relays OpenAI SSE verbatim.
type streamWriter struct {
	sw *sse.Writer
	// dropUsage: the usage-only chunk was asked for by the gateway, not
	// the client; many clients index choices[0] and must not see it.
	dropUsage bool
}

func (s *streamWriter) ContentType() string { return "text/event-stream" }

func (s *streamWriter) Event(ev sse.Event, flush bool) error {
	if s.dropUsage && ev.Data != nil && isUsageOnlyChunk(ev.Data) {
		return nil
	}
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
	// The OpenAI SDKs raise an error for a chunk carrying "error".
	return s.sw.WriteData(ErrorBody(e, requestID))
}

// isUsageOnlyChunk reports an OpenAI chunk with an empty choices array.
func isUsageOnlyChunk(data []byte) bool {
	if !bytes.Contains(data, usageKey) {
		return false
	}
	ch := gjson.GetBytes(data, "choices")
	return ch.IsArray() && len(ch.Raw) <= 4 && bytes.IndexByte([]byte(ch.Raw), '{') < 0
}

func (chatSpec) DecodeChat(_ endpoint.Peek, body payload.Body) (*llm.Request, error) {
	return DecodeRequest(body.JSON)
}

func (chatSpec) EncodeChat(resp *llm.Response, _ endpoint.Peek) ([]byte, error) {
	return EncodeResponse(resp)
}

func (chatSpec) NewChatEncoder(p endpoint.Peek, o endpoint.EncoderOptions) endpoint.ChatEncoder {
	return NewStreamEncoder(StreamOptions{ID: o.ID, Model: p.Model, Created: o.Created, IncludeUsage: p.Opts&optIncludeUsage != 0})
}

func (chatSpec) EncodeChatRequest(req *llm.Request) ([]byte, any, error) {
	b, err := EncodeRequest(req)
	return b, nil, err
}

func (chatSpec) DecodeChatResponse(body []byte, _ any) (*llm.Response, error) {
	return DecodeResponse(body)
}

func (chatSpec) NewChatDecoder(any) endpoint.ChatDecoder { return NewStreamDecoder() }

// ContentType is the Content-Type of the streams the encoder writes.
func (e *StreamEncoder) ContentType() string { return "text/event-stream" }
