package openai

import (
	"encoding/json"
	"strings"

	"github.com/tidwall/gjson"

	"switchboard/internal/endpoint"
	"switchboard/internal/llm"
	"switchboard/internal/payload"
)

// Remote compaction for upstreams without it. A channel serving the
// Responses API compacts into its own encrypted item; any other model is
// asked, through the hub, to summarise the conversation, and the answer is
// one user message holding the summary: an item every upstream can read
// back, so the compacted history works wherever the next turn goes.

var _ endpoint.ChatCodec = compactSpec{}

// compactInstruction is the turn appended to the history to compact it.
const compactInstruction = "You are compacting this conversation so that it can continue in a fresh context window. " +
	"Write a complete but concise summary of everything so far: the user's goals, requirements and constraints; " +
	"decisions made and why; the work done (files, commands, tool results, errors and how they were solved); " +
	"the current state; and what remains to be done next. Keep names, paths, identifiers, numbers and code exact. " +
	"Do not call tools. Answer with the summary only."

// compactSummaryPrefix heads the summary in the compacted history, so the
// model reading it next knows what it is.
const compactSummaryPrefix = "Summary of the conversation so far (compacted by the gateway):\n\n"

// compactMaxOutput bounds the summary when the request sets no limit.
const compactMaxOutput = 8192

// DecodeChat reads the conversation to compact and asks for its summary.
func (compactSpec) DecodeChat(_ endpoint.Peek, body payload.Body) (*llm.Request, error) {
	req, err := DecodeResponsesRequest(body.JSON)
	if err != nil {
		return nil, err
	}
	req.Stream = false
	req.ResponseFormat = nil
	req.N = 0
	if len(req.Tools) > 0 {
		// The history's tool calls need their tools defined (Anthropic
		// refuses them otherwise); the summary must not call one.
		req.ToolChoice = &llm.ToolChoice{Mode: llm.ToolChoiceNone}
	}
	if req.MaxTokens == nil {
		n := compactMaxOutput
		req.MaxTokens = &n
	}
	req.Messages = append(req.Messages, llm.Message{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartText, Text: compactInstruction}}})
	return req, nil
}

// compactionJSON is the answer of POST /v1/responses/compact.
type compactionJSON struct {
	ID        string            `json:"id"`
	Object    string            `json:"object"`
	CreatedAt int64             `json:"created_at"`
	Output    []json.RawMessage `json:"output"`
	Usage     json.RawMessage   `json:"usage,omitempty"`
}

// EncodeChat writes the summary as the compacted history.
func (compactSpec) EncodeChat(resp *llm.Response, p endpoint.Peek) ([]byte, error) {
	var text strings.Builder
	if len(resp.Choices) > 0 {
		for _, part := range resp.Choices[0].Parts {
			if part.Type == llm.PartText {
				text.WriteString(part.Text)
			}
		}
	}
	item, err := json.Marshal(map[string]any{
		"type": "message", "role": "user",
		"content": []map[string]string{{"type": "input_text", "text": compactSummaryPrefix + strings.TrimSpace(text.String())}},
	})
	if err != nil {
		return nil, err
	}
	// The usage object is the Responses answer's, written by its encoder.
	full := EncodeResponsesAnswer(resp, ResponsesStreamOptions{ID: resp.ID, Model: p.Model})
	out := compactionJSON{ID: resp.ID, Object: "response.compaction", CreatedAt: resp.Created, Output: []json.RawMessage{item}}
	if u := gjson.GetBytes(full, "usage"); u.IsObject() {
		out.Usage = json.RawMessage(u.Raw)
	}
	return json.Marshal(out)
}

// NewChatEncoder is never used: a compaction does not stream (Peek).
func (compactSpec) NewChatEncoder(p endpoint.Peek, o endpoint.EncoderOptions) endpoint.ChatEncoder {
	return responsesSpec{}.NewChatEncoder(p, o)
}

// The upstream side is the Responses API's own: a compaction is never
// sent upstream by translation (it is not among the engine's upstream
// specs), but the codec is whole.
func (compactSpec) EncodeChatRequest(req *llm.Request) ([]byte, any, error) {
	return responsesSpec{}.EncodeChatRequest(req)
}

func (compactSpec) DecodeChatResponse(body []byte, emu any) (*llm.Response, error) {
	return responsesSpec{}.DecodeChatResponse(body, emu)
}

func (compactSpec) NewChatDecoder(emu any) endpoint.ChatDecoder {
	return responsesSpec{}.NewChatDecoder(emu)
}
