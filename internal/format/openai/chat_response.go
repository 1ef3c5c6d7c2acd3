package openai

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tidwall/gjson"

	"switchboard/internal/gateway"
	"switchboard/internal/llm"
)

// upstreamInvalid is the error for a malformed upstream answer: the caller
// did nothing wrong, so it is a 502, not a 400.
func upstreamInvalid(format string, args ...any) *gateway.Error {
	return gateway.Errorf(gateway.KindUpstream, format, args...)
}

// stopFromFinish maps finish_reason to the hub. A refusal (message.refusal
// or refusal deltas) ends with "stop" on the wire but is StopRefusal here,
// so Anthropic clients see stop_reason "refusal".
func stopFromFinish(fr string, refusal bool) llm.StopReason {
	switch fr {
	case "length":
		return llm.StopMaxTokens
	case "tool_calls", "function_call":
		return llm.StopToolUse
	case "content_filter":
		return llm.StopContentFilter
	case "insufficient_system_resource": // DeepSeek: generation was cut off
		return llm.StopError
	}
	if refusal {
		return llm.StopRefusal
	}
	return llm.StopEnd
}

// finishFromStop is the inverse. Reasons Chat Completions cannot express
// (stop_sequence, refusal, pause_turn, error) end with "stop".
func finishFromStop(s llm.StopReason) string {
	switch s {
	case llm.StopMaxTokens:
		return "length"
	case llm.StopToolUse:
		return "tool_calls"
	case llm.StopContentFilter:
		return "content_filter"
	}
	return "stop"
}

// DecodeResponse parses a non-streaming Chat Completions answer. A body
// carrying an "error" object is returned as that upstream error.
func DecodeResponse(body []byte) (*llm.Response, error) {
	if !gjson.ValidBytes(body) {
		return nil, upstreamInvalid("upstream returned an invalid chat completion: not JSON")
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return nil, upstreamInvalid("upstream returned an invalid chat completion: not an object")
	}
	if e := root.Get("error"); e.Exists() && e.Type != gjson.Null {
		return nil, ParseUpstreamError(502, body)
	}
	resp := &llm.Response{
		ID:      root.Get("id").String(),
		Model:   root.Get("model").String(),
		Created: root.Get("created").Int(),
		Issuer:  llm.Issuer{Provider: SourceFormat},
	}
	if u := root.Get("usage"); u.IsObject() {
		resp.Usage = UsageFromResult(u)
	}
	choices := root.Get("choices")
	if !choices.IsArray() {
		return nil, upstreamInvalid("upstream returned an invalid chat completion: no choices")
	}
	var err error
	choices.ForEach(func(_, c gjson.Result) bool {
		var ch llm.Choice
		if ch, err = decodeChoice(c); err == nil {
			resp.Choices = append(resp.Choices, ch)
		}
		return err == nil
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}

func decodeChoice(c gjson.Result) (llm.Choice, error) {
	if !c.IsObject() {
		return llm.Choice{}, upstreamInvalid("upstream returned an invalid chat completion: choice is not an object")
	}
	ch := llm.Choice{Index: int(c.Get("index").Int())}
	m := c.Get("message")
	if r := m.Get("reasoning_content"); r.Type == gjson.String && r.Str != "" {
		ch.Parts = append(ch.Parts, llm.Part{Type: llm.PartReasoning, Text: r.Str})
	} else if r := m.Get("reasoning"); r.Type == gjson.String && r.Str != "" {
		ch.Parts = append(ch.Parts, llm.Part{Type: llm.PartReasoning, Text: r.Str})
	}
	content := m.Get("content")
	switch {
	case content.Type == gjson.String && content.Str != "":
		ch.Parts = append(ch.Parts, llm.Part{Type: llm.PartText, Text: content.Str})
	case content.IsArray(): // some compatible servers answer with parts
		content.ForEach(func(_, p gjson.Result) bool {
			if t := p.Get("text"); t.Type == gjson.String && t.Str != "" {
				ch.Parts = append(ch.Parts, llm.Part{Type: llm.PartText, Text: t.Str})
			}
			return true
		})
	}
	refusal := false
	if r := m.Get("refusal"); r.Type == gjson.String && r.Str != "" {
		refusal = true
		ch.Parts = append(ch.Parts, llm.Part{Type: llm.PartText, Text: r.Str})
	}
	if a := m.Get("audio"); a.IsObject() {
		ch.Parts = append(ch.Parts, llm.Part{Type: llm.PartAudio,
			Signature: a.Get("id").String(), Data: a.Get("data").String(), Text: a.Get("transcript").String()})
	}
	// OpenRouter-style image outputs.
	m.Get("images").ForEach(func(_, im gjson.Result) bool {
		if url := im.Get("image_url.url").String(); url != "" {
			ch.Parts = append(ch.Parts, imagePart(url))
		}
		return true
	})
	var err error
	m.Get("tool_calls").ForEach(func(_, tc gjson.Result) bool {
		fn := tc.Get("function")
		name := fn.Get("name")
		if name.Type != gjson.String {
			err = upstreamInvalid("upstream returned a tool call without a function name")
			return false
		}
		ch.Parts = append(ch.Parts, llm.Part{Type: llm.PartToolCall, ToolCallID: tc.Get("id").String(),
			ToolName: name.Str, Arguments: argumentsFromWire(fn.Get("arguments").String())})
		return true
	})
	if err != nil {
		return ch, err
	}
	fr := c.Get("finish_reason").String()
	ch.StopReason = stopFromFinish(fr, refusal)
	// vLLM and others report the matched stop string in stop_reason.
	if sr := c.Get("stop_reason"); fr == "stop" && sr.Type == gjson.String && sr.Str != "" {
		ch.StopReason, ch.StopSequence = llm.StopSequence, sr.Str
	}
	return ch, nil
}

func imagePart(url string) llm.Part {
	if mt, data, ok := parseDataURI(url); ok {
		return llm.Part{Type: llm.PartImage, MediaType: mt, Data: data}
	}
	return llm.Part{Type: llm.PartImage, URL: url}
}

// chatCompletion is the answer shape. Fields the gateway has no value for
// (system_fingerprint, service_tier) are left out rather than written as
// null: the published schema types them as strings.
type chatCompletion struct {
	ID      string       `json:"id"`
	Object  string       `json:"object"`
	Created int64        `json:"created"`
	Model   string       `json:"model"`
	Choices []chatChoice `json:"choices"`
	Usage   chatUsage    `json:"usage"`
}

type chatChoice struct {
	Index        int             `json:"index"`
	Message      chatRespMessage `json:"message"`
	Logprobs     *struct{}       `json:"logprobs"`
	FinishReason string          `json:"finish_reason"`
}

type chatRespMessage struct {
	Role             string         `json:"role"`
	Content          *string        `json:"content"`
	ReasoningContent string         `json:"reasoning_content,omitempty"`
	Refusal          *string        `json:"refusal"`
	ToolCalls        []chatToolCall `json:"tool_calls,omitempty"`
	Audio            *chatRespAudio `json:"audio,omitempty"`
	Images           []chatPart     `json:"images,omitempty"`
}

type chatRespAudio struct {
	ID         string `json:"id"`
	Data       string `json:"data"`
	Transcript string `json:"transcript"`
	ExpiresAt  int64  `json:"expires_at"`
}

type chatUsage struct {
	PromptTokens            int64                 `json:"prompt_tokens"`
	CompletionTokens        int64                 `json:"completion_tokens"`
	TotalTokens             int64                 `json:"total_tokens"`
	PromptTokensDetails     chatPromptDetails     `json:"prompt_tokens_details"`
	CompletionTokensDetails chatCompletionDetails `json:"completion_tokens_details"`
}

type chatPromptDetails struct {
	CachedTokens int64 `json:"cached_tokens"`
	AudioTokens  int64 `json:"audio_tokens"`
}

type chatCompletionDetails struct {
	ReasoningTokens int64 `json:"reasoning_tokens"`
	AudioTokens     int64 `json:"audio_tokens"`
}

func usageToWire(u llm.Usage) chatUsage {
	return chatUsage{
		PromptTokens:            u.InputTokens,
		CompletionTokens:        u.OutputTokens,
		TotalTokens:             u.Total(),
		PromptTokensDetails:     chatPromptDetails{CachedTokens: u.CachedInputTokens, AudioTokens: u.AudioInputTokens},
		CompletionTokensDetails: chatCompletionDetails{ReasoningTokens: u.ReasoningTokens, AudioTokens: u.AudioOutputTokens},
	}
}

// EncodeResponse renders a hub answer as a chat.completion object. Text
// parts join into one content string; a StopRefusal answer puts its text in
// refusal instead. Reasoning becomes reasoning_content; image outputs use
// OpenRouter's message.images, the de-facto extension clients read.
// Audio expires_at is not carried by the hub and is written as 0.
func EncodeResponse(resp *llm.Response) ([]byte, error) {
	out := chatCompletion{
		ID:      resp.ID,
		Object:  "chat.completion",
		Created: resp.Created,
		Model:   resp.Model,
		Choices: make([]chatChoice, 0, len(resp.Choices)),
		Usage:   usageToWire(resp.Usage),
	}
	for _, c := range resp.Choices {
		msg, err := encodeRespMessage(c)
		if err != nil {
			return nil, err
		}
		out.Choices = append(out.Choices, chatChoice{Index: c.Index, Message: msg, FinishReason: finishFromStop(c.StopReason)})
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("openai: encode chat completion: %w", err)
	}
	return b, nil
}

func encodeRespMessage(c llm.Choice) (chatRespMessage, error) {
	msg := chatRespMessage{Role: "assistant"}
	var text, reasoning strings.Builder
	hasText := false
	for _, p := range c.Parts {
		switch p.Type {
		case llm.PartText:
			text.WriteString(p.Text)
			hasText = true
		case llm.PartReasoning:
			reasoning.WriteString(p.Text)
		case llm.PartRedactedReasoning:
			// Opaque provider data: Chat Completions has no slot for it.
		case llm.PartToolCall:
			msg.ToolCalls = append(msg.ToolCalls, chatToolCall{ID: p.ToolCallID, Type: "function",
				Function: chatFunction{Name: p.ToolName, Arguments: argumentsToWire(p.Arguments)}})
		case llm.PartAudio:
			if msg.Audio == nil {
				msg.Audio = &chatRespAudio{ID: p.Signature}
			}
			msg.Audio.Data += p.Data
			msg.Audio.Transcript += p.Text
		case llm.PartImage:
			url := p.URL
			if p.Data != "" {
				url = dataURI(p.MediaType, p.Data)
			}
			msg.Images = append(msg.Images, chatPart{Type: "image_url", ImageURL: &chatImageURL{URL: url}})
		default:
			return msg, gateway.Errorf(gateway.KindInternal, "answer content of type %q cannot be rendered as an OpenAI chat completion", p.Type)
		}
	}
	msg.ReasoningContent = reasoning.String()
	s := text.String()
	switch {
	case c.StopReason == llm.StopRefusal && hasText:
		msg.Refusal = &s
	case hasText || (len(msg.ToolCalls) == 0 && msg.Audio == nil):
		msg.Content = &s
	}
	return msg, nil
}
