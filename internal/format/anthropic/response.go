package anthropic

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"switchboard/internal/gateway"
	"switchboard/internal/llm"
)

// stopFromAnthropic maps Anthropic's stop_reason to the hub.
func stopFromAnthropic(s string) llm.StopReason {
	switch s {
	case "end_turn", "":
		return llm.StopEnd
	case "max_tokens", "model_context_window_exceeded":
		return llm.StopMaxTokens
	case "stop_sequence":
		return llm.StopSequence
	case "tool_use":
		return llm.StopToolUse
	case "refusal":
		return llm.StopRefusal
	case "pause_turn":
		return llm.StopPauseTurn
	}
	return llm.StopReason(s)
}

// stopToAnthropic maps a hub stop reason to Anthropic's stop_reason.
// content_filter has no Anthropic value; refusal is the nearest meaning.
func stopToAnthropic(s llm.StopReason) string {
	switch s {
	case llm.StopMaxTokens:
		return "max_tokens"
	case llm.StopSequence:
		return "stop_sequence"
	case llm.StopToolUse:
		return "tool_use"
	case llm.StopRefusal, llm.StopContentFilter:
		return "refusal"
	case llm.StopPauseTurn:
		return "pause_turn"
	}
	return "end_turn"
}

// usageFromResult maps an Anthropic usage object to the hub, folding the
// cache counters into InputTokens.
func usageFromResult(u gjson.Result) llm.Usage {
	var in, cw, cr, out, think int64
	var cw1h, searches int64
	u.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "input_tokens":
			in = v.Int()
		case "cache_creation_input_tokens":
			cw = v.Int()
		case "cache_read_input_tokens":
			cr = v.Int()
		case "output_tokens":
			out = v.Int()
		case "output_tokens_details":
			think = v.Get("thinking_tokens").Int()
		case "cache_creation":
			cw1h = v.Get("ephemeral_1h_input_tokens").Int()
		case "server_tool_use":
			searches = v.Get("web_search_requests").Int()
		}
		return true
	})
	return llm.Usage{InputTokens: in + cw + cr, CachedInputTokens: cr, CacheWriteTokens: cw, CacheWrite1hTokens: min(cw1h, cw),
		OutputTokens: out, ReasoningTokens: think, WebSearchRequests: searches}
}

// ParseUsage reads usage from a non-stream Messages response body, or from
// one stream event's data (message_start carries it under message.usage,
// message_delta under usage). It reports false when there is none.
func ParseUsage(body []byte) (llm.Usage, bool) {
	path := "usage"
	if gjson.GetBytes(body, "type").String() == "message_start" {
		path = "message.usage"
	}
	u := gjson.GetBytes(body, path)
	if !u.IsObject() {
		return llm.Usage{}, false
	}
	return usageFromResult(u), true
}

// DecodeResponse parses an upstream's non-stream Messages response.
func DecodeResponse(body []byte) (*llm.Response, error) {
	return DecodeResponseWith(body, Emulation{})
}

// DecodeResponseWith parses a response to a request EncodeRequestOpts
// emulated something for: the forced JSON tool's input becomes the answer
// text, and its tool_use stop becomes a plain end.
func DecodeResponseWith(body []byte, emu Emulation) (*llm.Response, error) {
	if !gjson.ValidBytes(body) {
		return nil, &gateway.Error{Kind: gateway.KindUpstream, Message: "upstream response is not valid JSON"}
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return nil, &gateway.Error{Kind: gateway.KindUpstream, Message: "upstream response is not a JSON object"}
	}
	if root.Get("type").String() == "error" {
		return nil, ParseUpstreamError(502, body)
	}
	resp := &llm.Response{
		ID:     root.Get("id").String(),
		Model:  root.Get("model").String(),
		Usage:  usageFromResult(root.Get("usage")),
		Issuer: llm.Issuer{Provider: SourceFormat},
	}
	ch := llm.Choice{
		StopReason:   stopFromAnthropic(root.Get("stop_reason").String()),
		StopSequence: root.Get("stop_sequence").String(),
	}
	realTools := false
	root.Get("content").ForEach(func(_, b gjson.Result) bool {
		switch b.Get("type").String() {
		case "text":
			ch.Parts = append(ch.Parts, llm.Part{Type: llm.PartText, Text: b.Get("text").String()})
		case "thinking":
			ch.Parts = append(ch.Parts, llm.Part{Type: llm.PartReasoning, Text: b.Get("thinking").String(), Signature: b.Get("signature").String()})
		case "redacted_thinking":
			ch.Parts = append(ch.Parts, llm.Part{Type: llm.PartRedactedReasoning, Data: b.Get("data").String()})
		case "tool_use":
			name := b.Get("name").String()
			in := b.Get("input")
			args := json.RawMessage("{}")
			if in.IsObject() {
				args = rawBytes(in)
			}
			if emu.JSONTool != "" && name == emu.JSONTool {
				ch.Parts = append(ch.Parts, llm.Part{Type: llm.PartText, Text: string(args)})
				return true
			}
			realTools = true
			ch.Parts = append(ch.Parts, llm.Part{Type: llm.PartToolCall, ToolCallID: b.Get("id").String(), ToolName: name, Arguments: args})
		}
		// Server-tool blocks (server_tool_use, *_tool_result) and
		// citations have no hub slot; they only occur for Anthropic
		// clients, which use the pass-through path.
		return true
	})
	if emu.JSONTool != "" && ch.StopReason == llm.StopToolUse && !realTools {
		ch.StopReason = llm.StopEnd
	}
	resp.Choices = []llm.Choice{ch}
	return resp, nil
}

// messageID gives a message id Anthropic's prefix (msg_), which clients
// and validators expect; an upstream's own id is kept after it.
func messageID(id string) string {
	if strings.HasPrefix(id, "msg_") {
		return id
	}
	return "msg_" + sanitizeName(id, 1<<10)
}

// toolUseID gives a tool call id Anthropic's prefix (toolu_, or srvtoolu_
// for server tools) and alphabet. Both sides of the next turn carry the
// prefixed id, so calls and results still pair.
func toolUseID(id string, n int) string {
	if strings.HasPrefix(id, "toolu_") || strings.HasPrefix(id, "srvtoolu_") {
		return sanitizeName(id, 1<<10)
	}
	if id == "" {
		id = strconv.Itoa(n)
	}
	return "toolu_" + sanitizeName(id, 1<<10)
}

// showTokens renders an answer's opaque tokens for an Anthropic client
// (see llm.ShowToken): Anthropic's own verbatim, another provider's in an
// envelope. Anthropic has signatures on thinking blocks only, so a Gemini
// signature of a function call rides in the thinking block just before
// the tool_use (or a thinking block of its own), and one of a text part
// in a thinking block right after the text; placeTokens undoes this when
// the client sends the turn back.
func showTokens(parts []llm.Part, issuer llm.Issuer) []llm.Part {
	out := make([]llm.Part, 0, len(parts)+1)
	for i := range parts {
		p := parts[i]
		switch p.Type {
		case llm.PartReasoning:
			p.Signature = llm.ShowToken(&p, issuer, llm.TokenThinking, p.Signature, SourceFormat)
		case llm.PartRedactedReasoning:
			p.Data = llm.ShowToken(&p, issuer, llm.TokenRedacted, p.Data, SourceFormat)
		case llm.PartToolCall:
			if p.Signature != "" {
				env := llm.ShowToken(&p, issuer, llm.TokenCall, p.Signature, SourceFormat)
				p.Signature = ""
				if k := len(out) - 1; k >= 0 && out[k].Type == llm.PartReasoning && out[k].Signature == "" {
					out[k].Signature = env
				} else {
					out = append(out, llm.Part{Type: llm.PartReasoning, Signature: env})
				}
			}
		case llm.PartText:
			if p.Signature != "" {
				env := llm.ShowToken(&p, issuer, llm.TokenText, p.Signature, SourceFormat)
				p.Signature = ""
				out = append(out, p, llm.Part{Type: llm.PartReasoning, Signature: env})
				continue
			}
		}
		out = append(out, p)
	}
	return out
}

// EncodeResponse renders a hub response as an Anthropic Messages response.
// Only the first choice is sent (Anthropic has no n); media parts have no
// Anthropic output block and are omitted; a reasoning part without
// signature is sent with an empty one. Ids get Anthropic's prefixes
// (msg_, toolu_) and opaque tokens are shown as showTokens says.
func EncodeResponse(resp *llm.Response) ([]byte, error) {
	b := make([]byte, 0, 512)
	b = append(b, `{"id":`...)
	b = appendString(b, messageID(resp.ID))
	b = append(b, `,"type":"message","role":"assistant","model":`...)
	b = appendString(b, resp.Model)
	b = append(b, `,"content":[`...)
	var ch llm.Choice
	if len(resp.Choices) > 0 {
		ch = resp.Choices[0]
	}
	n := 0
	for _, p := range showTokens(ch.Parts, resp.Issuer) {
		mark := len(b)
		if n > 0 {
			b = append(b, ',')
		}
		switch p.Type {
		case llm.PartText, "":
			b = append(b, `{"type":"text","text":`...)
			b = appendString(b, p.Text)
		case llm.PartReasoning:
			b = append(b, `{"type":"thinking","thinking":`...)
			b = appendString(b, p.Text)
			b = append(b, `,"signature":`...)
			b = appendString(b, p.Signature)
		case llm.PartRedactedReasoning:
			b = append(b, `{"type":"redacted_thinking","data":`...)
			b = appendString(b, p.Data)
		case llm.PartToolCall:
			b = append(b, `{"type":"tool_use","id":`...)
			b = appendString(b, toolUseID(p.ToolCallID, n))
			b = append(b, `,"name":`...)
			b = appendString(b, p.ToolName)
			b = append(b, `,"input":`...)
			if isObjectJSON(p.Arguments) {
				b = append(b, p.Arguments...)
			} else {
				b = append(b, "{}"...)
			}
		default:
			b = b[:mark]
			continue
		}
		b = append(b, '}')
		n++
	}
	b = append(b, `],"stop_reason":`...)
	b = appendString(b, stopToAnthropic(ch.StopReason))
	b = append(b, `,"stop_sequence":`...)
	if ch.StopSequence != "" {
		b = appendString(b, ch.StopSequence)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"usage":`...)
	b = appendUsage(b, resp.Usage)
	return append(b, '}'), nil
}

// appendUsage writes an Anthropic usage object, taking the cache counters
// back out of the hub's inclusive InputTokens.
func appendUsage(b []byte, u llm.Usage) []byte {
	in := max(u.InputTokens-u.CachedInputTokens-u.CacheWriteTokens, 0)
	b = append(b, `{"input_tokens":`...)
	b = strconv.AppendInt(b, in, 10)
	b = append(b, `,"cache_creation_input_tokens":`...)
	b = strconv.AppendInt(b, u.CacheWriteTokens, 10)
	b = append(b, `,"cache_read_input_tokens":`...)
	b = strconv.AppendInt(b, u.CachedInputTokens, 10)
	b = append(b, `,"output_tokens":`...)
	b = strconv.AppendInt(b, u.OutputTokens, 10)
	if u.ReasoningTokens > 0 {
		b = append(b, `,"output_tokens_details":{"thinking_tokens":`...)
		b = strconv.AppendInt(b, u.ReasoningTokens, 10)
		b = append(b, '}')
	}
	return append(b, '}')
}
