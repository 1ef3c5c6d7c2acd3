package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"switchboard/internal/gateway"
	"switchboard/internal/llm"
	"switchboard/internal/sse"
)

func TestDecodeRequestErrors(t *testing.T) {
	tests := []struct {
		name, body, param string
	}{
		{"not json", `{`, ""},
		{"not object", `[]`, ""},
		{"missing model", `{"messages":[]}`, "model"},
		{"model type", `{"model":1,"messages":[]}`, "model"},
		{"missing messages", `{"model":"m"}`, "messages"},
		{"bad role", `{"model":"m","messages":[{"role":"system","content":"x"}]}`, "messages[0].role"},
		{"bad content", `{"model":"m","messages":[{"role":"user","content":5}]}`, "messages[0].content"},
		{"max_tokens float", `{"model":"m","max_tokens":1.5,"messages":[]}`, "max_tokens"},
		{"temperature string", `{"model":"m","temperature":"hot","messages":[]}`, "temperature"},
		{"stream type", `{"model":"m","stream":"yes","messages":[]}`, "stream"},
		{"tool_choice type", `{"model":"m","tool_choice":{"type":"maybe"},"messages":[]}`, "tool_choice.type"},
		{"tool_choice name", `{"model":"m","tool_choice":{"type":"tool"},"messages":[]}`, "tool_choice.name"},
		{"tool without name", `{"model":"m","tools":[{"input_schema":{}}],"messages":[]}`, "tools[0].name"},
		{"unknown block", `{"model":"m","messages":[{"role":"assistant","content":[{"type":"server_tool_use","id":"x"}]}]}`, "messages[0].content[0].type"},
		{"tool_result in assistant", `{"model":"m","messages":[{"role":"assistant","content":[{"type":"tool_result","tool_use_id":"x"}]}]}`, "messages[0].content[0]"},
		{"file image source", `{"model":"m","messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"f"}}]}]}`, "messages[0].content[0].source.type"},
		{"thinking budget", `{"model":"m","thinking":{"type":"enabled"},"messages":[]}`, "thinking.budget_tokens"},
		{"system block type", `{"model":"m","system":[{"type":"image"}],"messages":[]}`, "system[0]"},
		{"stop sequences", `{"model":"m","stop_sequences":[1],"messages":[]}`, "stop_sequences"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeRequest([]byte(tt.body))
			var ge *gateway.Error
			if !errors.As(err, &ge) {
				t.Fatalf("err = %v, want *gateway.Error", err)
			}
			if ge.Kind != gateway.KindInvalidRequest || ge.HTTPStatus() != 400 {
				t.Errorf("kind %v status %d", ge.Kind, ge.HTTPStatus())
			}
			if ge.Param != tt.param {
				t.Errorf("param = %q, want %q (%s)", ge.Param, tt.param, ge.Message)
			}
		})
	}
}

func TestDecodeRequestSplitsToolResults(t *testing.T) {
	body := `{"model":"m","messages":[{"role":"user","content":[
		{"type":"text","text":"before"},
		{"type":"tool_result","tool_use_id":"a","content":"ra"},
		{"type":"tool_result","tool_use_id":"b"},
		{"type":"text","text":"after"}]}]}`
	req, err := DecodeRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	var roles []string
	for _, m := range req.Messages {
		roles = append(roles, string(m.Role)+":"+string(rune('0'+len(m.Parts))))
	}
	if got := strings.Join(roles, ","); got != "user:1,tool:2,user:1" {
		t.Errorf("messages = %s", got)
	}
	if req.MaxTokens != nil {
		t.Errorf("MaxTokens = %v, want nil when absent", *req.MaxTokens)
	}
}

func TestEncodeRequestRejects(t *testing.T) {
	user := []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartText, Text: "hi"}}}}
	tests := []struct {
		name string
		req  llm.Request
		want string
	}{
		{"n>1", llm.Request{Model: "m", N: 2, Messages: user}, "n>1 is not supported by Anthropic models"},
		{"audio out", llm.Request{Model: "m", Modalities: []string{"text", "audio"}, Messages: user}, "audio output"},
		{"audio in", llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartAudio, Data: "AA", MediaType: "audio/wav"}}}}}, "audio input"},
		{"foreign built-in tool", llm.Request{Model: "m", SourceFormat: "openai", Messages: user, Tools: []llm.Tool{{Name: "web_search_preview", Raw: json.RawMessage(`{"type":"web_search_preview"}`)}}}, "built-in tool"},
		{"docx file", llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartFile, MediaType: "application/msword", Data: "AA"}}}}}, "PDF and plain text only"},
		{"non-base64 data url", llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartImage, URL: "data:text/plain,hello"}}}}}, "base64 data: URLs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := EncodeRequest(&tt.req)
			var ge *gateway.Error
			if !errors.As(err, &ge) || ge.Kind != gateway.KindInvalidRequest {
				t.Fatalf("err = %v, want KindInvalidRequest", err)
			}
			if !strings.Contains(ge.Message, tt.want) {
				t.Errorf("message %q does not mention %q", ge.Message, tt.want)
			}
		})
	}
}

func TestEncodeRequestThinkingAndSampling(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	i := func(v int) *int { return &v }
	user := []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartText, Text: "hi"}}}}
	tests := []struct {
		name string
		req  llm.Request
		want map[string]string // gjson path → raw value ("" = absent)
	}{
		{"defaults", llm.Request{Model: "m", Messages: user}, map[string]string{"max_tokens": "4096", "thinking": "", "temperature": ""}},
		{"temperature clamped", llm.Request{Model: "m", Temperature: f(2), Messages: user}, map[string]string{"temperature": "1"}},
		{"negative temperature", llm.Request{Model: "m", Temperature: f(-1), Messages: user}, map[string]string{"temperature": "0"}},
		{"top_p alone kept", llm.Request{Model: "m", TopP: f(0.8), Messages: user}, map[string]string{"top_p": "0.8"}},
		{"anthropic keeps both", llm.Request{Model: "m", SourceFormat: "anthropic", Temperature: f(0.5), TopP: f(0.8), Messages: user}, map[string]string{"top_p": "0.8", "temperature": "0.5"}},
		{"effort low", llm.Request{Model: "m", Reasoning: &llm.Reasoning{Enabled: true, Effort: "low"}, Messages: user}, map[string]string{"thinking.budget_tokens": "1024", "max_tokens": "4096"}},
		{"effort minimal", llm.Request{Model: "m", Reasoning: &llm.Reasoning{Enabled: true, Effort: "minimal"}, Messages: user}, map[string]string{"thinking.budget_tokens": "1024"}},
		{"effort medium", llm.Request{Model: "m", Reasoning: &llm.Reasoning{Enabled: true, Effort: "medium"}, Messages: user}, map[string]string{"thinking.budget_tokens": "8192", "max_tokens": "12288"}},
		{"tiny budget raised", llm.Request{Model: "m", Reasoning: &llm.Reasoning{Enabled: true, BudgetTokens: 10}, Messages: user}, map[string]string{"thinking.budget_tokens": "1024"}},
		{"max below budget", llm.Request{Model: "m", MaxTokens: i(500), Reasoning: &llm.Reasoning{Enabled: true, BudgetTokens: 2000}, Messages: user}, map[string]string{"max_tokens": "2500"}},
		{"thinking drops sampling", llm.Request{Model: "m", Temperature: f(0.3), TopP: f(0.9), TopK: i(3), Reasoning: &llm.Reasoning{Enabled: true}, Messages: user}, map[string]string{"temperature": "", "top_p": "", "top_k": ""}},
		{"reasoning disabled", llm.Request{Model: "m", Reasoning: &llm.Reasoning{Effort: "high"}, Messages: user}, map[string]string{"thinking": ""}},
		{"tool choice none", llm.Request{Model: "m", Tools: []llm.Tool{{Name: "t"}}, ToolChoice: &llm.ToolChoice{Mode: llm.ToolChoiceNone}, Messages: user}, map[string]string{"tool_choice": `{"type":"none"}`}},
		{"tool choice named", llm.Request{Model: "m", Tools: []llm.Tool{{Name: "t"}}, ToolChoice: &llm.ToolChoice{Mode: llm.ToolChoiceTool, Name: "t", DisableParallel: true}, Messages: user}, map[string]string{"tool_choice": `{"type":"tool","name":"t","disable_parallel_tool_use":true}`}},
		{"tool choice without tools", llm.Request{Model: "m", ToolChoice: &llm.ToolChoice{Mode: llm.ToolChoiceAuto}, Messages: user}, map[string]string{"tool_choice": ""}},
		{"json object with thinking", llm.Request{Model: "m", ResponseFormat: &llm.ResponseFormat{Type: llm.FormatJSONObject}, Reasoning: &llm.Reasoning{Enabled: true}, Messages: user}, map[string]string{"tools": "", "system.0.text": `"Respond only with a single valid JSON object, with no text before or after it."`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := EncodeRequest(&tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if !gjson.ValidBytes(b) {
				t.Fatalf("invalid JSON: %s", b)
			}
			for path, want := range tt.want {
				if got := gjson.GetBytes(b, path).Raw; got != want {
					t.Errorf("%s = %q, want %q in %s", path, got, want, b)
				}
			}
			if gjson.GetBytes(b, "stream_options").Exists() {
				t.Error("stream_options must never reach Anthropic")
			}
		})
	}
}

func TestNativeStructuredOutputOption(t *testing.T) {
	req := &llm.Request{Model: "m", ResponseFormat: &llm.ResponseFormat{Type: llm.FormatJSONSchema, Schema: json.RawMessage(`{"type":"object"}`)},
		Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartText, Text: "x"}}}}}
	b, emu, err := EncodeRequestOpts(req, EncodeOptions{NativeStructuredOutput: true})
	if err != nil {
		t.Fatal(err)
	}
	if emu != (Emulation{}) || gjson.GetBytes(b, "tools").Exists() {
		t.Errorf("native mode must not emulate: %+v %s", emu, b)
	}
	if got := gjson.GetBytes(b, "output_config.format.type").String(); got != "json_schema" {
		t.Errorf("output_config.format.type = %q", got)
	}
}

func TestDecodeResponseWithEmulation(t *testing.T) {
	body := `{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"tool_use","id":"toolu_1","name":"json_response","input":{"name":"Shakespeare"}}],"stop_reason":"tool_use","usage":{"input_tokens":3,"output_tokens":4}}`
	resp, err := DecodeResponseWith([]byte(body), Emulation{JSONTool: "json_response"})
	if err != nil {
		t.Fatal(err)
	}
	ch := resp.Choices[0]
	if ch.StopReason != llm.StopEnd || len(ch.Parts) != 1 || ch.Parts[0].Type != llm.PartText || ch.Parts[0].Text != `{"name":"Shakespeare"}` {
		t.Errorf("got %+v", ch)
	}
	// Without emulation the same body is a tool call.
	resp, _ = DecodeResponse([]byte(body))
	if resp.Choices[0].StopReason != llm.StopToolUse || resp.Choices[0].Parts[0].Type != llm.PartToolCall {
		t.Errorf("got %+v", resp.Choices[0])
	}
}

func TestStreamDecoderEmulation(t *testing.T) {
	raw := "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"m\",\"usage\":{\"input_tokens\":5}}}\n\n" +
		"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"json_response\",\"input\":{}}}\n\n" +
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"a\\\":\"}}\n\n" +
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"1}\"}}\n\n" +
		"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":7}}\n\n" +
		"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
	evs, err := decodeStream(t, NewStreamDecoderWith(Emulation{JSONTool: "json_response"}), []byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	for _, ev := range evs {
		switch ev.Type {
		case llm.EventToolCallStart, llm.EventToolCallDelta:
			t.Errorf("emulated tool leaked as a tool event: %+v", ev)
		case llm.EventTextDelta:
			text.WriteString(ev.Text)
		}
	}
	if text.String() != `{"a":1}` {
		t.Errorf("text = %q", text.String())
	}
	if last := evs[len(evs)-1]; last.Type != llm.EventStop || last.StopReason != llm.StopEnd {
		t.Errorf("last = %+v", last)
	}
}

func TestStreamDecoderFinish(t *testing.T) {
	start := "data: {\"type\":\"message_start\",\"message\":{\"id\":\"x\"}}\n\n"
	if _, err := decodeStream(t, NewStreamDecoder(), []byte(start)); err == nil {
		t.Error("a stream cut after message_start must be an error")
	}
	if _, err := decodeStream(t, NewStreamDecoder(), nil); err == nil {
		t.Error("an empty stream must be an error")
	}
	// stop_reason seen, message_stop lost: completed with a Stop.
	evs, err := decodeStream(t, NewStreamDecoder(), []byte(start+"data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\"}}\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	if last := evs[len(evs)-1]; last.Type != llm.EventStop || last.StopReason != llm.StopMaxTokens {
		t.Errorf("last = %+v", last)
	}
	if _, err := NewStreamDecoder().Decode(sse.Event{Data: []byte("{not json")}); err == nil {
		t.Error("malformed data must be an error")
	}
}

// TestStreamEncoderInterleavedTools feeds an OpenAI-style stream whose
// parallel tool calls interleave their argument deltas.
func TestStreamEncoderInterleavedTools(t *testing.T) {
	evs := []llm.Event{
		{Type: llm.EventStart, ID: "chatcmpl-1", Model: "gpt-4o"},
		{Type: llm.EventTextDelta, Index: 0, Text: "Calling."},
		{Type: llm.EventToolCallStart, Index: 1, ToolCallID: "call_a", ToolName: "a"},
		{Type: llm.EventToolCallDelta, Index: 1, Text: `{"x":`},
		{Type: llm.EventToolCallStart, Index: 2, ToolCallID: "call_b", ToolName: "b"},
		{Type: llm.EventToolCallDelta, Index: 2, Text: `{"y":`},
		{Type: llm.EventToolCallDelta, Index: 1, Text: `1}`},
		{Type: llm.EventToolCallDelta, Index: 2, Text: `2}`},
		{Type: llm.EventToolCallStart, Index: 3, ToolCallID: "call_c", ToolName: "c"},
		{Type: llm.EventUsage, Usage: &llm.Usage{InputTokens: 100, CachedInputTokens: 40, OutputTokens: 20}},
		{Type: llm.EventStop, StopReason: llm.StopToolUse},
	}
	out := encodeStream(t, StreamOptions{}, evs)
	if err := checkStream(out); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	back, err := decodeStream(t, NewStreamDecoder(), out)
	if err != nil {
		t.Fatal(err)
	}
	args := map[string]string{}
	var names []string
	byIndex := map[int]string{}
	var usage llm.Usage
	for _, ev := range back {
		switch ev.Type {
		case llm.EventToolCallStart:
			byIndex[ev.Index] = ev.ToolCallID
			names = append(names, ev.ToolName)
		case llm.EventToolCallDelta:
			args[byIndex[ev.Index]] += ev.Text
		case llm.EventUsage:
			usage = *ev.Usage
		}
	}
	if strings.Join(names, ",") != "a,b,c" {
		t.Errorf("tool order = %v", names)
	}
	if args["toolu_call_a"] != `{"x":1}` || args["toolu_call_b"] != `{"y":2}` || args["toolu_call_c"] != "" {
		t.Errorf("args = %v", args)
	}
	if usage.InputTokens != 100 || usage.CachedInputTokens != 40 || usage.OutputTokens != 20 {
		t.Errorf("usage = %+v", usage)
	}
	if !bytes.Contains(out, []byte(`"input_tokens":60,"cache_creation_input_tokens":0,"cache_read_input_tokens":40`)) {
		t.Errorf("cache tokens not subtracted from input_tokens:\n%s", out)
	}
}

func TestStreamEncoderEdgeCases(t *testing.T) {
	tests := []struct {
		name string
		evs  []llm.Event
		want []string // substrings that must appear, in order
	}{
		{"stop only", []llm.Event{{Type: llm.EventStop, StopReason: llm.StopMaxTokens}}, []string{"message_start", `"stop_reason":"max_tokens"`, "message_stop"}},
		{"nothing then close", nil, []string{"message_start", `"stop_reason":"end_turn"`, "message_stop"}},
		{"text without start", []llm.Event{{Type: llm.EventTextDelta, Index: 4, Text: "hi"}}, []string{"message_start", `"index":0,"content_block":{"type":"text"`, `"text":"hi"`, "content_block_stop", "message_stop"}},
		{"error mid block", []llm.Event{{Type: llm.EventTextDelta, Text: "a"}, {Type: llm.EventError, Err: &llm.StreamError{Status: 429, Message: "slow down"}}}, []string{"text_delta", `event: error`, `"type":"rate_limit_error","message":"slow down"`}},
		{"error first", []llm.Event{{Type: llm.EventError, Err: &llm.StreamError{Status: 500, Type: "upstream_error", Message: "boom"}}}, []string{`event: error`, `"api_error"`}},
		{"delta without tool start", []llm.Event{{Type: llm.EventStart, ID: "msg_9"}, {Type: llm.EventToolCallDelta, Index: 2, Text: "{}"}}, []string{`"id":"toolu_msg_9_2"`, `"partial_json":"{}"`}},
		{"signature only", []llm.Event{{Type: llm.EventReasoningDelta, Text: "think"}, {Type: llm.EventReasoningDelta, Signature: "sig"}, {Type: llm.EventTextDelta, Index: 1, Text: "x"}}, []string{"thinking_delta", "signature_delta", "content_block_stop", `"type":"text"`}},
		{"media dropped", []llm.Event{{Type: llm.EventMedia, Part: &llm.Part{Type: llm.PartImage}}}, []string{"message_start", "message_stop"}},
		{"events after stop ignored", []llm.Event{{Type: llm.EventStop}, {Type: llm.EventTextDelta, Text: "late"}}, []string{"message_stop"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := encodeStream(t, StreamOptions{ID: "msg_opt", Model: "claude"}, tt.evs)
			if err := checkStream(out); err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			rest := string(out)
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("missing %q (in order) in:\n%s", w, out)
				}
				rest = rest[i+len(w):]
			}
			if strings.Contains(string(out), "late") {
				t.Error("event after stop was written")
			}
		})
	}
}

func TestErrorBodyAndWriteError(t *testing.T) {
	tests := []struct {
		err    *gateway.Error
		status int
		typ    string
	}{
		{gateway.Errorf(gateway.KindInvalidRequest, "bad"), 400, "invalid_request_error"},
		{gateway.Errorf(gateway.KindAuthentication, "who"), 401, "authentication_error"},
		{gateway.Errorf(gateway.KindPermission, "no"), 403, "permission_error"},
		{gateway.Errorf(gateway.KindNotFound, "gone"), 404, "not_found_error"},
		{gateway.Errorf(gateway.KindRequestTooLarge, "big"), 413, "request_too_large"},
		{gateway.Errorf(gateway.KindRateLimited, "slow"), 429, "rate_limit_error"},
		{gateway.Errorf(gateway.KindOverloaded, "busy"), 529, "overloaded_error"},
		{gateway.Errorf(gateway.KindInternal, "oops"), 500, "api_error"},
		{&gateway.Error{Kind: gateway.KindUpstream, Status: 500, Type: "overloaded_error", Message: "x"}, 500, "overloaded_error"},
		{&gateway.Error{Kind: gateway.KindUpstream, Status: 502, Type: "server_error", Message: "x"}, 502, "api_error"},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		tt.err.RetryAfter = 1500 * time.Millisecond
		WriteError(rec, tt.err, "req_1")
		if rec.Code != tt.status {
			t.Errorf("%s: status %d, want %d", tt.err.Message, rec.Code, tt.status)
		}
		b := rec.Body.Bytes()
		if gjson.GetBytes(b, "type").String() != "error" || gjson.GetBytes(b, "error.type").String() != tt.typ ||
			gjson.GetBytes(b, "error.message").String() != tt.err.Message || gjson.GetBytes(b, "request_id").String() != "req_1" {
			t.Errorf("body %s", b)
		}
		if rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("Retry-After") != "2" {
			t.Errorf("headers %v", rec.Header())
		}
	}
}

func TestParseUpstreamError(t *testing.T) {
	tests := []struct {
		status int
		body   string
		kind   gateway.ErrorKind
		typ    string
		msg    string
	}{
		{400, `{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"},"request_id":"req_x"}`, gateway.KindInvalidRequest, "invalid_request_error", "max_tokens: Field required"},
		{401, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`, gateway.KindAuthentication, "authentication_error", "invalid x-api-key"},
		{429, `{"type":"error","error":{"type":"rate_limit_error","message":"Number of requests has exceeded your rate limit"}}`, gateway.KindRateLimited, "rate_limit_error", "Number of requests has exceeded your rate limit"},
		{529, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, gateway.KindOverloaded, "overloaded_error", "Overloaded"},
		{500, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, gateway.KindOverloaded, "overloaded_error", "Overloaded"},
		{503, `<html>bad gateway at https://secret.internal</html>`, gateway.KindUpstream, "", "upstream returned 503 Service Unavailable"},
		{404, `{"message":"model not found"}`, gateway.KindNotFound, "", "model not found"},
	}
	for _, tt := range tests {
		e := ParseUpstreamError(tt.status, []byte(tt.body))
		if e.Kind != tt.kind || e.Type != tt.typ || e.Message != tt.msg || e.Status != tt.status {
			t.Errorf("%d %s: got %+v", tt.status, tt.body, e)
		}
	}
}

func TestParseUsage(t *testing.T) {
	tests := []struct {
		body string
		ok   bool
		want llm.Usage
	}{
		{`{"type":"message_start","message":{"usage":{"input_tokens":10,"cache_creation_input_tokens":5,"cache_read_input_tokens":3,"output_tokens":1}}}`, true,
			llm.Usage{InputTokens: 18, CacheWriteTokens: 5, CachedInputTokens: 3, OutputTokens: 1}},
		{`{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":42}}`, true, llm.Usage{OutputTokens: 42}},
		{`{"type":"content_block_delta","index":0}`, false, llm.Usage{}},
		{`not json`, false, llm.Usage{}},
	}
	for _, tt := range tests {
		u, ok := ParseUsage([]byte(tt.body))
		if ok != tt.ok || u != tt.want {
			t.Errorf("%s: got %+v %v", tt.body, u, ok)
		}
	}
}

func TestAppendString(t *testing.T) {
	for _, s := range []string{"", "plain", "quote\" back\\ nl\n tab\t cr\r", "\x00\x1f", "snowman ☃ \u2028\u2029", "bad \xff utf8", "<html>&"} {
		got := appendString(nil, s)
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("%q → %s: %v", s, got, err)
		}
		want := strings.ToValidUTF8(s, "\ufffd")
		if back != want {
			t.Errorf("%q → %s → %q", s, got, back)
		}
	}
}
