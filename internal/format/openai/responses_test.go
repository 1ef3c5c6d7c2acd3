package openai

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"switchboard/internal/gateway"
	"switchboard/internal/gatewaytest"
	"switchboard/internal/gatewaytest/golden"
	"switchboard/internal/llm"
	"switchboard/internal/sse"
)

// responsesInputs lists the inputs under testdata/responses/dir.
func responsesInputs(t testing.TB, dir, ext string) []string {
	t.Helper()
	return inputsIn(t, "responses", dir, ext)
}

// Each Responses request decodes to a pinned hub request, and the hub
// re-encodes for a Responses upstream to a pinned body.
func TestResponsesRequestGolden(t *testing.T) {
	for _, in := range responsesInputs(t, "requests", ".json") {
		t.Run(filepath.Base(in), func(t *testing.T) {
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			req, err := DecodeResponsesRequest(body)
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, stem(in, ".json")+".hub.golden.json", hubJSON(t, req))
			wire, err := EncodeResponsesRequest(req)
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, stem(in, ".json")+".wire.golden.json", golden.Indent(t, wire))
		})
	}
}

func TestDecodeResponsesRequestErrors(t *testing.T) {
	cases := []struct{ name, body, param, msg string }{
		{"no model", `{"input":"hi"}`, "model", "model is required"},
		{"no input", `{"model":"m"}`, "input", "no message"},
		{"input not string or array", `{"model":"m","input":5}`, "input", "string or an array"},
		{"unknown role", `{"model":"m","input":[{"role":"robot","content":"x"}]}`, "input[0].role", "robot"},
		{"image in a developer message", `{"model":"m","input":[{"role":"developer","content":[{"type":"input_image","image_url":"https://x/y.png"}]},{"role":"user","content":"x"}]}`, "input[0].content[0].type", "input_image"},
		{"call without call_id", `{"model":"m","input":[{"type":"function_call","name":"f","arguments":"{}"}]}`, "input[0].call_id", "string"},
		{"namespace with __", `{"model":"m","input":"x","tools":[{"type":"namespace","name":"a__b","tools":[{"type":"function","name":"f"}]}]}`, "tools[0].name", `"a__b"`},
		{"output not string or array", `{"model":"m","input":[{"type":"function_call_output","call_id":"c","output":{}}]}`, "input[0].output", "string or an array"},
		{"custom tool call item", `{"model":"m","input":[{"type":"custom_tool_call","call_id":"c","name":"apply_patch","input":"x"}]}`, "input[0].type", `"custom_tool_call"`},
		{"custom tool", `{"model":"m","input":"x","tools":[{"type":"custom","name":"apply_patch"}]}`, "tools[0]", `"apply_patch"`},
		{"mcp tool", `{"model":"m","input":"x","tools":[{"type":"mcp","server_label":"s"}]}`, "tools[0]", `"mcp"`},
		{"tool choice of a built-in", `{"model":"m","input":"x","tool_choice":{"type":"web_search_preview"}}`, "tool_choice.type", "web_search_preview"},
		{"schema missing", `{"model":"m","input":"x","text":{"format":{"type":"json_schema","name":"n"}}}`, "text.format.schema", "JSON Schema"},
		{"background", `{"model":"m","input":"x","background":true}`, "background", "background"},
		{"stored prompt", `{"model":"m","input":"x","prompt":{"id":"pmpt_1"}}`, "prompt", "prompt"},
		{"zero max_output_tokens", `{"model":"m","input":"x","max_output_tokens":0}`, "max_output_tokens", "range"},
		{"stored image", `{"model":"m","input":[{"role":"user","content":[{"type":"input_image","file_id":"file-1"}]}]}`, "input[0].content[0].file_id", "file_id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeResponsesRequest([]byte(tc.body))
			var ge *gateway.Error
			if !errors.As(err, &ge) || ge.Kind != gateway.KindInvalidRequest || ge.Param != tc.param || !strings.Contains(ge.Message, tc.msg) {
				t.Errorf("error %#v, want param %q and %q in the message", err, tc.param, tc.msg)
			}
		})
	}
}

// A Responses upstream's stream decodes to canonical hub events, which the
// client-side encoder turns back into a valid Responses stream.
func TestResponsesStreamDecoderGolden(t *testing.T) {
	for _, in := range responsesInputs(t, "streams", ".sse") {
		t.Run(filepath.Base(in), func(t *testing.T) {
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			evs := decodeResponsesSSE(t, body)
			golden.Check(t, stem(in, ".sse")+".events.golden.jsonl", renderEvents(t, evs))
			assertCanonical(t, evs, false)

			out := encodeResponsesEvents(t, ResponsesStreamOptions{ID: "req_0123", Model: "client-model", Created: 1700000000}, evs)
			golden.Check(t, stem(in, ".sse")+".encoded.golden.sse", normalizeCompleted(out))
			if err := gatewaytest.CheckStream(gatewaytest.APIOpenAIResponses, out); err != nil {
				t.Error(err)
			}
			// Our own stream decodes to the same content.
			back := decodeResponsesSSE(t, out)
			if got, want := renderEvents(t, back[1:]), renderEvents(t, evs[1:]); !bytes.Equal(got, want) {
				t.Errorf("encode→decode changed events:\n--- got\n%s--- want\n%s", got, want)
			}
		})
	}
}

func decodeResponsesSSE(t testing.TB, body []byte) []llm.Event {
	t.Helper()
	r := sse.NewReader(bytes.NewReader(body), 0)
	defer r.Release()
	d := NewResponsesStreamDecoder()
	var out []llm.Event
	for {
		ev, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		evs, err := d.Decode(ev)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, evs...)
	}
	return out
}

func encodeResponsesEvents(t testing.TB, o ResponsesStreamOptions, evs []llm.Event) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := sse.NewWriter(&buf)
	e := NewResponsesStreamEncoder(o)
	for _, ev := range evs {
		if err := e.Encode(w, ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Close(w); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// normalizeCompleted blanks completed_at, the one clock reading.
func normalizeCompleted(b []byte) []byte {
	for {
		i := bytes.Index(b, []byte(`"completed_at":`))
		if i < 0 || bytes.HasPrefix(b[i+15:], []byte("0,")) {
			return b
		}
		j := i + 15
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		b = append(append(b[:i+15:i+15], '0'), b[j:]...)
	}
}

// The encoder's ends: an error mid-stream is response.failed with the
// output so far; a length stop is response.incomplete; both valid.
func TestResponsesStreamEncoderEnds(t *testing.T) {
	start := llm.Event{Type: llm.EventStart}
	text := llm.Event{Type: llm.EventTextDelta, Text: "partial"}
	cases := []struct {
		name, last string
		evs        []llm.Event
		want       []string
	}{
		{"error", evFailed, []llm.Event{start, text, {Type: llm.EventError, Err: &llm.StreamError{Message: "upstream broke"}}}, []string{`"status":"failed"`, `"message":"upstream broke"`, `"text":"partial"`}},
		{"max tokens", evIncomplete, []llm.Event{start, text, {Type: llm.EventStop, StopReason: llm.StopMaxTokens}}, []string{`"status":"incomplete"`, `"reason":"max_output_tokens"`}},
		{"content filter", evIncomplete, []llm.Event{start, {Type: llm.EventStop, StopReason: llm.StopContentFilter}}, []string{`"reason":"content_filter"`}},
		{"closed without stop", evCompleted, []llm.Event{start, text}, []string{`"status":"completed"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := encodeResponsesEvents(t, ResponsesStreamOptions{ID: "req_1", Model: "m"}, tc.evs)
			if err := gatewaytest.CheckStream(gatewaytest.APIOpenAIResponses, out); err != nil {
				t.Error(err)
			}
			frames := bytes.Split(bytes.TrimSpace(out), []byte("\n\n"))
			last := string(frames[len(frames)-1])
			if !strings.HasPrefix(last, "event: "+tc.last+"\n") {
				t.Errorf("last frame %s", last)
			}
			for _, w := range tc.want {
				if !strings.Contains(last, w) {
					t.Errorf("last frame lacks %s: %s", w, last)
				}
			}
			if bytes.Contains(out, []byte("[DONE]")) {
				t.Error("[DONE] in a Responses stream")
			}
		})
	}
}

// Parallel calls whose argument deltas interleave stay apart, each on its
// own output index, and the complete answer holds both.
func TestResponsesStreamEncoderInterleavedCalls(t *testing.T) {
	evs := []llm.Event{
		{Type: llm.EventStart},
		{Type: llm.EventToolCallStart, Index: 0, ToolCallID: "c0", ToolName: "a"},
		{Type: llm.EventToolCallStart, Index: 1, ToolCallID: "c1", ToolName: "b"},
		{Type: llm.EventToolCallDelta, Index: 0, Text: `{"x":`},
		{Type: llm.EventToolCallDelta, Index: 1, Text: `{"y":2}`},
		{Type: llm.EventToolCallDelta, Index: 0, Text: `1}`},
		{Type: llm.EventStop, StopReason: llm.StopToolUse},
	}
	out := encodeResponsesEvents(t, ResponsesStreamOptions{ID: "req_1", Model: "m"}, evs)
	if err := gatewaytest.CheckStream(gatewaytest.APIOpenAIResponses, out); err != nil {
		t.Error(err)
	}
	back := decodeResponsesSSE(t, out)
	resp := DecodeResponsesResponseFromEvents(t, back)
	if len(resp) != 2 || resp[0] != `a {"x":1}` || resp[1] != `b {"y":2}` {
		t.Errorf("calls %q\n%s", resp, out)
	}
}

// DecodeResponsesResponseFromEvents joins a decoded stream's calls.
func DecodeResponsesResponseFromEvents(t *testing.T, evs []llm.Event) []string {
	t.Helper()
	names := map[int]string{}
	args := map[int]*strings.Builder{}
	var order []int
	for _, ev := range evs {
		switch ev.Type {
		case llm.EventToolCallStart:
			names[ev.Index] = ev.ToolName
			args[ev.Index] = &strings.Builder{}
			order = append(order, ev.Index)
		case llm.EventToolCallDelta:
			args[ev.Index].WriteString(ev.Text)
		}
	}
	var out []string
	for _, i := range order {
		out = append(out, names[i]+" "+args[i].String())
	}
	return out
}

// A complete answer renders through the same machine: valid, with the
// usage details and the request's settings echoed.
func TestEncodeResponsesAnswer(t *testing.T) {
	req, err := DecodeResponsesRequest([]byte(`{"model":"m","input":"x","instructions":"Be brief.","temperature":0.5,"tools":[{"type":"function","name":"f"}],"metadata":{"k":"v"}}`))
	if err != nil {
		t.Fatal(err)
	}
	resp := &llm.Response{Issuer: llm.Issuer{Provider: "anthropic", Channel: 7}, Choices: []llm.Choice{{StopReason: llm.StopToolUse, Parts: []llm.Part{
		{Type: llm.PartReasoning, Text: "hmm", Signature: "sig"},
		{Type: llm.PartText, Text: "Calling."},
		{Type: llm.PartToolCall, ToolCallID: "c1", ToolName: "f", Arguments: []byte(`{"a":1}`)},
	}}}, Usage: llm.Usage{InputTokens: 10, CachedInputTokens: 4, OutputTokens: 6, ReasoningTokens: 2}}
	b := EncodeResponsesAnswer(resp, ResponsesStreamOptions{ID: "req_ab", Model: "client", Created: 1, Request: req})
	if err := gatewaytest.CheckAnswer(gatewaytest.APIOpenAIResponses, 200, b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"id":"resp_ab"`, `"instructions":"Be brief."`, `"temperature":0.5`, `"metadata":{"k":"v"}`, `"cached_tokens":4`, `"reasoning_tokens":2`, `"total_tokens":16`,
		`"call_id":"c1"`, `"arguments":"{\"a\":1}"`, `"encrypted_content":"` + llm.WrapToken(llm.Issuer{Provider: "anthropic", Channel: 7}, llm.TokenThinking, "sig") + `"`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("answer lacks %s:\n%s", want, b)
		}
	}
	// The client sends the output back: the signature returns to its slot.
	back, err := DecodeResponsesRequest([]byte(`{"model":"m","input":[{"role":"user","content":"x"},` + itemsOf(t, b) + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	parts := back.Messages[1].Parts
	if parts[0].Type != llm.PartReasoning || parts[0].Signature != "sig" || parts[0].Issuer != (llm.Issuer{Provider: "anthropic", Channel: 7}) || parts[0].Text != "hmm" {
		t.Errorf("reasoning back %+v", parts[0])
	}
}

func itemsOf(t *testing.T, answer []byte) string {
	t.Helper()
	resp, err := DecodeResponsesResponse(answer)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp
	i := bytes.Index(answer, []byte(`"output":[`))
	depth, j := 0, i+len(`"output":`)
	for k := j; k < len(answer); k++ {
		switch answer[k] {
		case '[', '{':
			depth++
		case ']', '}':
			depth--
			if depth == 0 {
				return string(answer[j+1 : k])
			}
		}
	}
	t.Fatal("no output array")
	return ""
}

// FuzzDecodeResponsesRequest: nothing panics, every failure is a
// *gateway.Error, and what decodes encodes for a Responses upstream in a
// form that decodes again.
func FuzzDecodeResponsesRequest(f *testing.F) {
	for _, p := range responsesInputs(f, "requests", ".json") {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := DecodeResponsesRequest(body)
		if err != nil {
			asGatewayError(t, "decode", err)
			return
		}
		wire, err := EncodeResponsesRequest(req)
		if err != nil {
			asGatewayError(t, "encode", err)
			return
		}
		if _, err := DecodeResponsesRequest(wire); err != nil {
			t.Fatalf("own encoding rejected: %v\n%s", err, wire)
		}
	})
}

// FuzzResponsesStreamDecoder: no event sequence panics the decoder or the
// encoder it feeds, and the encoder's output is always a valid stream.
func FuzzResponsesStreamDecoder(f *testing.F) {
	for _, p := range responsesInputs(f, "streams", ".sse") {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := sse.NewReader(bytes.NewReader(body), 1<<16)
		defer r.Release()
		d := NewResponsesStreamDecoder()
		var buf bytes.Buffer
		w := sse.NewWriter(&buf)
		e := NewResponsesStreamEncoder(ResponsesStreamOptions{ID: "req_1", Model: "m", Created: 1})
		for {
			ev, err := r.Next()
			if err != nil {
				break
			}
			evs, err := d.Decode(ev)
			if err != nil {
				asGatewayError(t, "decode", err)
				return
			}
			for _, he := range evs {
				_ = e.Encode(w, he)
			}
		}
		_ = e.Close(w)
		if err := gatewaytest.CheckStream(gatewaytest.APIOpenAIResponses, buf.Bytes()); err != nil {
			t.Fatal(err)
		}
	})
}
