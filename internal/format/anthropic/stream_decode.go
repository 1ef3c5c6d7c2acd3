package anthropic

import (
	"github.com/tidwall/gjson"

	"switchboard/internal/gateway"
	"switchboard/internal/llm"
	"switchboard/internal/sse"
)

// StreamDecoder turns an Anthropic upstream's SSE events into hub events.
// Content events carry Anthropic's own content block index. Memory is
// bounded: the decoder keeps counters and a small per-block kind table.
type StreamDecoder struct {
	emu Emulation

	started bool
	stopped bool // message_stop or error seen
	failed  bool

	// Raw Anthropic counters; the hub usage is derived from them.
	in, cacheWrite, cacheRead, out, thinking int64
	cacheWrite1h, webSearches                int64

	stopReason   string
	stopSequence string

	// jsonBlocks marks blocks that are the emulated JSON answer tool.
	jsonBlocks map[int]bool
	realTools  bool
}

// NewStreamDecoder returns a decoder without emulation.
func NewStreamDecoder() *StreamDecoder { return &StreamDecoder{} }

// NewStreamDecoderWith returns a decoder that undoes emu (see Emulation).
func NewStreamDecoderWith(emu Emulation) *StreamDecoder { return &StreamDecoder{emu: emu} }

func upstreamErr(msg string) error {
	return &gateway.Error{Kind: gateway.KindUpstream, Message: msg}
}

// Decode converts one SSE event.
func (d *StreamDecoder) Decode(ev sse.Event) ([]llm.Event, error) {
	if len(ev.Data) == 0 || d.stopped {
		return nil, nil
	}
	if !gjson.ValidBytes(ev.Data) {
		return nil, upstreamErr("upstream sent a malformed stream event")
	}
	data := gjson.ParseBytes(ev.Data)
	typ := data.Get("type").String()
	if typ == "" {
		typ = string(ev.Event)
	}
	switch typ {
	case "message_start":
		m := data.Get("message")
		d.readUsage(m.Get("usage"))
		d.started = true
		return []llm.Event{
			{Type: llm.EventStart, ID: m.Get("id").String(), Model: m.Get("model").String(), Issuer: llm.Issuer{Provider: SourceFormat}},
			d.usageEvent(),
		}, nil
	case "content_block_start":
		return d.blockStart(data), nil
	case "content_block_delta":
		return d.blockDelta(data), nil
	case "message_delta":
		delta := data.Get("delta")
		if s := delta.Get("stop_reason"); s.Type == gjson.String {
			d.stopReason = s.Str
		}
		if s := delta.Get("stop_sequence"); s.Type == gjson.String {
			d.stopSequence = s.Str
		}
		if u := data.Get("usage"); u.IsObject() {
			d.readUsage(u)
			return []llm.Event{d.usageEvent()}, nil
		}
		return nil, nil
	case "message_stop":
		d.stopped = true
		return []llm.Event{d.stopEvent()}, nil
	case "error":
		d.stopped, d.failed = true, true
		typ := data.Get("error.type").String()
		msg := data.Get("error.message").String()
		if msg == "" {
			msg = "upstream stream error"
		}
		return []llm.Event{{Type: llm.EventError, Err: &llm.StreamError{
			Status: statusForType(typ), Type: typ, Message: msg,
		}}}, nil
	}
	// ping, content_block_stop and unknown future events carry nothing
	// the hub needs.
	return nil, nil
}

func (d *StreamDecoder) stopEvent() llm.Event {
	sr := stopFromAnthropic(d.stopReason)
	if d.emu.JSONTool != "" && sr == llm.StopToolUse && !d.realTools {
		sr = llm.StopEnd
	}
	return llm.Event{Type: llm.EventStop, StopReason: sr, StopSequence: d.stopSequence}
}

func (d *StreamDecoder) blockStart(data gjson.Result) []llm.Event {
	idx := int(data.Get("index").Int())
	cb := data.Get("content_block")
	switch cb.Get("type").String() {
	case "text":
		if t := cb.Get("text").String(); t != "" {
			return []llm.Event{{Type: llm.EventTextDelta, Index: idx, Text: t}}
		}
	case "thinking":
		t, sig := cb.Get("thinking").String(), cb.Get("signature").String()
		if t != "" || sig != "" {
			return []llm.Event{{Type: llm.EventReasoningDelta, Index: idx, Text: t, Signature: sig}}
		}
	case "redacted_thinking":
		return []llm.Event{{Type: llm.EventRedactedReasoning, Index: idx, Data: cb.Get("data").String()}}
	case "tool_use":
		name := cb.Get("name").String()
		in := cb.Get("input")
		hasInput := false
		if in.IsObject() {
			in.ForEach(func(_, _ gjson.Result) bool { hasInput = true; return false })
		}
		if d.emu.JSONTool != "" && name == d.emu.JSONTool {
			if d.jsonBlocks == nil {
				d.jsonBlocks = make(map[int]bool, 1)
			}
			d.jsonBlocks[idx] = true
			if hasInput {
				return []llm.Event{{Type: llm.EventTextDelta, Index: idx, Text: in.Raw}}
			}
			return nil
		}
		d.realTools = true
		evs := []llm.Event{{Type: llm.EventToolCallStart, Index: idx, ToolCallID: cb.Get("id").String(), ToolName: name}}
		if hasInput {
			evs = append(evs, llm.Event{Type: llm.EventToolCallDelta, Index: idx, Text: in.Raw})
		}
		return evs
	}
	// Server-tool blocks have no hub slot (pass-through keeps them).
	return nil
}

func (d *StreamDecoder) blockDelta(data gjson.Result) []llm.Event {
	idx := int(data.Get("index").Int())
	delta := data.Get("delta")
	switch delta.Get("type").String() {
	case "text_delta":
		return []llm.Event{{Type: llm.EventTextDelta, Index: idx, Text: delta.Get("text").String()}}
	case "thinking_delta":
		return []llm.Event{{Type: llm.EventReasoningDelta, Index: idx, Text: delta.Get("thinking").String()}}
	case "signature_delta":
		return []llm.Event{{Type: llm.EventReasoningDelta, Index: idx, Signature: delta.Get("signature").String()}}
	case "input_json_delta":
		pj := delta.Get("partial_json").String()
		if pj == "" {
			return nil // Anthropic opens every tool input with an empty fragment
		}
		if d.jsonBlocks[idx] {
			return []llm.Event{{Type: llm.EventTextDelta, Index: idx, Text: pj}}
		}
		return []llm.Event{{Type: llm.EventToolCallDelta, Index: idx, Text: pj}}
	}
	// citations_delta and future delta types: not carried.
	return nil
}

// readUsage updates the counters with every non-zero field: message_delta
// usage is cumulative, and some proxies send zeros for what they omit.
func (d *StreamDecoder) readUsage(u gjson.Result) {
	set := func(dst *int64, v gjson.Result) {
		if n := v.Int(); n != 0 {
			*dst = n
		}
	}
	set(&d.in, u.Get("input_tokens"))
	set(&d.cacheWrite, u.Get("cache_creation_input_tokens"))
	set(&d.cacheRead, u.Get("cache_read_input_tokens"))
	set(&d.out, u.Get("output_tokens"))
	set(&d.thinking, u.Get("output_tokens_details.thinking_tokens"))
	set(&d.cacheWrite1h, u.Get("cache_creation.ephemeral_1h_input_tokens"))
	set(&d.webSearches, u.Get("server_tool_use.web_search_requests"))
}

func (d *StreamDecoder) usage() llm.Usage {
	return llm.Usage{
		InputTokens:        d.in + d.cacheWrite + d.cacheRead,
		CachedInputTokens:  d.cacheRead,
		CacheWriteTokens:   d.cacheWrite,
		CacheWrite1hTokens: min(d.cacheWrite1h, d.cacheWrite),
		OutputTokens:       d.out,
		ReasoningTokens:    d.thinking,
		WebSearchRequests:  d.webSearches,
	}
}

func (d *StreamDecoder) usageEvent() llm.Event {
	u := d.usage()
	return llm.Event{Type: llm.EventUsage, Usage: &u}
}

// Finish is called at upstream EOF. A stream that saw its stop_reason but
// lost message_stop is completed; one that ended earlier is truncated.
func (d *StreamDecoder) Finish() ([]llm.Event, error) {
	if d.stopped {
		return nil, nil
	}
	if d.stopReason != "" {
		d.stopped = true
		return []llm.Event{d.stopEvent()}, nil
	}
	if !d.started {
		return nil, upstreamErr("upstream stream ended before message_start")
	}
	return nil, upstreamErr("upstream stream ended before message_stop")
}

// statusForType is the HTTP status an Anthropic error type stands for.
func statusForType(typ string) int {
	switch typ {
	case "invalid_request_error":
		return 400
	case "authentication_error":
		return 401
	case "billing_error":
		return 402
	case "permission_error":
		return 403
	case "not_found_error":
		return 404
	case "request_too_large":
		return 413
	case "rate_limit_error":
		return 429
	case "timeout_error":
		return 504
	case "overloaded_error":
		return StatusOverloaded
	}
	return 500
}
