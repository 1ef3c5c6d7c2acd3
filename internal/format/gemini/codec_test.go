package gemini

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"switchboard/internal/gateway"
	"switchboard/internal/llm"
	"switchboard/internal/sse"
)

func mustDecode(t *testing.T, body string) *llm.Request {
	t.Helper()
	req, err := DecodeRequest("gemini-2.5-flash", []byte(body))
	if err != nil {
		t.Fatalf("DecodeRequest: %v", err)
	}
	return req
}

// The two spellings of every field must decode to the same hub request.
func TestSnakeAndCamelAgree(t *testing.T) {
	camelBody := `{"contents":[{"role":"user","parts":[{"text":"hi"},{"inlineData":{"mimeType":"image/png","data":"AAAA"}},{"fileData":{"mimeType":"application/pdf","fileUri":"gs://b/x.pdf"}}]},
	 {"role":"model","parts":[{"functionCall":{"name":"f","args":{"my_arg":1}},"thoughtSignature":"s"}]},
	 {"role":"user","parts":[{"functionResponse":{"name":"f","response":{"the_result":2}}}]}],
	 "systemInstruction":{"parts":[{"text":"sys"}]},
	 "generationConfig":{"maxOutputTokens":5,"responseMimeType":"application/json","responseJsonSchema":{"type":"object","properties":{"snake_key":{"type":"string"}}},"thinkingConfig":{"thinkingBudget":10,"includeThoughts":true},"responseModalities":["TEXT"]},
	 "toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["f"]}},
	 "tools":[{"functionDeclarations":[{"name":"f","parametersJsonSchema":{"type":"object","properties":{"a_b":{"type":"string"}}}}]}],
	 "safetySettings":[{"category":"C","threshold":"T"}]}`
	snakeBody := `{"contents":[{"role":"user","parts":[{"text":"hi"},{"inline_data":{"mime_type":"image/png","data":"AAAA"}},{"file_data":{"mime_type":"application/pdf","file_uri":"gs://b/x.pdf"}}]},
	 {"role":"model","parts":[{"function_call":{"name":"f","args":{"my_arg":1}},"thought_signature":"s"}]},
	 {"role":"user","parts":[{"function_response":{"name":"f","response":{"the_result":2}}}]}],
	 "system_instruction":{"parts":[{"text":"sys"}]},
	 "generation_config":{"max_output_tokens":5,"response_mime_type":"application/json","response_json_schema":{"type":"object","properties":{"snake_key":{"type":"string"}}},"thinking_config":{"thinking_budget":10,"include_thoughts":true},"response_modalities":["TEXT"]},
	 "tool_config":{"function_calling_config":{"mode":"ANY","allowed_function_names":["f"]}},
	 "tools":[{"function_declarations":[{"name":"f","parameters_json_schema":{"type":"object","properties":{"a_b":{"type":"string"}}}}]}],
	 "safety_settings":[{"category":"C","threshold":"T"}]}`
	a, b := mustDecode(t, camelBody), mustDecode(t, snakeBody)
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if !bytes.Equal(ja, jb) {
		t.Fatalf("spellings decode differently:\ncamel %s\nsnake %s", ja, jb)
	}
	// User data keys are never rewritten.
	for _, want := range []string{`my_arg`, `the_result`, `snake_key`, `a_b`} {
		if !bytes.Contains(jb, []byte(want)) {
			t.Errorf("user key %q was rewritten: %s", want, jb)
		}
	}
}

func TestFunctionResponseMatching(t *testing.T) {
	req := mustDecode(t, `{"contents":[
	 {"role":"model","parts":[{"functionCall":{"name":"a"}},{"functionCall":{"name":"b"}},{"functionCall":{"name":"a"}},{"functionCall":{"name":"c","id":"own"}}]},
	 {"role":"user","parts":[{"functionResponse":{"name":"a","response":{}}},{"functionResponse":{"name":"a","response":{}}},{"functionResponse":{"name":"b","response":{}}},{"functionResponse":{"name":"c","id":"own","response":{}}},{"functionResponse":{"name":"z","response":{}}}]}]}`)
	calls, results := toolIDs(req)
	wantCalls := []string{"call_a_0", "call_b_1", "call_a_2", "own"}
	wantResults := []string{"call_a_0", "call_a_2", "call_b_1", "own", "call_z_4"}
	if strings.Join(calls, ",") != strings.Join(wantCalls, ",") || strings.Join(results, ",") != strings.Join(wantResults, ",") {
		t.Fatalf("calls %v results %v; want %v and %v", calls, results, wantCalls, wantResults)
	}
	if req.Messages[1].Role != llm.RoleTool {
		t.Fatalf("function responses should decode to a tool message, got %s", req.Messages[1].Role)
	}
}

func TestUserTurnSplitsToolResultsAndText(t *testing.T) {
	req := mustDecode(t, `{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f"}}]},
	 {"role":"user","parts":[{"functionResponse":{"name":"f","response":{"x":1}}},{"text":"and now?"}]}]}`)
	if len(req.Messages) != 3 || req.Messages[1].Role != llm.RoleTool || req.Messages[2].Role != llm.RoleUser {
		t.Fatalf("messages = %+v", req.Messages)
	}
}

func TestDecodeRequestErrors(t *testing.T) {
	cases := []struct{ name, body, param string }{
		{"not json", `{`, ""},
		{"not object", `[]`, ""},
		{"contents not array", `{"contents":{}}`, "contents"},
		{"bad role", `{"contents":[{"role":"system","parts":[{"text":"x"}]}]}`, "contents[0].role"},
		{"empty part", `{"contents":[{"parts":[{}]}]}`, "contents[0].parts[0]"},
		{"code execution", `{"contents":[{"role":"model","parts":[{"executableCode":{"code":"1"}}]}]}`, "contents[0].parts[0]"},
		{"unknown part", `{"contents":[{"parts":[{"videoMetadata":{}}]}]}`, "contents[0].parts[0]"},
		{"call in user turn", `{"contents":[{"parts":[{"functionCall":{"name":"f"}}]}]}`, "contents[0].parts[0]"},
		{"call without name", `{"contents":[{"role":"model","parts":[{"functionCall":{"args":{}}}]}]}`, "contents[0].parts[0]"},
		{"text not string", `{"contents":[{"parts":[{"text":5}]}]}`, "contents[0].parts[0]"},
		{"temperature string", `{"contents":[],"generationConfig":{"temperature":"hot"}}`, "generationConfig.temperature"},
		{"system image", `{"systemInstruction":{"parts":[{"inlineData":{"mimeType":"image/png","data":"A"}}]}}`, "systemInstruction.parts[0]"},
		{"declaration without name", `{"tools":[{"functionDeclarations":[{"description":"x"}]}]}`, "tools[0].functionDeclarations[0].name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeRequest("m", []byte(c.body))
			var ge *gateway.Error
			if !errors.As(err, &ge) || ge.Kind != gateway.KindInvalidRequest {
				t.Fatalf("err = %v, want invalid request", err)
			}
			if ge.Param != c.param {
				t.Errorf("param = %q, want %q", ge.Param, c.param)
			}
			if ge.Message == "" {
				t.Error("empty message")
			}
		})
	}
}

func TestEncodeRequestRejects(t *testing.T) {
	text := func(s string) []llm.Part { return []llm.Part{{Type: llm.PartText, Text: s}} }
	cases := []struct {
		name string
		req  llm.Request
		want string
	}{
		{"http image", llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartImage, URL: "https://example.com/cat.png"}}}}}, "must be fetched first"},
		{"foreign built-in tool", llm.Request{SourceFormat: "openai", Tools: []llm.Tool{{Raw: json.RawMessage(`{"type":"web_search"}`)}}}, "built-in tools"},
		{"orphan tool result", llm.Request{Messages: []llm.Message{{Role: llm.RoleTool, Parts: []llm.Part{{Type: llm.PartToolResult, ToolCallID: "x"}}}}}, "matches no earlier tool call"},
		{"audio options", llm.Request{SourceFormat: "openai", Audio: json.RawMessage(`{"voice":"alloy"}`), Messages: []llm.Message{{Role: llm.RoleUser, Parts: text("x")}}}, "audio output"},
		{"image in system", llm.Request{System: []llm.Part{{Type: llm.PartImage, Data: "AAAA"}}}, "must be text"},
		{"bad effort", llm.Request{Reasoning: &llm.Reasoning{Enabled: true, Effort: "galaxy"}}, "no Gemini equivalent"},
		{"inline without mime", llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartAudio, Data: "AAAA"}}}}}, "MIME type"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := EncodeRequest(&c.req)
			var ge *gateway.Error
			if !errors.As(err, &ge) || ge.Kind != gateway.KindInvalidRequest || !strings.Contains(ge.Message, c.want) {
				t.Fatalf("err = %v, want invalid request containing %q", err, c.want)
			}
		})
	}
}

func TestNeedsFetch(t *testing.T) {
	img := func(url string) *llm.Request {
		return &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartImage, URL: url}}}}}
	}
	cases := map[string]bool{
		"https://example.com/a.png":                                  true,
		"HTTP://example.com/a.png":                                   true,
		"data:image/png;base64,AAA":                                  false,
		"gs://bucket/a.png":                                          false,
		"https://generativelanguage.googleapis.com/v1beta/files/abc": false,
		"https://www.youtube.com/watch?v=x":                          false,
	}
	for url, want := range cases {
		if got := NeedsFetch(img(url)); got != want {
			t.Errorf("NeedsFetch(%q) = %v, want %v", url, got, want)
		}
	}
	inResult := &llm.Request{Messages: []llm.Message{{Role: llm.RoleTool, Parts: []llm.Part{{
		Type: llm.PartToolResult, Content: []llm.Part{{Type: llm.PartImage, URL: "https://example.com/x.png"}},
	}}}}}
	if !NeedsFetch(inResult) {
		t.Error("an image URL inside a tool result needs fetching too")
	}
}

func TestEncodeReasoning(t *testing.T) {
	cases := []struct {
		src  string
		r    llm.Reasoning
		want string
	}{
		{"openai", llm.Reasoning{Enabled: true, Effort: "low"}, `{"thinkingBudget":1024,"includeThoughts":true}`},
		{"openai", llm.Reasoning{Enabled: true, Effort: "minimal"}, `{"thinkingBudget":1024,"includeThoughts":true}`},
		{"openai", llm.Reasoning{Enabled: true, Effort: "medium"}, `{"thinkingBudget":8192,"includeThoughts":true}`},
		{"openai", llm.Reasoning{Enabled: true, Effort: "high"}, `{"thinkingBudget":24576,"includeThoughts":true}`},
		{"anthropic", llm.Reasoning{Enabled: true, BudgetTokens: 2000}, `{"thinkingBudget":2000,"includeThoughts":true}`},
		{"anthropic", llm.Reasoning{Enabled: false}, `{"thinkingBudget":0}`},
		{"gemini", llm.Reasoning{Enabled: true, Effort: "low"}, `{"thinkingLevel":"LOW"}`},
		{"gemini", llm.Reasoning{Enabled: true, IncludeThoughts: true}, `{"includeThoughts":true}`},
	}
	for _, c := range cases {
		r := c.r
		body, err := EncodeRequest(&llm.Request{SourceFormat: c.src, Reasoning: &r})
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			GenerationConfig struct {
				ThinkingConfig json.RawMessage `json:"thinkingConfig"`
			} `json:"generationConfig"`
		}
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		if string(got.GenerationConfig.ThinkingConfig) != c.want {
			t.Errorf("%s %+v: thinkingConfig %s, want %s", c.src, c.r, got.GenerationConfig.ThinkingConfig, c.want)
		}
	}
}

func TestExtraOnlyForGemini(t *testing.T) {
	req := &llm.Request{SourceFormat: "openai", Extra: map[string]json.RawMessage{"store": json.RawMessage("true")}}
	body, err := EncodeRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(body, []byte("store")) {
		t.Errorf("another format's Extra reached Gemini: %s", body)
	}
}

func TestStopReasons(t *testing.T) {
	cases := []struct {
		finish string
		tools  bool
		want   llm.StopReason
	}{
		{"STOP", false, llm.StopEnd},
		{"STOP", true, llm.StopToolUse},
		{"", true, llm.StopToolUse},
		{"MAX_TOKENS", true, llm.StopMaxTokens},
		{"SAFETY", false, llm.StopContentFilter},
		{"RECITATION", false, llm.StopContentFilter},
		{"BLOCKLIST", false, llm.StopContentFilter},
		{"PROHIBITED_CONTENT", false, llm.StopContentFilter},
		{"SPII", false, llm.StopContentFilter},
		{"MALFORMED_FUNCTION_CALL", false, llm.StopError},
		{"OTHER", false, llm.StopEnd},
	}
	for _, c := range cases {
		if got := stopReason(c.finish, c.tools); got != c.want {
			t.Errorf("stopReason(%q, %v) = %s, want %s", c.finish, c.tools, got, c.want)
		}
	}
	back := map[llm.StopReason]string{
		llm.StopEnd: "STOP", llm.StopToolUse: "STOP", llm.StopMaxTokens: "MAX_TOKENS",
		llm.StopContentFilter: "SAFETY", llm.StopSequence: "STOP", llm.StopError: "OTHER",
	}
	for r, want := range back {
		if got := finishReason(r); got != want {
			t.Errorf("finishReason(%s) = %s, want %s", r, got, want)
		}
	}
}

func TestErrorBody(t *testing.T) {
	cases := []struct {
		e      *gateway.Error
		code   int
		status string
	}{
		{gateway.Errorf(gateway.KindInvalidRequest, "bad"), 400, "INVALID_ARGUMENT"},
		{gateway.Errorf(gateway.KindAuthentication, "no key"), 401, "UNAUTHENTICATED"},
		{gateway.Errorf(gateway.KindPermission, "no"), 403, "PERMISSION_DENIED"},
		{gateway.Errorf(gateway.KindNotFound, "no model"), 404, "NOT_FOUND"},
		{gateway.Errorf(gateway.KindRateLimited, "slow down"), 429, "RESOURCE_EXHAUSTED"},
		{gateway.Errorf(gateway.KindInsufficientQuota, "budget"), 429, "RESOURCE_EXHAUSTED"},
		{gateway.Errorf(gateway.KindUnavailable, "none"), 503, "UNAVAILABLE"},
		{gateway.Errorf(gateway.KindTimeout, "late"), 504, "DEADLINE_EXCEEDED"},
		{gateway.Errorf(gateway.KindInternal, "oops"), 500, "INTERNAL"},
		{&gateway.Error{Kind: gateway.KindUpstream, Status: 503, Message: "x"}, 503, "UNAVAILABLE"},
		{&gateway.Error{Kind: gateway.KindUpstream, Status: 500, Message: "x", Type: "FAILED_PRECONDITION"}, 500, "FAILED_PRECONDITION"},
	}
	for _, c := range cases {
		var got struct {
			Error struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
				Status  string `json:"status"`
			} `json:"error"`
		}
		if err := json.Unmarshal(ErrorBody(c.e, "req-1"), &got); err != nil {
			t.Fatal(err)
		}
		if got.Error.Code != c.code || got.Error.Status != c.status || !strings.Contains(got.Error.Message, "req-1") {
			t.Errorf("%v: got %+v, want %d %s", c.e, got.Error, c.code, c.status)
		}
	}
	rec := httptest.NewRecorder()
	e := gateway.Errorf(gateway.KindRateLimited, "slow")
	e.RetryAfter = 1500 * time.Millisecond
	WriteError(rec, e, "r")
	if rec.Code != 429 || rec.Header().Get("Retry-After") != "2" || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Errorf("WriteError: %d %v", rec.Code, rec.Header())
	}
}

func TestParseUpstreamError(t *testing.T) {
	cases := []struct {
		status int
		body   string
		kind   gateway.ErrorKind
		msg    string
		typ    string
	}{
		{400, `{"error":{"code":400,"message":"Invalid JSON payload","status":"INVALID_ARGUMENT"}}`, gateway.KindInvalidRequest, "Invalid JSON payload", "INVALID_ARGUMENT"},
		{400, `{"error":{"code":400,"message":"API key not valid.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}}`, gateway.KindAuthentication, "API key not valid.", "INVALID_ARGUMENT"},
		{429, `[{"error":{"code":429,"message":"Quota exceeded","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"12s"}]}}]`, gateway.KindRateLimited, "Quota exceeded", "RESOURCE_EXHAUSTED"},
		{404, `{"error":{"code":404,"message":"models/x is not found","status":"NOT_FOUND"}}`, gateway.KindNotFound, "models/x is not found", "NOT_FOUND"},
		{503, `<html>busy</html>`, gateway.KindUpstream, "upstream returned 503 Service Unavailable", ""},
		{403, `{"error":{"code":403,"message":"denied","status":"PERMISSION_DENIED"}}`, gateway.KindPermission, "denied", "PERMISSION_DENIED"},
	}
	for _, c := range cases {
		e := ParseUpstreamError(c.status, []byte(c.body))
		if e.Kind != c.kind || e.Message != c.msg || e.Type != c.typ || e.Status != c.status {
			t.Errorf("%s: got kind %v msg %q type %q status %d", c.body, e.Kind, e.Message, e.Type, e.Status)
		}
	}
	if e := ParseUpstreamError(429, []byte(cases[2].body)); e.RetryAfter != 12*time.Second {
		t.Errorf("RetryAfter = %v", e.RetryAfter)
	}
}

func TestParseUsage(t *testing.T) {
	u, ok := ParseUsage([]byte(`{"usageMetadata":{"promptTokenCount":100,"candidatesTokenCount":20,"thoughtsTokenCount":30,"cachedContentTokenCount":60,"toolUsePromptTokenCount":5,"totalTokenCount":155}}`))
	want := llm.Usage{InputTokens: 105, CachedInputTokens: 60, OutputTokens: 50, ReasoningTokens: 30}
	if !ok || u != want {
		t.Errorf("ParseUsage = %+v %v, want %+v", u, ok, want)
	}
	if _, ok := ParseUsage([]byte(`{"candidates":[]}`)); ok {
		t.Error("no usageMetadata must report false")
	}
	u, ok = ParseUsage([]byte(`[{"usageMetadata":{"promptTokenCount":1}},{"usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":9}}]`))
	if !ok || u.OutputTokens != 9 {
		t.Errorf("array body: %+v %v", u, ok)
	}
	// EncodeResponse writes usage that reads back the same.
	in := llm.Usage{InputTokens: 50, CachedInputTokens: 10, OutputTokens: 40, ReasoningTokens: 15, ImageOutputTokens: 20, ImageInputTokens: 3, AudioInputTokens: 2}
	body, err := EncodeResponse(&llm.Response{Usage: in, Choices: []llm.Choice{{StopReason: llm.StopEnd}}})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := ParseUsage(body); got != in {
		t.Errorf("usage round trip: %+v, want %+v", got, in)
	}
}

func feed(t *testing.T, d *StreamDecoder, chunks ...string) []llm.Event {
	t.Helper()
	var out []llm.Event
	for _, c := range chunks {
		evs, err := d.Decode(sse.Event{Data: []byte(c)})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, evs...)
	}
	return out
}

func TestStreamDecoderFinish(t *testing.T) {
	// Nothing at all: an error, not a silent empty success.
	d := NewStreamDecoder()
	evs, err := d.Finish()
	if err != nil || len(evs) != 1 || evs[0].Type != llm.EventError || evs[0].Err.Status != http.StatusBadGateway {
		t.Fatalf("empty stream: %+v %v", evs, err)
	}
	// Finish after Stop adds nothing.
	d = NewStreamDecoder()
	evs = feed(t, d, `{"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":1}}`)
	if evs[len(evs)-1].Type != llm.EventStop {
		t.Fatalf("last event %+v", evs[len(evs)-1])
	}
	if more, _ := d.Finish(); len(more) != 0 {
		t.Errorf("Finish after stop: %+v", more)
	}
	// A blocked prompt stops with content_filter.
	d = NewStreamDecoder()
	evs = feed(t, d, `{"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"},"usageMetadata":{"promptTokenCount":7}}`)
	if last := evs[len(evs)-1]; last.Type != llm.EventStop || last.StopReason != llm.StopContentFilter {
		t.Fatalf("blocked: %+v", evs)
	}
	// Malformed chunks are an upstream error.
	if _, err := NewStreamDecoder().Decode(sse.Event{Data: []byte(`{"candidates":`)}); err == nil {
		t.Error("malformed chunk accepted")
	}
	// Text after a call opens a new block.
	d = NewStreamDecoder()
	evs = feed(t, d,
		`{"candidates":[{"content":{"parts":[{"text":"a"}]}}]}`,
		`{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f"}}]}}]}`,
		`{"candidates":[{"content":{"parts":[{"text":"b"}]}}]}`)
	var idx []int
	for _, ev := range evs {
		if ev.Type == llm.EventTextDelta || ev.Type == llm.EventToolCallStart {
			idx = append(idx, ev.Index)
		}
	}
	if len(idx) != 3 || idx[0] != 0 || idx[1] != 1 || idx[2] != 2 {
		t.Errorf("block indexes %v, want [0 1 2]", idx)
	}
	fin, _ := d.Finish()
	if len(fin) != 1 || fin[0].StopReason != llm.StopToolUse {
		t.Errorf("Finish after a call: %+v", fin)
	}
}

func TestStreamEncoderToolCalls(t *testing.T) {
	var buf bytes.Buffer
	w := sse.NewWriter(&buf)
	e := NewStreamEncoder(StreamOptions{SSE: true, Model: "gemini-x", ResponseID: "r"})
	// OpenAI-style parallel calls: argument deltas interleave between blocks.
	events := []llm.Event{
		{Type: llm.EventStart},
		{Type: llm.EventToolCallStart, Index: 0, ToolCallID: "c0", ToolName: "a"},
		{Type: llm.EventToolCallStart, Index: 1, ToolCallID: "c1", ToolName: "b"},
		{Type: llm.EventToolCallDelta, Index: 0, Text: `{"x":`},
		{Type: llm.EventToolCallDelta, Index: 1, Text: `{"y":2}`},
		{Type: llm.EventToolCallDelta, Index: 0, Text: `1}`},
		{Type: llm.EventUsage, Usage: &llm.Usage{InputTokens: 3, OutputTokens: 4}},
		{Type: llm.EventStop, StopReason: llm.StopToolUse},
	}
	for _, ev := range events {
		if err := e.Encode(w, ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Close(w); err != nil {
		t.Fatal(err)
	}
	want := `data: {"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"id":"c0","name":"a","args":{"x":1}}},{"functionCall":{"id":"c1","name":"b","args":{"y":2}}}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":4,"totalTokenCount":7},"modelVersion":"gemini-x","responseId":"r"}` + "\n\n"
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
}

func TestStreamEncoderArrayFraming(t *testing.T) {
	var buf bytes.Buffer
	w := sse.NewWriter(&buf)
	e := NewStreamEncoder(StreamOptions{})
	if err := e.Close(w); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(w); err != nil {
		t.Fatal(err)
	}
	if buf.String() != "[]" {
		t.Errorf("empty array stream = %q", buf.String())
	}
	buf.Reset()
	e = NewStreamEncoder(StreamOptions{})
	_ = e.Encode(w, llm.Event{Type: llm.EventTextDelta, Text: "hi"})
	_ = e.Encode(w, llm.Event{Type: llm.EventError, Err: &llm.StreamError{Status: 429, Message: "slow"}})
	_ = e.Encode(w, llm.Event{Type: llm.EventTextDelta, Text: "ignored after close"})
	_ = e.Close(w)
	var arr []map[string]any
	if err := json.Unmarshal(buf.Bytes(), &arr); err != nil || len(arr) != 2 {
		t.Fatalf("array stream %q: %v", buf.String(), err)
	}
	if got := arr[1]["error"].(map[string]any)["status"]; got != "RESOURCE_EXHAUSTED" {
		t.Errorf("error status %v", got)
	}
}

func TestStreamEncoderBoundsArguments(t *testing.T) {
	w := sse.NewWriter(&bytes.Buffer{})
	e := NewStreamEncoder(StreamOptions{SSE: true})
	_ = e.Encode(w, llm.Event{Type: llm.EventToolCallStart, ToolName: "f"})
	chunk := strings.Repeat("x", 1<<20)
	var err error
	for i := 0; i < 10 && err == nil; i++ {
		err = e.Encode(w, llm.Event{Type: llm.EventToolCallDelta, Text: chunk})
	}
	if err == nil {
		t.Fatal("unbounded tool-call buffer")
	}
}

func TestDecodeResponseErrors(t *testing.T) {
	if _, err := DecodeResponse([]byte(`nope`)); err == nil {
		t.Error("malformed body accepted")
	}
	_, err := DecodeResponse([]byte(`{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}`))
	var ge *gateway.Error
	if !errors.As(err, &ge) || ge.Kind != gateway.KindRateLimited {
		t.Errorf("error body: %v", err)
	}
}
