package gatewaytest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/tidwall/gjson"
)

// OpenAIResponses scripts a fake upstream of the OpenAI Responses API
// (POST /v1/responses), answering a complete Response or the event stream
// OpenAI sends: response.created, in_progress, each item added, its parts
// and deltas, done events, response.completed with the full output.
type OpenAIResponses struct {
	// Text is the answer, streamed as one delta per space-separated word.
	Text string
	// Summary, when set, is a reasoning item's summary before the answer,
	// with EncryptedContent as its encrypted_content.
	Summary, EncryptedContent string
	// ToolCalls are function calls answered after the text (if any).
	ToolCalls []ToolCall
	// Usage: input, output, cached and reasoning tokens.
	InputTokens, OutputTokens, CachedTokens, ReasoningTokens int
}

// Handler returns the scripted behaviour.
func (o OpenAIResponses) Handler() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body := readAll(r)
		if !gjson.ValidBytes(body) || !gjson.GetBytes(body, "model").Exists() {
			writeOpenAIError(w, http.StatusBadRequest, "model is required")
			return
		}
		model := gjson.GetBytes(body, "model").Str
		items := o.items()
		if !gjson.GetBytes(body, "stream").Bool() {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(o.response(model, "completed", items))
			return
		}
		o.stream(w, model, items)
	}
}

func (o OpenAIResponses) items() []map[string]any {
	var items []map[string]any
	if o.Summary != "" {
		it := map[string]any{"id": "rs_fake", "type": "reasoning", "summary": []any{map[string]any{"type": "summary_text", "text": o.Summary}}}
		if o.EncryptedContent != "" {
			it["encrypted_content"] = o.EncryptedContent
		}
		items = append(items, it)
	}
	if o.Text != "" || len(o.ToolCalls) == 0 {
		items = append(items, map[string]any{"id": "msg_fake", "type": "message", "status": "completed", "role": "assistant",
			"content": []any{map[string]any{"type": "output_text", "text": o.Text, "annotations": []any{}, "logprobs": []any{}}}})
	}
	for i, tc := range o.ToolCalls {
		items = append(items, map[string]any{"id": fmt.Sprintf("fc_fake%d", i), "type": "function_call", "status": "completed",
			"call_id": tc.ID, "name": tc.Name, "arguments": tc.Arguments})
	}
	return items
}

func (o OpenAIResponses) response(model, status string, output []map[string]any) map[string]any {
	resp := map[string]any{
		"id": "resp_fake", "object": "response", "created_at": 1700000000, "status": status, "model": model,
		"error": nil, "incomplete_details": nil, "instructions": nil, "metadata": map[string]any{},
		"output": output, "parallel_tool_calls": true, "temperature": 1.0, "top_p": 1.0,
		"tool_choice": "auto", "tools": []any{},
	}
	if status == "completed" {
		resp["usage"] = map[string]any{
			"input_tokens": o.InputTokens, "output_tokens": o.OutputTokens, "total_tokens": o.InputTokens + o.OutputTokens,
			"input_tokens_details":  map[string]any{"cached_tokens": o.CachedTokens, "cache_write_tokens": 0},
			"output_tokens_details": map[string]any{"reasoning_tokens": o.ReasoningTokens},
		}
	}
	return resp
}

func (o OpenAIResponses) stream(w http.ResponseWriter, model string, items []map[string]any) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	seq := 0
	send := func(ev map[string]any) {
		ev["sequence_number"] = seq
		seq++
		b, _ := json.Marshal(ev)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev["type"], b)
		_ = rc.Flush()
	}
	o.events(model, items, send)
}

// events produces the stream's events in order (without sequence numbers).
func (o OpenAIResponses) events(model string, items []map[string]any, send func(map[string]any)) {
	send(map[string]any{"type": "response.created", "response": o.response(model, "in_progress", []map[string]any{})})
	send(map[string]any{"type": "response.in_progress", "response": o.response(model, "in_progress", []map[string]any{})})
	for i, it := range items {
		id := it["id"]
		added := map[string]any{}
		for k, v := range it {
			added[k] = v
		}
		switch it["type"] {
		case "reasoning":
			added["summary"] = []any{}
			send(map[string]any{"type": "response.output_item.added", "output_index": i, "item": added})
			send(map[string]any{"type": "response.reasoning_summary_part.added", "item_id": id, "output_index": i, "summary_index": 0, "part": map[string]any{"type": "summary_text", "text": ""}})
			send(map[string]any{"type": "response.reasoning_summary_text.delta", "item_id": id, "output_index": i, "summary_index": 0, "delta": o.Summary})
			send(map[string]any{"type": "response.reasoning_summary_text.done", "item_id": id, "output_index": i, "summary_index": 0, "text": o.Summary})
			send(map[string]any{"type": "response.reasoning_summary_part.done", "item_id": id, "output_index": i, "summary_index": 0, "part": map[string]any{"type": "summary_text", "text": o.Summary}})
		case "message":
			added["content"], added["status"] = []any{}, "in_progress"
			send(map[string]any{"type": "response.output_item.added", "output_index": i, "item": added})
			part := map[string]any{"type": "output_text", "text": "", "annotations": []any{}, "logprobs": []any{}}
			send(map[string]any{"type": "response.content_part.added", "item_id": id, "output_index": i, "content_index": 0, "part": part})
			for _, word := range strings.SplitAfter(o.Text, " ") {
				send(map[string]any{"type": "response.output_text.delta", "item_id": id, "output_index": i, "content_index": 0, "delta": word, "logprobs": []any{}})
			}
			send(map[string]any{"type": "response.output_text.done", "item_id": id, "output_index": i, "content_index": 0, "text": o.Text, "logprobs": []any{}})
			done := map[string]any{"type": "output_text", "text": o.Text, "annotations": []any{}, "logprobs": []any{}}
			send(map[string]any{"type": "response.content_part.done", "item_id": id, "output_index": i, "content_index": 0, "part": done})
		case "function_call":
			added["arguments"], added["status"] = "", "in_progress"
			send(map[string]any{"type": "response.output_item.added", "output_index": i, "item": added})
			args := it["arguments"].(string)
			for rest := args; rest != ""; {
				n := min(5, len(rest))
				send(map[string]any{"type": "response.function_call_arguments.delta", "item_id": id, "output_index": i, "delta": rest[:n]})
				rest = rest[n:]
			}
			send(map[string]any{"type": "response.function_call_arguments.done", "item_id": id, "name": it["name"], "output_index": i, "arguments": args})
		}
		send(map[string]any{"type": "response.output_item.done", "output_index": i, "item": it})
	}
	send(map[string]any{"type": "response.completed", "response": o.response(model, "completed", items)})
}
