package gatewaytest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/tidwall/gjson"
)

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

// OpenAIChat scripts a fake OpenAI chat completions upstream.
type OpenAIChat struct {
	// Text is the answer, streamed as one chunk per space-separated word.
	Text string
	// ToolCalls, when set, are answered instead of text (name → arguments JSON).
	ToolCalls []ToolCall
	// NoUsage: the upstream never reports usage (like some self-hosted servers).
	NoUsage bool
	// Usage reported when asked: prompt, completion, cached, reasoning tokens.
	PromptTokens, CompletionTokens, CachedTokens, ReasoningTokens int
	// ChunkDelay paces stream chunks.
	ChunkDelay time.Duration
	// StopAfter cuts a stream after this many content chunks without
	// finishing it (0: never), to test broken upstreams.
	StopAfter int
}

// ToolCall is a scripted tool call.
type ToolCall struct {
	ID, Name, Arguments string
}

// Handler returns the scripted behaviour as an http.HandlerFunc.
func (o OpenAIChat) Handler() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body := readAll(r)
		if problem := openAIHistoryError(body); problem != "" {
			writeOpenAIError(w, http.StatusBadRequest, problem)
			return
		}
		model := gjson.GetBytes(body, "model").String()
		if gjson.GetBytes(body, "stream").Bool() {
			o.stream(w, r, model, gjson.GetBytes(body, "stream_options.include_usage").Bool())
			return
		}
		msg := map[string]any{"role": "assistant", "content": o.Text, "refusal": nil}
		finish := "stop"
		if len(o.ToolCalls) > 0 {
			var tcs []any
			for _, tc := range o.ToolCalls {
				tcs = append(tcs, map[string]any{"id": tc.ID, "type": "function", "function": map[string]any{"name": tc.Name, "arguments": tc.Arguments}})
			}
			msg["content"] = nil
			msg["tool_calls"] = tcs
			finish = "tool_calls"
		}
		resp := map[string]any{
			"id": "chatcmpl-fake", "object": "chat.completion", "created": 1700000000, "model": model,
			"choices":            []any{map[string]any{"index": 0, "message": msg, "logprobs": nil, "finish_reason": finish}},
			"system_fingerprint": "fp_fake",
		}
		if !o.NoUsage {
			resp["usage"] = o.usage()
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(resp)
	}
}

func (o OpenAIChat) usage() map[string]any {
	return map[string]any{
		"prompt_tokens": o.PromptTokens, "completion_tokens": o.CompletionTokens,
		"total_tokens":              o.PromptTokens + o.CompletionTokens,
		"prompt_tokens_details":     map[string]any{"cached_tokens": o.CachedTokens, "audio_tokens": 0},
		"completion_tokens_details": map[string]any{"reasoning_tokens": o.ReasoningTokens, "audio_tokens": 0},
	}
}

func (o OpenAIChat) stream(w http.ResponseWriter, r *http.Request, model string, includeUsage bool) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	send := func(v any) bool {
		b, _ := json.Marshal(v)
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	chunk := func(delta map[string]any, finish any) map[string]any {
		return map[string]any{"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1700000000, "model": model,
			"choices": []any{map[string]any{"index": 0, "delta": delta, "logprobs": nil, "finish_reason": finish}}}
	}
	if !send(chunk(map[string]any{"role": "assistant", "content": ""}, nil)) {
		return
	}
	finish := "stop"
	if len(o.ToolCalls) > 0 {
		finish = "tool_calls"
		for i, tc := range o.ToolCalls {
			if !send(chunk(map[string]any{"tool_calls": []any{map[string]any{"index": i, "id": tc.ID, "type": "function", "function": map[string]any{"name": tc.Name, "arguments": ""}}}}, nil)) {
				return
			}
			// Arguments arrive in fragments, as real upstreams send them.
			args := tc.Arguments
			for len(args) > 0 {
				n := min(5, len(args))
				if !send(chunk(map[string]any{"tool_calls": []any{map[string]any{"index": i, "function": map[string]any{"arguments": args[:n]}}}}, nil)) {
					return
				}
				args = args[n:]
			}
		}
	} else {
		for i, word := range strings.SplitAfter(o.Text, " ") {
			if o.StopAfter > 0 && i >= o.StopAfter {
				return // cut without finish_reason or [DONE]
			}
			if o.ChunkDelay > 0 {
				select {
				case <-time.After(o.ChunkDelay):
				case <-r.Context().Done():
					return
				}
			}
			if !send(chunk(map[string]any{"content": word}, nil)) {
				return
			}
		}
	}
	if !send(chunk(map[string]any{}, finish)) {
		return
	}
	if includeUsage && !o.NoUsage {
		if !send(map[string]any{"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1700000000, "model": model, "choices": []any{}, "usage": o.usage()}) {
			return
		}
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
	_ = rc.Flush()
}

// OpenAIError answers every request with an OpenAI-shaped error.
func OpenAIError(status int, message string, header map[string]string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_ = readAll(r)
		for k, v := range header {
			w.Header().Set(k, v)
		}
		writeOpenAIError(w, status, message)
	}
}

func writeOpenAIError(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"message": message, "type": "upstream_test_error", "param": nil, "code": "test_code"}})
	_, _ = w.Write(b)
}

func readAll(r *http.Request) []byte {
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(r.Body)
	return buf.Bytes()
}
