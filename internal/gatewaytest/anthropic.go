package gatewaytest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/tidwall/gjson"
)

// Anthropic scripts a fake Anthropic Messages upstream (POST /v1/messages).
// Non-streaming calls get one message object; streaming calls get the real
// event sequence: message_start, per block content_block_start / deltas /
// content_block_stop, message_delta with the stop reason and output usage,
// message_stop — each frame with an `event:` line equal to its type.
type Anthropic struct {
	// Thinking, when set, is answered first as a thinking block carrying
	// Signature (delivered in a signature_delta when streaming).
	Thinking, Signature string
	// Text is the answer, streamed as one text_delta per space-separated word.
	Text string
	// ToolCalls follow the text as tool_use blocks; Arguments must be a JSON
	// object. Streamed input arrives in input_json_delta fragments.
	ToolCalls []ToolCall
	// StopReason overrides the stop reason (default end_turn, or tool_use
	// when ToolCalls are set).
	StopReason string
	// Usage: input, output, cache read and cache write tokens.
	InputTokens, OutputTokens, CacheReadTokens, CacheWriteTokens int
	// ErrorAfter, when > 0 on a stream, sends an `event: error` frame
	// (overloaded_error) after this many text deltas instead of finishing.
	ErrorAfter int
	// Signatures, when set, are the only thinking signatures and
	// redacted_thinking blobs a request may carry (see Signatures).
	Signatures Signatures
}

// Handler returns the scripted behaviour as an http.HandlerFunc.
func (a Anthropic) Handler() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body := readAll(r)
		if problem := anthropicHistoryError(body, a.Signatures); problem != "" {
			AnthropicError(http.StatusBadRequest, "invalid_request_error", problem, nil)(w, r)
			return
		}
		model := gjson.GetBytes(body, "model").String()
		if gjson.GetBytes(body, "stream").Bool() {
			a.stream(w, model)
			return
		}
		var content []any
		if a.Thinking != "" {
			content = append(content, map[string]any{"type": "thinking", "thinking": a.Thinking, "signature": a.Signature})
		}
		if a.Text != "" {
			content = append(content, map[string]any{"type": "text", "text": a.Text})
		}
		for _, tc := range a.ToolCalls {
			content = append(content, map[string]any{"type": "tool_use", "id": tc.ID, "name": tc.Name, "input": json.RawMessage(tc.Arguments)})
		}
		if content == nil {
			content = []any{}
		}
		resp := map[string]any{
			"id": "msg_fake", "type": "message", "role": "assistant", "model": model,
			"content": content, "stop_reason": a.stopReason(), "stop_sequence": nil,
			"usage": a.usage(true),
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Request-Id", "req_upstream_fake")
		_ = json.NewEncoder(w).Encode(resp)
	}
}

func (a Anthropic) stopReason() string {
	switch {
	case a.StopReason != "":
		return a.StopReason
	case len(a.ToolCalls) > 0:
		return "tool_use"
	}
	return "end_turn"
}

func (a Anthropic) usage(full bool) map[string]any {
	u := map[string]any{
		"input_tokens":                a.InputTokens,
		"cache_creation_input_tokens": a.CacheWriteTokens,
		"cache_read_input_tokens":     a.CacheReadTokens,
		"output_tokens":               a.OutputTokens,
	}
	if !full {
		u["output_tokens"] = 1 // message_start reports a provisional count
	}
	return u
}

func (a Anthropic) stream(w http.ResponseWriter, model string) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	send := func(v map[string]any) bool {
		b, _ := json.Marshal(v)
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", v["type"], b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send(map[string]any{"type": "message_start", "message": map[string]any{
		"id": "msg_fake", "type": "message", "role": "assistant", "model": model, "content": []any{},
		"stop_reason": nil, "stop_sequence": nil, "usage": a.usage(false),
	}}) {
		return
	}
	// Real upstreams interleave pings.
	if !send(map[string]any{"type": "ping"}) {
		return
	}
	idx := 0
	block := func(start map[string]any, deltas []map[string]any) bool {
		if !send(map[string]any{"type": "content_block_start", "index": idx, "content_block": start}) {
			return false
		}
		for _, d := range deltas {
			if !send(map[string]any{"type": "content_block_delta", "index": idx, "delta": d}) {
				return false
			}
		}
		ok := send(map[string]any{"type": "content_block_stop", "index": idx})
		idx++
		return ok
	}
	if a.Thinking != "" {
		var ds []map[string]any
		for _, word := range strings.SplitAfter(a.Thinking, " ") {
			ds = append(ds, map[string]any{"type": "thinking_delta", "thinking": word})
		}
		ds = append(ds, map[string]any{"type": "signature_delta", "signature": a.Signature})
		if !block(map[string]any{"type": "thinking", "thinking": "", "signature": ""}, ds) {
			return
		}
	}
	if a.Text != "" {
		if !send(map[string]any{"type": "content_block_start", "index": idx, "content_block": map[string]any{"type": "text", "text": ""}}) {
			return
		}
		for i, word := range strings.SplitAfter(a.Text, " ") {
			if a.ErrorAfter > 0 && i >= a.ErrorAfter {
				send(map[string]any{"type": "error", "error": map[string]any{"type": "overloaded_error", "message": "Overloaded"}})
				return
			}
			if !send(map[string]any{"type": "content_block_delta", "index": idx, "delta": map[string]any{"type": "text_delta", "text": word}}) {
				return
			}
		}
		if !send(map[string]any{"type": "content_block_stop", "index": idx}) {
			return
		}
		idx++
	}
	for _, tc := range a.ToolCalls {
		var ds []map[string]any
		// The first fragment is empty, as the real API sends it.
		ds = append(ds, map[string]any{"type": "input_json_delta", "partial_json": ""})
		for args := tc.Arguments; len(args) > 0; {
			n := min(4, len(args))
			ds = append(ds, map[string]any{"type": "input_json_delta", "partial_json": args[:n]})
			args = args[n:]
		}
		if !block(map[string]any{"type": "tool_use", "id": tc.ID, "name": tc.Name, "input": map[string]any{}}, ds) {
			return
		}
	}
	if !send(map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": a.stopReason(), "stop_sequence": nil}, "usage": a.usage(true)}) {
		return
	}
	send(map[string]any{"type": "message_stop"})
}

// AnthropicError answers every request with an Anthropic-shaped error
// ({"type":"error","error":{"type","message"},"request_id"}). errType is
// Anthropic's error type, e.g. invalid_request_error or rate_limit_error.
func AnthropicError(status int, errType, message string, header map[string]string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_ = readAll(r)
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		b, _ := json.Marshal(map[string]any{"type": "error", "error": map[string]any{"type": errType, "message": message}, "request_id": "req_upstream_fake"})
		_, _ = w.Write(b)
	}
}
