package openai

import (
	"encoding/json"
	"strings"

	"github.com/tidwall/gjson"

	"switchboard/internal/gateway"
	"switchboard/internal/llm"
	"switchboard/internal/sse"
)

// ---------------------------------------------------------------------------
// Upstream side: hub → a Responses API upstream, and its answers back
// (for models an operator reaches only through the Responses API).
//
//	hub                        | Responses request
//	---------------------------+-------------------------------------------------------------
//	System                     | instructions (text parts joined by a blank line)
//	user parts                 | input_text, input_image (URL or data URI), input_file
//	assistant text             | message item with output_text
//	reasoning with an OpenAI   | reasoning item (summary, encrypted_content); from another
//	token for this channel     | issuer: dropped
//	tool call / tool result    | function_call / function_call_output (string, or an array
//	                           | of input_text and input_image when it holds images)
//	ResponseFormat             | text.format (json_schema name "response" when empty)
//	Reasoning                  | reasoning.effort (+ summary "auto" when thoughts are asked
//	                           | for); include reasoning.encrypted_content so turns can continue
//	Stop, Seed, penalties, N>1 | not carried: the Responses API has none of them (N>1: 400)
//	built-in tools (Tool.Raw)  | 400: they come from another format
//	store                      | false: the gateway keeps what a conversation needs
// ---------------------------------------------------------------------------

type responsesRequest struct {
	Model             string            `json:"model"`
	Instructions      string            `json:"instructions,omitempty"`
	Input             []json.RawMessage `json:"input"`
	Tools             []json.RawMessage `json:"tools,omitempty"`
	ToolChoice        any               `json:"tool_choice,omitempty"`
	ParallelToolCalls *bool             `json:"parallel_tool_calls,omitempty"`
	Text              json.RawMessage   `json:"text,omitempty"`
	Reasoning         map[string]string `json:"reasoning,omitempty"`
	Include           []string          `json:"include,omitempty"`
	MaxOutputTokens   *int              `json:"max_output_tokens,omitempty"`
	Temperature       *float64          `json:"temperature,omitempty"`
	TopP              *float64          `json:"top_p,omitempty"`
	User              string            `json:"user,omitempty"`
	Metadata          map[string]string `json:"metadata,omitempty"`
	Stream            bool              `json:"stream,omitempty"`
	Store             bool              `json:"store"`
}

// EncodeResponsesRequest renders a hub request for a Responses upstream.
func EncodeResponsesRequest(req *llm.Request) ([]byte, error) {
	if req.N > 1 {
		return nil, invalid("n", "n > 1 cannot be served by this model: its upstream speaks only the Responses API, which has no n")
	}
	out := responsesRequest{Model: req.Model, MaxOutputTokens: req.MaxTokens, Temperature: req.Temperature, TopP: req.TopP,
		User: req.User, Metadata: req.Metadata, Stream: req.Stream, ParallelToolCalls: req.ParallelToolCalls, Input: []json.RawMessage{}}
	var sys []string
	for _, p := range req.System {
		if p.Type != llm.PartText {
			return nil, invalid("system", "system prompts hold text only")
		}
		sys = append(sys, p.Text)
	}
	out.Instructions = strings.Join(sys, "\n\n")
	for i, m := range req.Messages {
		items, err := responsesItems(req, m)
		if err != nil {
			return nil, annotateMessage(err, i)
		}
		out.Input = append(out.Input, items...)
	}
	for _, t := range req.Tools {
		if t.Raw != nil {
			return nil, invalid("tools", "tool %q is a built-in tool of another API and cannot be sent to this model", t.Name)
		}
		fn := map[string]any{"type": "function", "name": t.Name}
		if t.Description != "" {
			fn["description"] = t.Description
		}
		if len(t.Parameters) > 0 {
			fn["parameters"] = t.Parameters
		}
		if t.Strict != nil {
			fn["strict"] = *t.Strict
		}
		b, _ := json.Marshal(fn)
		out.Tools = append(out.Tools, b)
	}
	if tc := req.ToolChoice; tc != nil {
		switch tc.Mode {
		case llm.ToolChoiceTool:
			out.ToolChoice = map[string]string{"type": "function", "name": tc.Name}
		case "":
		default:
			out.ToolChoice = string(tc.Mode)
		}
		if tc.DisableParallel {
			f := false
			out.ParallelToolCalls = &f
		}
	}
	if rf := req.ResponseFormat; rf != nil && rf.Type != llm.FormatText {
		f := map[string]any{"type": string(rf.Type)}
		if rf.Type == llm.FormatJSONSchema {
			name := rf.Name
			if name == "" {
				name = "response"
			}
			f["name"], f["schema"] = name, rf.Schema
			if rf.Description != "" {
				f["description"] = rf.Description
			}
			if rf.Strict != nil {
				f["strict"] = *rf.Strict
			}
		}
		out.Text, _ = json.Marshal(map[string]any{"format": f})
	}
	if r := req.Reasoning; r != nil {
		effort := r.Effort
		if !r.Enabled {
			effort = "none"
		} else if effort == "" {
			effort = effortFromBudget(r.BudgetTokens)
		}
		out.Reasoning = map[string]string{"effort": effort}
		if r.Enabled && r.IncludeThoughts && !r.HideThoughts {
			out.Reasoning["summary"] = "auto"
		}
		if r.Enabled {
			out.Include = []string{"reasoning.encrypted_content"}
		}
	}
	return json.Marshal(out)
}

// effortFromBudget maps a thinking budget to an effort, as the chat
// encoder does.
func effortFromBudget(n int) string {
	switch {
	case n == 0:
		return "medium"
	case n <= 2048:
		return "low"
	case n <= 16384:
		return "medium"
	}
	return "high"
}

func annotateMessage(err error, i int) error {
	if ge, ok := err.(*gateway.Error); ok && ge.Param != "" {
		ge.Param = idx("messages", i) + "." + ge.Param
	}
	return err
}

func rawJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// responsesItems renders one hub message as input items.
func responsesItems(req *llm.Request, m llm.Message) ([]json.RawMessage, error) {
	var items []json.RawMessage
	switch m.Role {
	case llm.RoleUser:
		content, err := responsesContent(m.Parts)
		if err != nil {
			return nil, err
		}
		if len(content) > 0 {
			items = append(items, rawJSON(map[string]any{"role": "user", "content": content}))
		}
	case llm.RoleTool:
		for _, p := range m.Parts {
			if p.Type != llm.PartToolResult {
				continue
			}
			items = append(items, callOutputItem(p))
		}
	case llm.RoleAssistant:
		var texts []any
		flush := func() {
			if len(texts) > 0 {
				items = append(items, rawJSON(map[string]any{"type": "message", "role": "assistant", "content": texts}))
				texts = nil
			}
		}
		for _, p := range m.Parts {
			switch p.Type {
			case llm.PartText:
				if p.Text != "" {
					texts = append(texts, map[string]any{"type": "output_text", "text": p.Text})
				}
			case llm.PartReasoning:
				if p.Signature == "" || !req.TokenAllowed(&p, SourceFormat) {
					continue
				}
				flush()
				summary := []any{}
				if p.Text != "" {
					summary = append(summary, map[string]any{"type": "summary_text", "text": p.Text})
				}
				items = append(items, rawJSON(map[string]any{"type": "reasoning", "summary": summary, "encrypted_content": p.Signature}))
			case llm.PartRedactedReasoning:
				if !req.TokenAllowed(&p, SourceFormat) {
					continue
				}
				flush()
				items = append(items, rawJSON(map[string]any{"type": "reasoning", "summary": []any{}, "encrypted_content": p.Data}))
			case llm.PartToolCall:
				flush()
				if p.ToolCallID == "" {
					return nil, invalid("tool_calls", "a tool call needs an id")
				}
				items = append(items, rawJSON(map[string]any{"type": "function_call", "call_id": p.ToolCallID, "name": p.ToolName, "arguments": argumentsToWire(p.Arguments)}))
			}
		}
		flush()
	}
	return items, nil
}

// callOutputItem renders a tool result: its text as a string, or an array
// of parts when it holds images.
func callOutputItem(p llm.Part) json.RawMessage {
	media := false
	var text strings.Builder
	for _, c := range p.Content {
		if c.Type == llm.PartText {
			text.WriteString(c.Text)
		} else {
			media = true
		}
	}
	var output any = text.String()
	if media {
		parts, _ := responsesContent(p.Content)
		output = parts
	}
	return rawJSON(map[string]any{"type": "function_call_output", "call_id": p.ToolCallID, "output": output})
}

// responsesContent renders user or tool-result parts.
func responsesContent(parts []llm.Part) ([]any, error) {
	var out []any
	for _, p := range parts {
		switch p.Type {
		case llm.PartText:
			if p.Text != "" {
				out = append(out, map[string]any{"type": "input_text", "text": p.Text})
			}
		case llm.PartImage:
			u := p.URL
			if p.Data != "" {
				u = dataURI(p.MediaType, p.Data)
			}
			img := map[string]any{"type": "input_image", "image_url": u, "detail": "auto"}
			if p.Detail != "" {
				img["detail"] = p.Detail
			}
			out = append(out, img)
		case llm.PartFile:
			f := map[string]any{"type": "input_file"}
			if p.FileName != "" {
				f["filename"] = p.FileName
			}
			switch {
			case p.Data != "":
				f["file_data"] = dataURI(p.MediaType, p.Data)
			case strings.HasPrefix(p.URL, "http://") || strings.HasPrefix(p.URL, "https://"):
				f["file_url"] = p.URL
			default:
				f["file_id"] = p.URL
			}
			out = append(out, f)
		case llm.PartToolResult:
		default:
			return nil, invalid("content", "a %s part cannot be sent to this model's Responses upstream", p.Type)
		}
	}
	return out, nil
}

// DecodeResponsesResponse reads a complete Response object into the hub.
func DecodeResponsesResponse(body []byte) (*llm.Response, error) {
	root := gjson.ParseBytes(body)
	if !root.IsObject() || root.Get("object").Str != "response" && !root.Get("output").IsArray() {
		return nil, errNotResponse
	}
	resp := &llm.Response{ID: root.Get("id").Str, Model: root.Get("model").Str, Issuer: llm.Issuer{Provider: SourceFormat}}
	ch := llm.Choice{StopReason: llm.StopEnd}
	for _, it := range root.Get("output").Array() {
		ch.Parts = append(ch.Parts, itemParts(it)...)
		if it.Get("type").Str == "function_call" {
			ch.StopReason = llm.StopToolUse
		}
	}
	ch.StopReason = responsesStop(root, ch.StopReason)
	resp.Choices = []llm.Choice{ch}
	if u := root.Get("usage"); u.IsObject() {
		resp.Usage = UsageFromResult(u)
	}
	return resp, nil
}

var errNotResponse = &gateway.Error{Kind: gateway.KindUpstream, Message: "the upstream answer is not a Response object"}

// responsesStop reads why a Response ended.
func responsesStop(r gjson.Result, def llm.StopReason) llm.StopReason {
	if r.Get("status").Str == "incomplete" {
		if r.Get("incomplete_details.reason").Str == "content_filter" {
			return llm.StopContentFilter
		}
		return llm.StopMaxTokens
	}
	return def
}

// itemParts maps one output item to hub parts; items of built-in tools
// have no hub meaning and are left out.
func itemParts(it gjson.Result) []llm.Part {
	switch it.Get("type").Str {
	case "message":
		var out []llm.Part
		for _, c := range it.Get("content").Array() {
			switch c.Get("type").Str {
			case "output_text":
				out = append(out, llm.Part{Type: llm.PartText, Text: c.Get("text").Str})
			case "refusal":
				out = append(out, llm.Part{Type: llm.PartText, Text: c.Get("refusal").Str})
			}
		}
		return out
	case "reasoning":
		text := summaryText(it)
		enc := it.Get("encrypted_content").Str
		if text == "" && enc != "" {
			return []llm.Part{{Type: llm.PartRedactedReasoning, Data: enc}}
		}
		if text == "" {
			return nil
		}
		return []llm.Part{{Type: llm.PartReasoning, Text: text, Signature: enc}}
	case "function_call":
		return []llm.Part{{Type: llm.PartToolCall, ToolCallID: it.Get("call_id").Str, ToolName: it.Get("name").Str, Arguments: argumentsFromWire(it.Get("arguments").Str)}}
	}
	return nil
}

func summaryText(it gjson.Result) string {
	var b strings.Builder
	for _, s := range it.Get("summary").Array() {
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(s.Get("text").Str)
	}
	return b.String()
}

// ResponsesStreamDecoder reads a Responses upstream's events as hub events.
type ResponsesStreamDecoder struct {
	blocks   map[[2]int64]int // (output_index, content or summary index) → hub block
	calls    map[int64]int    // output_index of a function call → hub block
	argsSeen map[int64]bool
	next     int
	stop     llm.StopReason
}

// NewResponsesStreamDecoder returns a decoder for one stream.
func NewResponsesStreamDecoder() *ResponsesStreamDecoder {
	return &ResponsesStreamDecoder{blocks: map[[2]int64]int{}, calls: map[int64]int{}, argsSeen: map[int64]bool{}, stop: llm.StopEnd}
}

func (d *ResponsesStreamDecoder) block(out, sub int64) int {
	k := [2]int64{out, sub}
	if i, ok := d.blocks[k]; ok {
		return i
	}
	d.blocks[k] = d.next
	d.next++
	return d.blocks[k]
}

// Decode maps one upstream event.
func (d *ResponsesStreamDecoder) Decode(ev sse.Event) ([]llm.Event, error) {
	data := gjson.ParseBytes(ev.Data)
	typ := string(ev.Event)
	if t := data.Get("type").Str; t != "" {
		typ = t
	}
	out := data.Get("output_index").Int()
	switch typ {
	case evCreated:
		r := data.Get("response")
		return []llm.Event{{Type: llm.EventStart, ID: r.Get("id").Str, Model: r.Get("model").Str, Issuer: llm.Issuer{Provider: SourceFormat}}}, nil
	case evTextDelta, evRefusalDelta:
		if typ == evRefusalDelta {
			d.stop = llm.StopRefusal
		}
		return []llm.Event{{Type: llm.EventTextDelta, Index: d.block(out, data.Get("content_index").Int()), Text: data.Get("delta").Str}}, nil
	case evSummaryDelta:
		return []llm.Event{{Type: llm.EventReasoningDelta, Index: d.block(out, data.Get("summary_index").Int()), Text: data.Get("delta").Str}}, nil
	case evItemAdded:
		it := data.Get("item")
		if it.Get("type").Str != "function_call" {
			return nil, nil
		}
		d.stop = llm.StopToolUse
		i := d.block(out, -1)
		d.calls[out] = i
		return []llm.Event{{Type: llm.EventToolCallStart, Index: i, ToolCallID: it.Get("call_id").Str, ToolName: it.Get("name").Str}}, nil
	case evArgsDelta:
		i, ok := d.calls[out]
		if !ok {
			return nil, nil
		}
		d.argsSeen[out] = true
		return []llm.Event{{Type: llm.EventToolCallDelta, Index: i, Text: data.Get("delta").Str}}, nil
	case evItemDone:
		it := data.Get("item")
		switch it.Get("type").Str {
		case "function_call":
			if i, ok := d.calls[out]; ok && !d.argsSeen[out] {
				return []llm.Event{{Type: llm.EventToolCallDelta, Index: i, Text: it.Get("arguments").Str}}, nil
			}
		case "reasoning":
			enc := it.Get("encrypted_content").Str
			if enc == "" {
				return nil, nil
			}
			if _, streamed := d.blocks[[2]int64{out, 0}]; streamed {
				return []llm.Event{{Type: llm.EventReasoningDelta, Index: d.block(out, 0), Signature: enc}}, nil
			}
			return []llm.Event{{Type: llm.EventRedactedReasoning, Index: d.block(out, -2), Data: enc}}, nil
		}
		return nil, nil
	case evCompleted, evIncomplete:
		r := data.Get("response")
		evs := make([]llm.Event, 0, 2)
		if u := r.Get("usage"); u.IsObject() {
			usage := UsageFromResult(u)
			evs = append(evs, llm.Event{Type: llm.EventUsage, Usage: &usage})
		}
		return append(evs, llm.Event{Type: llm.EventStop, StopReason: responsesStop(r, d.stop)}), nil
	case evFailed, evError:
		msg := data.Get("response.error.message").Str
		if msg == "" {
			msg = data.Get("message").Str
		}
		if msg == "" {
			msg = "the upstream response failed"
		}
		return []llm.Event{{Type: llm.EventError, Err: &llm.StreamError{Status: 502, Type: "upstream_error", Message: msg}}}, nil
	}
	return nil, nil
}

// Finish reports nothing more: a Responses stream ends with its terminal
// event, and one without it was cut (the relay sees no stop).
func (d *ResponsesStreamDecoder) Finish() ([]llm.Event, error) { return nil, nil }
