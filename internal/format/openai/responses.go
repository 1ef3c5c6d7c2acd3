package openai

import (
	"net/http"
	"strconv"
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

// Responses is POST /v1/responses, the OpenAI Responses API. It passes
// through to channels that serve it natively (OpenAI, Azure, and
// OpenAI-compatible servers flagged with settings.responses: native),
// untouched but for the model, so item and tool types the gateway does not
// know travel as the client sent them; elsewhere it is translated through
// the chat hub (responses_codec.go).
var Responses endpoint.Spec = responsesSpec{}

var (
	_ endpoint.Streamer         = responsesSpec{}
	_ endpoint.ChannelFilter    = responsesSpec{}
	_ endpoint.TokenStripper    = responsesSpec{}
	_ endpoint.FailoverStripper = responsesSpec{}
	_ endpoint.HeaderRelayer    = responsesSpec{}
)

type responsesSpec struct{ wire }

func (responsesSpec) Endpoint() string { return "responses" }
func (responsesSpec) Op() upstream.Op  { return upstream.OpResponses }

// ServedBy: only some OpenAI-format channels speak the Responses API;
// the others get chat completions.
func (responsesSpec) ServedBy(ch *gateway.Channel) bool { return upstream.ServesResponses(ch) }

// Peek reads model, stream and max_output_tokens, and checks the shapes
// of input and instructions; the rest is the codec's (or the upstream's).
func (responsesSpec) Peek(r *http.Request, body payload.Body) (endpoint.Peek, error) {
	var p endpoint.Peek
	if body.JSON == nil {
		return p, gateway.Errorf(gateway.KindInvalidRequest, "the request body must be JSON")
	}
	root := endpoint.ParseJSON(body.JSON)
	if !root.IsObject() {
		return p, gateway.Errorf(gateway.KindInvalidRequest, "the request body must be a JSON object")
	}
	var model, input, stream, maxOut, instructions, cacheKey gjson.Result
	root.ForEach(func(key, v gjson.Result) bool {
		switch key.Str {
		case "model":
			model = v
		case "input":
			input = v
		case "stream":
			stream = v
		case "max_output_tokens":
			maxOut = v
		case "instructions":
			instructions = v
		case "prompt_cache_key":
			cacheKey = v
		}
		return true
	})
	if model.Type != gjson.String || model.Str == "" {
		return p, gateway.Errorf(gateway.KindInvalidRequest, "you must provide a model parameter").WithParam("model").WithCode("missing_required_parameter")
	}
	if input.Exists() && input.Type != gjson.String && !input.IsArray() && input.Type != gjson.Null {
		return p, gateway.Errorf(gateway.KindInvalidRequest, "'input' must be a string or an array of input items").WithParam("input")
	}
	if instructions.Exists() && instructions.Type != gjson.String && !instructions.IsArray() && instructions.Type != gjson.Null {
		return p, gateway.Errorf(gateway.KindInvalidRequest, "'instructions' must be a string").WithParam("instructions")
	}
	if stream.Exists() && stream.Type != gjson.True && stream.Type != gjson.False && stream.Type != gjson.Null {
		return p, gateway.Errorf(gateway.KindInvalidRequest, "'stream' must be a boolean").WithParam("stream")
	}
	if maxOut.Exists() && maxOut.Type != gjson.Null && (maxOut.Type != gjson.Number || maxOut.Int() < 1) {
		return p, gateway.Errorf(gateway.KindInvalidRequest, "'max_output_tokens' must be a positive integer").WithParam("max_output_tokens")
	}
	p.Model, p.Stream, p.MaxOutput = strings.Clone(model.Str), stream.Type == gjson.True, maxOut.Int()
	p.Affinity = responsesAffinity(r, cacheKey)
	return p, nil
}

// responsesAffinity is the conversation a call belongs to: its
// prompt_cache_key (Codex sends the thread id), else the session headers
// Codex sends (older builds spelled them session_id, conversation_id).
// The key is tenant-chosen, so it only orders the channels the key may
// use anyway.
func responsesAffinity(r *http.Request, cacheKey gjson.Result) string {
	if cacheKey.Type == gjson.String && cacheKey.Str != "" {
		return strings.Clone(cacheKey.Str)
	}
	if r == nil {
		return ""
	}
	for _, h := range [...]string{"Session-Id", "Thread-Id", "Session_id", "Conversation_id"} {
		if v := r.Header.Get(h); v != "" {
			return v
		}
	}
	return ""
}

// StripForFailover drops the input items holding encrypted content (OpenAI
// reasoning, compactions) when a call moves to another channel: only the
// account that produced them can decrypt them, and any other refuses the
// whole call ("invalid_encrypted_content").
func (responsesSpec) StripForFailover(body []byte) ([]byte, error) {
	return dropItems(body, func(it gjson.Result) bool { return it.Get("encrypted_content").Type == gjson.String })
}

// PassRequest maps the model and drops the reasoning items that hold
// another provider's token in the gateway's envelope (a turn answered by
// Claude or Gemini, continued on OpenAI): OpenAI cannot verify them and
// would refuse the call. Everything else passes untouched; a Responses
// stream always ends with its usage, so nothing needs asking for.
func (responsesSpec) PassRequest(p endpoint.Peek, body payload.Body, upstreamModel string) (upstream.Body, error) {
	b, err := setModel(body.JSON, p.Model, upstreamModel)
	if err != nil {
		return upstream.Body{}, err
	}
	if llm.HoldsWrappedToken(b) {
		if b, err = stripForeignReasoning(b); err != nil {
			return upstream.Body{}, err
		}
	}
	return upstream.JSON(b), nil
}

func (responsesSpec) StripsWrappedTokens() {}

// RelayHeaders: Codex reads these from the answer; x-codex-turn-state is
// what it sends back on the turn's next request.
func (responsesSpec) RelayHeaders() []string {
	return []string{"X-Codex-Turn-State", "X-Models-Etag", "X-Reasoning-Included", "OpenAI-Model"}
}

// stripForeignReasoning removes input items whose encrypted_content is an
// envelope (every envelope holds a token of a provider other than the
// client's own).
func stripForeignReasoning(body []byte) ([]byte, error) {
	return dropItems(body, func(it gjson.Result) bool {
		ec := it.Get("encrypted_content")
		return ec.Type == gjson.String && strings.HasPrefix(ec.Str, llm.WrappedTokenPrefix)
	})
}

// dropItems removes the input items drop selects.
func dropItems(body []byte, drop func(gjson.Result) bool) ([]byte, error) {
	input := gjson.GetBytes(body, "input")
	if !input.IsArray() {
		return body, nil
	}
	out := make([]byte, 0, len(input.Raw))
	out = append(out, '[')
	n := 0
	input.ForEach(func(_, it gjson.Result) bool {
		if drop(it) {
			return true
		}
		if n > 0 {
			out = append(out, ',')
		}
		out = append(out, it.Raw...)
		n++
		return true
	})
	out = append(out, ']')
	b, err := sjson.SetRawBytes(body, "input", out)
	if err != nil {
		return nil, &gateway.Error{Kind: gateway.KindInvalidRequest, Message: "cannot rewrite the request's input", Err: err}
	}
	return b, nil
}

// ParseUsage reads a Response object's usage (input_tokens, output_tokens
// and their details).
func (responsesSpec) ParseUsage(body []byte) (llm.Usage, bool) { return ParseUsage(body) }

func (responsesSpec) CountAnswer(body []byte, c endpoint.TextCounter) {
	for _, path := range [...]string{"output.#.content.#.text", "output.#.summary.#.text", "output.#.arguments", "output.#.input"} {
		countStrings(gjson.GetBytes(body, path), c)
	}
}

// Responses stream events, as the `type` of each (and its `event:` name).
const (
	evCreated            = "response.created"
	evInProgress         = "response.in_progress"
	evCompleted          = "response.completed"
	evIncomplete         = "response.incomplete"
	evFailed             = "response.failed"
	evError              = "error"
	evItemAdded          = "response.output_item.added"
	evItemDone           = "response.output_item.done"
	evPartAdded          = "response.content_part.added"
	evPartDone           = "response.content_part.done"
	evTextDelta          = "response.output_text.delta"
	evTextDone           = "response.output_text.done"
	evRefusalDelta       = "response.refusal.delta"
	evRefusalDone        = "response.refusal.done"
	evArgsDelta          = "response.function_call_arguments.delta"
	evArgsDone           = "response.function_call_arguments.done"
	evCustomDelta        = "response.custom_tool_call_input.delta"
	evSummaryPartAdded   = "response.reasoning_summary_part.added"
	evSummaryPartDone    = "response.reasoning_summary_part.done"
	evSummaryDelta       = "response.reasoning_summary_text.delta"
	evSummaryDone        = "response.reasoning_summary_text.done"
	evReasoningTextDelta = "response.reasoning_text.delta"
)

// eventType is an event's type (Responses, image streams): its `event:`
// name, or the data's "type" when the upstream sent none.
func eventType(ev sse.Event) string {
	if len(ev.Event) > 0 {
		return string(ev.Event)
	}
	return gjson.GetBytes(ev.Data, "type").Str
}

// EventError reads an `error` event, and a response.failed's error.
func (responsesSpec) EventError(ev sse.Event) *gateway.Error {
	switch eventType(ev) {
	case evError:
		msg := gjson.GetBytes(ev.Data, "message").Str
		if msg == "" {
			msg = gjson.GetBytes(ev.Data, "error.message").Str
		}
		if msg == "" {
			msg = "the upstream reported an error"
		}
		e := &gateway.Error{Kind: gateway.KindUpstream, Status: http.StatusBadGateway, Message: msg}
		e.Code = gjson.GetBytes(ev.Data, "code").Str
		return e
	}
	return nil
}

func (responsesSpec) EventUsage(ev sse.Event) (llm.Usage, bool, bool) {
	switch eventType(ev) {
	case evCompleted, evIncomplete, evFailed:
	default:
		return llm.Usage{}, false, false
	}
	u := gjson.GetBytes(ev.Data, "response.usage")
	if !u.IsObject() {
		return llm.Usage{}, false, false
	}
	return UsageFromResult(u), true, true
}

func (responsesSpec) EventText(ev sse.Event, c endpoint.TextCounter) bool {
	switch eventType(ev) {
	case evTextDelta, evRefusalDelta, evArgsDelta, evCustomDelta, evSummaryDelta, evReasoningTextDelta:
		if d := gjson.GetBytes(ev.Data, "delta"); d.Str != "" {
			c.WriteString(d.Str)
		}
		return true
	case evItemAdded:
		return true
	}
	return false
}

func (responsesSpec) Terminal(ev sse.Event) bool {
	switch eventType(ev) {
	case evCompleted, evIncomplete, evFailed:
		return true
	}
	return false
}

func (responsesSpec) NeedsTerminal() bool { return true }

func (responsesSpec) NewStreamWriter(w http.ResponseWriter, _ endpoint.Peek) endpoint.StreamWriter {
	return &responsesPassWriter{sw: sse.NewWriter(w)}
}

// responsesPassWriter relays a Responses stream verbatim, remembering the
// last sequence number so an error it must add continues the sequence.
type responsesPassWriter struct {
	sw  *sse.Writer
	seq int64
}

func (s *responsesPassWriter) ContentType() string { return "text/event-stream" }

func (s *responsesPassWriter) Event(ev sse.Event, flush bool) error {
	if n := gjson.GetBytes(ev.Data, "sequence_number"); n.Type == gjson.Number {
		s.seq = n.Int() + 1
	}
	if flush {
		return s.sw.WriteRaw(ev.Raw)
	}
	return s.sw.WriteRawNoFlush(ev.Raw)
}

func (s *responsesPassWriter) End(terminal *sse.Event) error {
	if terminal == nil {
		return s.sw.Flush()
	}
	return s.sw.WriteRaw(terminal.Raw)
}

func (s *responsesPassWriter) Error(e *gateway.Error, requestID string) error {
	return s.sw.WriteEvent(evError, responsesErrorEvent(e, requestID, s.seq))
}

// responsesErrorEvent is an `error` stream event: what the SDKs raise
// when a stream fails mid-way.
func responsesErrorEvent(e *gateway.Error, requestID string, seq int64) []byte {
	msg := e.Message
	if requestID != "" {
		msg += " (request id: " + requestID + ")"
	}
	code := errorCode(e)
	if code == "" {
		code = errorType(e)
	}
	b := make([]byte, 0, 128+len(msg))
	b = append(b, `{"type":"error","code":`...)
	b = appendString(b, code)
	b = append(b, `,"message":`...)
	b = appendString(b, msg)
	b = append(b, `,"param":null,"sequence_number":`...)
	b = strconv.AppendInt(b, seq, 10)
	return append(b, '}')
}

var (
	_ endpoint.ChatCodec     = responsesSpec{}
	_ endpoint.AnswerEncoder = responsesSpec{}
)

func (responsesSpec) DecodeChat(_ endpoint.Peek, body payload.Body) (*llm.Request, error) {
	return DecodeResponsesRequest(body.JSON)
}

// EncodeChat renders a complete answer without the request's settings;
// the engine calls EncodeChatAnswer, which has them.
func (responsesSpec) EncodeChat(resp *llm.Response, p endpoint.Peek) ([]byte, error) {
	return EncodeResponsesAnswer(resp, ResponsesStreamOptions{ID: resp.ID, Model: p.Model}), nil
}

func (responsesSpec) EncodeChatAnswer(resp *llm.Response, p endpoint.Peek, o endpoint.EncoderOptions) ([]byte, error) {
	return EncodeResponsesAnswer(resp, ResponsesStreamOptions{ID: o.ID, Model: p.Model, Created: o.Created, Request: o.Request}), nil
}

func (responsesSpec) NewChatEncoder(p endpoint.Peek, o endpoint.EncoderOptions) endpoint.ChatEncoder {
	return NewResponsesStreamEncoder(ResponsesStreamOptions{ID: o.ID, Model: p.Model, Created: o.Created, Request: o.Request})
}

func (responsesSpec) EncodeChatRequest(req *llm.Request) ([]byte, any, error) {
	b, err := EncodeResponsesRequest(req)
	return b, nil, err
}

func (responsesSpec) DecodeChatResponse(body []byte, _ any) (*llm.Response, error) {
	return DecodeResponsesResponse(body)
}

func (responsesSpec) NewChatDecoder(any) endpoint.ChatDecoder { return NewResponsesStreamDecoder() }
