package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/packages/ssestream"
	"github.com/tidwall/gjson"

	"switchboard/internal/gateway"
	"switchboard/internal/gatewaytest/golden"
	"switchboard/internal/llm"
	"switchboard/internal/sse"
)

func ptr[T any](v T) *T { return &v }

// TestEncodeRequestFromHub covers requests that did not come from an OpenAI
// client (an Anthropic client's, here), where Extra is not re-emitted and
// features are mapped, emulated or dropped per the capability table.
func TestEncodeRequestFromHub(t *testing.T) {
	tests := []struct {
		name string
		req  llm.Request
	}{
		{"anthropic_tools_thinking", llm.Request{
			Model:        "gpt-5",
			SourceFormat: "anthropic",
			System: []llm.Part{
				{Type: llm.PartText, Text: "You are Claude Code.", CacheControl: &llm.CacheControl{Type: "ephemeral"}},
				{Type: llm.PartText, Text: "Be careful."},
			},
			Messages: []llm.Message{
				{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartText, Text: "Read the screenshot."}}},
				{Role: llm.RoleAssistant, Parts: []llm.Part{
					{Type: llm.PartReasoning, Text: "I should open it.", Signature: "sig=="},
					{Type: llm.PartRedactedReasoning, Data: "opaque"},
					{Type: llm.PartToolCall, ToolCallID: "toolu_1", ToolName: "read", Arguments: json.RawMessage(`{"path": "a.png"}`)},
				}},
				{Role: llm.RoleTool, Parts: []llm.Part{{Type: llm.PartToolResult, ToolCallID: "toolu_1", IsError: false, Content: []llm.Part{
					{Type: llm.PartText, Text: "here it is"},
					{Type: llm.PartImage, MediaType: "image/png", Data: "iVBORw0KGgo="},
				}}}},
				{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartText, Text: "What do you see?"}}},
			},
			MaxTokens:   ptr(32000),
			Temperature: ptr(1.0),
			TopK:        ptr(5),
			Stop:        []string{"\n\nHuman:"},
			Stream:      true,
			Tools: []llm.Tool{{Name: "read", Description: "Read a file", Strict: ptr(false),
				Parameters: json.RawMessage(`{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{"path":{"type":"string"}}}`)}},
			ToolChoice: &llm.ToolChoice{Mode: llm.ToolChoiceRequired, DisableParallel: true},
			Reasoning:  &llm.Reasoning{Enabled: true, BudgetTokens: 10000},
			Metadata:   map[string]string{"user_id": "u1"},
			Extra:      map[string]json.RawMessage{"anthropic_only": json.RawMessage(`1`)},
		}},
		{"tool_images_after_tool_run", llm.Request{
			Model:        "qwen3-vl",
			SourceFormat: "anthropic",
			Messages: []llm.Message{
				{Role: llm.RoleAssistant, Parts: []llm.Part{
					{Type: llm.PartToolCall, ToolCallID: "t1", ToolName: "shot", Arguments: json.RawMessage(`{}`)},
					{Type: llm.PartToolCall, ToolCallID: "t2", ToolName: "shot", Arguments: json.RawMessage(`{}`)},
				}},
				{Role: llm.RoleTool, Parts: []llm.Part{{Type: llm.PartToolResult, ToolCallID: "t1", Content: []llm.Part{{Type: llm.PartImage, URL: "https://example.com/1.png"}}}}},
				{Role: llm.RoleTool, Parts: []llm.Part{{Type: llm.PartToolResult, ToolCallID: "t2", Content: []llm.Part{{Type: llm.PartImage, URL: "https://example.com/2.png"}}}}},
				{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartText, Text: "Compare them."}}},
			},
		}},
		{"gemini_json_schema", llm.Request{
			Model:        "gpt-4o-mini",
			SourceFormat: "gemini",
			Messages:     []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartText, Text: "List colors"}, {Type: llm.PartAudio, MediaType: "audio/mpeg", Data: "SUQz"}}}},
			ResponseFormat: &llm.ResponseFormat{Type: llm.FormatJSONSchema,
				Schema: json.RawMessage(`{"type":"array","items":{"type":"string"}}`)},
			ToolChoice: &llm.ToolChoice{Mode: llm.ToolChoiceTool, Name: "x"},
			Reasoning:  &llm.Reasoning{Enabled: false},
			MaxTokens:  ptr(100),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := EncodeRequest(&tt.req)
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, filepath.Join("testdata", "chat", "encode", tt.name+".golden.json"), golden.Indent(t, b))
			for _, banned := range []string{"top_k", "thinking", "cache_control", "anthropic_only"} {
				if strings.Contains(string(b), `"`+banned+`"`) {
					t.Errorf("encoded request carries %q:\n%s", banned, b)
				}
			}
			// Every tool message must directly follow the assistant turn or another tool message.
			prev := ""
			for _, m := range gjson.GetBytes(b, "messages.#.role").Array() {
				if m.Str == "tool" && prev != "assistant" && prev != "tool" {
					t.Errorf("tool message after %q", prev)
				}
				prev = m.Str
			}
			if tt.req.Stream && !gjson.GetBytes(b, "stream_options.include_usage").Bool() {
				t.Error("streaming request without include_usage")
			}
		})
	}
}

func TestEncodeRequestRejects(t *testing.T) {
	tests := []struct {
		name string
		req  llm.Request
		want string
	}{
		{"builtin tool from anthropic", llm.Request{Model: "m", SourceFormat: "anthropic",
			Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartText, Text: "x"}}}},
			Tools:    []llm.Tool{{Name: "web_search", Raw: json.RawMessage(`{"type":"web_search_20250305"}`)}}}, "tools[0]"},
		{"image in system", llm.Request{Model: "m", System: []llm.Part{{Type: llm.PartImage, URL: "https://x"}},
			Messages: []llm.Message{{Role: llm.RoleUser}}}, "system[0]"},
		{"tool call without id", llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleAssistant,
			Parts: []llm.Part{{Type: llm.PartToolCall, ToolName: "f"}}}}}, "messages[0].content[0]"},
		{"file url", llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser,
			Parts: []llm.Part{{Type: llm.PartFile, URL: "https://example.com/a.pdf"}}}}}, "messages[0].content[0]"},
		{"audio url", llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser,
			Parts: []llm.Part{{Type: llm.PartAudio, URL: "https://example.com/a.mp3"}}}}}, "messages[0].content[0]"},
		{"no model", llm.Request{Messages: []llm.Message{{Role: llm.RoleUser}}}, "model"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := EncodeRequest(&tt.req)
			var ge *gateway.Error
			if !errors.As(err, &ge) || ge.Kind != gateway.KindInvalidRequest || ge.Param != tt.want || ge.Message == "" {
				t.Fatalf("err = %#v, want invalid request with param %q", err, tt.want)
			}
		})
	}
}

func TestMaxTokensSpelling(t *testing.T) {
	tests := []struct {
		model     string
		reasoning *llm.Reasoning
		want      string
	}{
		{"gpt-4o", nil, "max_tokens"},
		{"gpt-4o", &llm.Reasoning{Enabled: false}, "max_tokens"},
		{"deepseek-reasoner", &llm.Reasoning{Enabled: true, Effort: "high"}, "max_completion_tokens"},
		{"o3-mini", nil, "max_completion_tokens"},
		{"openai/o4-mini", nil, "max_completion_tokens"},
		{"gpt-5", nil, "max_completion_tokens"},
		{"gpt-5-mini-2025-08-07", nil, "max_completion_tokens"},
		{"o1x", nil, "max_tokens"},
	}
	for _, tt := range tests {
		req := llm.Request{Model: tt.model, MaxTokens: ptr(10), Reasoning: tt.reasoning,
			Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartText, Text: "x"}}}}}
		b, err := EncodeRequest(&req)
		if err != nil {
			t.Fatal(err)
		}
		if !gjson.GetBytes(b, tt.want).Exists() {
			t.Errorf("%s reasoning=%v: want %s in %s", tt.model, tt.reasoning, tt.want, b)
		}
	}
}

func TestArgumentsRoundTrip(t *testing.T) {
	for _, s := range []string{`{"a":1}`, ` {"a": [1, 2]} `, `{"a":`, `42`, `"quoted"`, `[1]`, `not json`, ``} {
		got := argumentsToWire(argumentsFromWire(s))
		want := s
		switch s {
		case ``:
			want = `{}`
		case ` {"a": [1, 2]} `:
			want = `{"a": [1, 2]}`
		}
		if got != want {
			t.Errorf("arguments %q came back as %q", s, got)
		}
		if a := argumentsFromWire(s); !json.Valid(a) {
			t.Errorf("Part.Arguments for %q is not JSON: %s", s, a)
		}
	}
}

func TestIncludeUsage(t *testing.T) {
	for body, want := range map[string]bool{
		`{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true,"stream_options":{"include_usage":true}}`:  true,
		`{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true,"stream_options":{"include_usage":false}}`: false,
		`{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true}`:                                          false,
	} {
		req, err := DecodeRequest([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		if got := IncludeUsage(req); got != want {
			t.Errorf("IncludeUsage(%s) = %v", body, got)
		}
	}
}

// sdkStream feeds encoder output to the official openai-go stream reader.
func sdkStream(body []byte) *ssestream.Stream[openai.ChatCompletionChunk] {
	res := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"text/event-stream"}},
		Body: io.NopCloser(bytes.NewReader(body))}
	return ssestream.NewStream[openai.ChatCompletionChunk](ssestream.NewDecoder(res), nil)
}

// TestStreamEncoderWithSDK checks what real clients see: openai-go
// accumulates our chunks into the right message and usage, and our error
// chunk surfaces as an error from the SDK.
func TestStreamEncoderWithSDK(t *testing.T) {
	body, err := os.ReadFile(filepath.Join("testdata", "chat", "encode_stream", "anthropic_tools.events.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	out := encodeEvents(t, StreamOptions{ID: "chatcmpl-x", Model: "gpt-x", Created: 1, IncludeUsage: true}, parseEvents(t, body))
	s := sdkStream(out)
	var acc openai.ChatCompletionAccumulator
	for s.Next() {
		acc.AddChunk(s.Current())
	}
	if err := s.Err(); err != nil {
		t.Fatalf("sdk: %v", err)
	}
	if len(acc.Choices) != 1 {
		t.Fatalf("choices = %d", len(acc.Choices))
	}
	m := acc.Choices[0].Message
	if m.Content != "Let me check.\n" || acc.Choices[0].FinishReason != "tool_calls" {
		t.Errorf("content %q finish %q", m.Content, acc.Choices[0].FinishReason)
	}
	if len(m.ToolCalls) != 2 || m.ToolCalls[0].ID != "toolu_P" || m.ToolCalls[0].Function.Arguments != `{"city":"Paris"}` ||
		m.ToolCalls[1].ID != "toolu_T" || m.ToolCalls[1].Function.Arguments != `{"city":"Tokyo"}` {
		t.Errorf("tool calls = %+v", m.ToolCalls)
	}
	if acc.Usage.PromptTokens != 120 || acc.Usage.CompletionTokens != 60 || acc.Usage.PromptTokensDetails.CachedTokens != 100 ||
		acc.Usage.CompletionTokensDetails.ReasoningTokens != 12 {
		t.Errorf("usage = %+v", acc.Usage)
	}

	body, err = os.ReadFile(filepath.Join("testdata", "chat", "encode_stream", "error_midstream.events.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	s = sdkStream(encodeEvents(t, StreamOptions{}, parseEvents(t, body)))
	n := 0
	for s.Next() {
		n++
	}
	var se *ssestream.StreamError
	if !errors.As(s.Err(), &se) || !strings.Contains(se.Error(), "upstream overloaded") {
		t.Fatalf("sdk error = %v, want a stream error carrying the message", s.Err())
	}
	if n != 2 {
		t.Errorf("sdk saw %d chunks before the error, want 2", n)
	}
}

// TestResponseWithSDK decodes EncodeResponse output with openai-go's types.
func TestResponseWithSDK(t *testing.T) {
	body, err := os.ReadFile(filepath.Join("testdata", "chat", "responses", "usage_cached.json"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := DecodeResponse(body)
	if err != nil {
		t.Fatal(err)
	}
	out, err := EncodeResponse(resp)
	if err != nil {
		t.Fatal(err)
	}
	var cc openai.ChatCompletion
	if err := json.Unmarshal(out, &cc); err != nil {
		t.Fatal(err)
	}
	if cc.Choices[0].Message.Content != "Done." || cc.Choices[1].Message.Refusal != "I can't help with that." ||
		cc.Usage.PromptTokensDetails.CachedTokens != 1536 || cc.Usage.TotalTokens != 2948 {
		t.Errorf("sdk view = %+v", cc)
	}
}

func TestStreamDecoderBounds(t *testing.T) {
	for _, data := range []string{
		`{"choices":[{"index":100000,"delta":{"content":"x"}}]}`,
		`{"choices":[{"index":-1,"delta":{"content":"x"}}]}`,
		`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":99999999,"id":"a","function":{"name":"f"}}]}}]}`,
		`not json`,
		`[1,2]`,
	} {
		d := NewStreamDecoder()
		if _, err := d.Decode(sseEvent(data)); err == nil {
			t.Errorf("Decode(%s) accepted", data)
		}
	}
	// Arguments before a name are buffered only up to a bound.
	d := NewStreamDecoder()
	big := strings.Repeat("a", 64<<10)
	var err error
	for i := 0; i < 20 && err == nil; i++ {
		_, err = d.Decode(sseEvent(`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"` + big + `"}}]}}]}`))
	}
	if err == nil {
		t.Error("unbounded pending tool arguments")
	}
}

func sseEvent(data string) sse.Event { return sse.Event{Data: []byte(data)} }
