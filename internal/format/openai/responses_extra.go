package openai

import (
	"encoding/json"
	"net/http"

	"github.com/tidwall/gjson"

	"switchboard/internal/endpoint"
	"switchboard/internal/gateway"
	"switchboard/internal/llm"
	"switchboard/internal/payload"
	"switchboard/internal/tokencount"
	"switchboard/internal/upstream"
)

// ResponsesInputTokens is POST /v1/responses/input_tokens: relayed to
// channels that serve the Responses API, and answered with the embedded
// tokenizer for models only other channels serve.
var ResponsesInputTokens endpoint.Spec = inputTokensSpec{}

// ResponsesCompact is POST /v1/responses/compact (remote compaction, as
// Codex calls it): relayed to channels that serve the Responses API, whose
// compacted items are encrypted by that provider; any other model is
// asked for a summary through the hub (responses_compact.go).
var ResponsesCompact endpoint.Spec = compactSpec{}

var (
	_ endpoint.Passer        = inputTokensSpec{}
	_ endpoint.LocalAnswerer = inputTokensSpec{}
	_ endpoint.ChannelFilter = inputTokensSpec{}
	_ endpoint.Free          = inputTokensSpec{}
	_ endpoint.Passer        = compactSpec{}
	_ endpoint.ChannelFilter = compactSpec{}
	_ endpoint.TokenStripper = compactSpec{}
)

// inputTokensSpec and compactSpec share the Responses API's body and
// channels, but neither streams nor translates: they embed only the wire.
type inputTokensSpec struct{ wire }

func (inputTokensSpec) Endpoint() string { return "responses.input_tokens" }
func (inputTokensSpec) Op() upstream.Op  { return upstream.OpResponsesInputTokens }
func (inputTokensSpec) Free()            {}

func (inputTokensSpec) ServedBy(ch *gateway.Channel) bool { return upstream.ServesResponses(ch) }

func (inputTokensSpec) Peek(r *http.Request, body payload.Body) (endpoint.Peek, error) {
	p, err := responsesSpec{}.Peek(r, body)
	p.Stream = false // a count never streams
	return p, err
}

func (inputTokensSpec) PassRequest(p endpoint.Peek, body payload.Body, upstreamModel string) (upstream.Body, error) {
	return responsesSpec{}.PassRequest(p, body, upstreamModel)
}

func (inputTokensSpec) ParseUsage([]byte) (llm.Usage, bool)      { return llm.Usage{}, false }
func (inputTokensSpec) CountAnswer([]byte, endpoint.TextCounter) {}

// AnswerLocally counts the request's text, tools and instructions; a
// request the hub cannot carry (built-in tools) is counted over its JSON.
func (inputTokensSpec) AnswerLocally(_ endpoint.Peek, body payload.Body) ([]byte, error) {
	n := int64(0)
	if req, err := DecodeResponsesRequest(body.JSON); err == nil {
		n = tokencount.Request(req)
	} else {
		n = tokencount.RequestTokens(body.JSON)
	}
	return json.Marshal(map[string]any{"object": "response.input_tokens", "input_tokens": n})
}

type compactSpec struct{ wire }

func (compactSpec) Endpoint() string { return "responses.compact" }
func (compactSpec) Op() upstream.Op  { return upstream.OpResponsesCompact }

func (compactSpec) ServedBy(ch *gateway.Channel) bool { return upstream.ServesResponses(ch) }
func (compactSpec) StripsWrappedTokens()              {}

func (compactSpec) Peek(r *http.Request, body payload.Body) (endpoint.Peek, error) {
	p, err := responsesSpec{}.Peek(r, body)
	p.Stream = false
	return p, err
}

func (compactSpec) PassRequest(p endpoint.Peek, body payload.Body, upstreamModel string) (upstream.Body, error) {
	return responsesSpec{}.PassRequest(p, body, upstreamModel)
}

func (compactSpec) ParseUsage(body []byte) (llm.Usage, bool) { return ParseUsage(body) }

// CountAnswer feeds the compacted items' visible text.
func (compactSpec) CountAnswer(body []byte, c endpoint.TextCounter) {
	countStrings(gjson.GetBytes(body, "output.#.content.#.text"), c)
}
