package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"switchboard/internal/gateway"
	"switchboard/internal/gatewaytest"
	"switchboard/internal/gatewaytest/golden"
	"switchboard/internal/llm"
	"switchboard/internal/sse"
)

func hubJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// inputs lists the input files of a golden directory (not the goldens).
func inputs(t testing.TB, dir, ext string) []string {
	t.Helper()
	return inputsIn(t, "chat", dir, ext)
}

// inputsIn lists the inputs of testdata/base/dir.
func inputsIn(t testing.TB, base, dir, ext string) []string {
	t.Helper()
	all, err := filepath.Glob(filepath.Join("testdata", base, dir, "*"+ext))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range all {
		if !strings.Contains(filepath.Base(f), ".golden") {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		t.Fatalf("no inputs in testdata/%s/%s", base, dir)
	}
	return out
}

func stem(path, ext string) string { return strings.TrimSuffix(path, ext) }

// withoutStreamOptions drops the one Extra field EncodeRequest rewrites on
// purpose (include_usage is forced on for streams).
func withoutStreamOptions(r *llm.Request) *llm.Request {
	c := *r
	if _, ok := c.Extra["stream_options"]; ok {
		c.Extra = make(map[string]json.RawMessage)
		for k, v := range r.Extra {
			if k != "stream_options" {
				c.Extra[k] = v
			}
		}
		if len(c.Extra) == 0 {
			c.Extra = nil
		}
	}
	return &c
}

// normalizeRaw compacts every raw JSON value so that formatting differences
// from a re-encode do not count as changes.
func normalizeRaw(r *llm.Request) *llm.Request {
	b, _ := json.Marshal(r)
	var c llm.Request
	_ = json.Unmarshal(b, &c)
	compact := func(m json.RawMessage) json.RawMessage {
		if len(m) == 0 {
			return nil
		}
		var buf bytes.Buffer
		if json.Compact(&buf, m) != nil {
			return m
		}
		return buf.Bytes()
	}
	c.TopK = nil // dropped towards OpenAI by design (see the capability table)
	c.Audio = compact(c.Audio)
	for i := range c.Tools {
		c.Tools[i].Parameters = compact(c.Tools[i].Parameters)
		c.Tools[i].Raw = compact(c.Tools[i].Raw)
	}
	if c.ResponseFormat != nil {
		c.ResponseFormat.Schema = compact(c.ResponseFormat.Schema)
	}
	for k, v := range c.Extra {
		c.Extra[k] = compact(v)
	}
	for i := range c.Messages {
		for j := range c.Messages[i].Parts {
			c.Messages[i].Parts[j].Arguments = compact(c.Messages[i].Parts[j].Arguments)
		}
	}
	return &c
}

func TestRequestGolden(t *testing.T) {
	for _, in := range inputs(t, "requests", ".json") {
		t.Run(filepath.Base(in), func(t *testing.T) {
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			req, err := DecodeRequest(body)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			golden.Check(t, stem(in, ".json")+".hub.golden.json", hubJSON(t, req))
			wire, err := EncodeRequest(req)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			golden.Check(t, stem(in, ".json")+".wire.golden.json", golden.Indent(t, wire))

			again, err := DecodeRequest(wire)
			if err != nil {
				t.Fatalf("re-decode: %v\n%s", err, wire)
			}
			if a, b := normalizeRaw(withoutStreamOptions(req)), normalizeRaw(withoutStreamOptions(again)); !reflect.DeepEqual(a, b) {
				t.Errorf("decode→encode→decode changed the request:\nfirst  %s\nsecond %s", hubJSON(t, a), hubJSON(t, b))
			}
		})
	}
}

func TestResponseGolden(t *testing.T) {
	for _, in := range inputs(t, "responses", ".json") {
		t.Run(filepath.Base(in), func(t *testing.T) {
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := DecodeResponse(body)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			golden.Check(t, stem(in, ".json")+".hub.golden.json", hubJSON(t, resp))
			wire, err := EncodeResponse(resp)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			golden.Check(t, stem(in, ".json")+".wire.golden.json", golden.Indent(t, wire))
			if err := gatewaytest.CheckAnswer(gatewaytest.APIOpenAIChat, 200, wire); err != nil {
				t.Error(err)
			}
			again, err := DecodeResponse(wire)
			if err != nil {
				t.Fatalf("re-decode: %v", err)
			}
			if !reflect.DeepEqual(resp, again) {
				t.Errorf("decode→encode→decode changed the response:\nfirst  %s\nsecond %s", hubJSON(t, resp), hubJSON(t, again))
			}
		})
	}
}

// eventLine is the golden rendering of one llm.Event.
type eventLine struct {
	Type         string           `json:"type"`
	Choice       int              `json:"choice,omitempty"`
	Index        *int             `json:"index,omitempty"`
	ID           string           `json:"id,omitempty"`
	Model        string           `json:"model,omitempty"`
	Text         string           `json:"text,omitempty"`
	Signature    string           `json:"signature,omitempty"`
	Data         string           `json:"data,omitempty"`
	ToolCallID   string           `json:"tool_call_id,omitempty"`
	ToolName     string           `json:"tool_name,omitempty"`
	Part         *llm.Part        `json:"part,omitempty"`
	Usage        *llm.Usage       `json:"usage,omitempty"`
	StopReason   string           `json:"stop_reason,omitempty"`
	StopSequence string           `json:"stop_sequence,omitempty"`
	Err          *llm.StreamError `json:"error,omitempty"`
}

var eventNames = map[llm.EventType]string{
	llm.EventStart: "start", llm.EventTextDelta: "text_delta", llm.EventReasoningDelta: "reasoning_delta",
	llm.EventRedactedReasoning: "redacted_reasoning", llm.EventToolCallStart: "tool_call_start",
	llm.EventToolCallDelta: "tool_call_delta", llm.EventMedia: "media", llm.EventUsage: "usage",
	llm.EventStop: "stop", llm.EventError: "error",
}

func hasIndex(t llm.EventType) bool {
	switch t {
	case llm.EventStart, llm.EventUsage, llm.EventStop, llm.EventError:
		return false
	}
	return true
}

func renderEvents(t *testing.T, evs []llm.Event) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, ev := range evs {
		l := eventLine{Type: eventNames[ev.Type], Choice: ev.Choice, ID: ev.ID, Model: ev.Model, Text: ev.Text,
			Signature: ev.Signature, Data: ev.Data, ToolCallID: ev.ToolCallID, ToolName: ev.ToolName, Part: ev.Part,
			Usage: ev.Usage, StopReason: string(ev.StopReason), StopSequence: ev.StopSequence, Err: ev.Err}
		if hasIndex(ev.Type) {
			i := ev.Index
			l.Index = &i
		}
		b, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

func parseEvents(t *testing.T, b []byte) []llm.Event {
	t.Helper()
	names := map[string]llm.EventType{}
	for k, v := range eventNames {
		names[v] = k
	}
	var out []llm.Event
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var l eventLine
		if err := json.Unmarshal(line, &l); err != nil {
			t.Fatalf("event line %s: %v", line, err)
		}
		typ, ok := names[l.Type]
		if !ok {
			t.Fatalf("unknown event type %q", l.Type)
		}
		ev := llm.Event{Type: typ, Choice: l.Choice, ID: l.ID, Model: l.Model, Text: l.Text, Signature: l.Signature,
			Data: l.Data, ToolCallID: l.ToolCallID, ToolName: l.ToolName, Part: l.Part, Usage: l.Usage,
			StopReason: llm.StopReason(l.StopReason), StopSequence: l.StopSequence, Err: l.Err}
		if l.Index != nil {
			ev.Index = *l.Index
		}
		out = append(out, ev)
	}
	return out
}

// decodeSSE runs a whole upstream stream through the decoder, returning the
// events and Finish's error.
func decodeSSE(t testing.TB, body []byte) ([]llm.Event, error) {
	t.Helper()
	r := sse.NewReader(bytes.NewReader(body), 0)
	d := NewStreamDecoder()
	var out []llm.Event
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return out, err
		}
		evs, err := d.Decode(ev)
		if err != nil {
			return out, err
		}
		out = append(out, evs...)
	}
	evs, err := d.Finish()
	return append(out, evs...), err
}

func encodeEvents(t testing.TB, opts StreamOptions, evs []llm.Event) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := sse.NewWriter(&buf)
	e := NewStreamEncoder(opts)
	for _, ev := range evs {
		if err := e.Encode(w, ev); err != nil {
			t.Fatalf("encode %+v: %v", ev, err)
		}
	}
	if err := e.Close(w); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestStreamDecoderGolden(t *testing.T) {
	for _, in := range inputs(t, "streams", ".sse") {
		t.Run(filepath.Base(in), func(t *testing.T) {
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			evs, err := decodeSSE(t, body)
			rendered := renderEvents(t, evs)
			if err != nil {
				rendered = append(rendered, fmt.Sprintf("# finish error: %v\n", err)...)
			}
			golden.Check(t, stem(in, ".sse")+".events.golden.jsonl", rendered)
			assertCanonical(t, evs, err != nil)

			opts := StreamOptions{ID: "chatcmpl-gw", Model: "client-model", Created: 1700000000, IncludeUsage: true}
			out := encodeEvents(t, opts, evs)
			golden.Check(t, stem(in, ".sse")+".encoded.golden.sse", out)
			if err := gatewaytest.CheckStream(gatewaytest.APIOpenAIChat, out); err != nil {
				t.Error(err)
			}

			// Our own output must decode to the same content events.
			if err == nil {
				back, err := decodeSSE(t, out)
				if err != nil {
					t.Fatalf("re-decode own stream: %v", err)
				}
				if got, want := renderEvents(t, back[1:]), renderEvents(t, evs[1:]); !bytes.Equal(got, want) {
					t.Errorf("encode→decode changed events:\n--- got\n%s--- want\n%s", got, want)
				}
			}
		})
	}
}

// assertCanonical checks the llm/event.go ordering rules.
func assertCanonical(t *testing.T, evs []llm.Event, truncated bool) {
	t.Helper()
	if len(evs) == 0 {
		if !truncated {
			t.Fatal("no events")
		}
		return
	}
	last := evs[len(evs)-1].Type
	if evs[0].Type != llm.EventStart && evs[0].Type != llm.EventError {
		t.Errorf("first event is %s, want start", eventNames[evs[0].Type])
	}
	if !truncated && last != llm.EventStop && last != llm.EventError {
		t.Errorf("last event is %s, want stop or error", eventNames[last])
	}
	// Block rules hold per choice.
	type blockState struct {
		open    map[int]bool
		current int
	}
	states := map[int]*blockState{}
	seenEnd := false
	for _, ev := range evs {
		if seenEnd && ev.Type != llm.EventStop {
			t.Errorf("%s after the end", eventNames[ev.Type])
		}
		st := states[ev.Choice]
		if st == nil {
			st = &blockState{open: map[int]bool{}, current: -1}
			states[ev.Choice] = st
		}
		switch ev.Type {
		case llm.EventStop, llm.EventError:
			seenEnd = true
		case llm.EventToolCallStart:
			if ev.Index <= st.current {
				t.Errorf("tool call opens block %d after block %d", ev.Index, st.current)
			}
			st.current = ev.Index
			st.open[ev.Index] = true
		case llm.EventToolCallDelta:
			if !st.open[ev.Index] {
				t.Errorf("tool delta for unopened block %d", ev.Index)
			}
		case llm.EventTextDelta, llm.EventReasoningDelta, llm.EventMedia:
			if ev.Index < st.current {
				t.Errorf("%s goes back to block %d after %d", eventNames[ev.Type], ev.Index, st.current)
			}
			st.current = ev.Index
		}
	}
}

func TestStreamEncoderGolden(t *testing.T) {
	for _, in := range inputs(t, "encode_stream", ".events.jsonl") {
		t.Run(filepath.Base(in), func(t *testing.T) {
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			opts := StreamOptions{Created: 1700000000, IncludeUsage: !strings.Contains(in, "no_include_usage")}
			out := encodeEvents(t, opts, parseEvents(t, body))
			golden.Check(t, stem(in, ".events.jsonl")+".golden.sse", out)
			if err := gatewaytest.CheckStream(gatewaytest.APIOpenAIChat, out); err != nil {
				t.Error(err)
			}
			assertWireOrder(t, out)
		})
	}
}

// assertWireOrder checks the Chat Completions stream rules clients rely on:
// the role chunk first, every data frame valid JSON, and either [DONE] last
// or an error chunk last with no [DONE].
func assertWireOrder(t *testing.T, out []byte) {
	t.Helper()
	r := sse.NewReader(bytes.NewReader(out), 0)
	var frames [][]byte
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, bytes.Clone(ev.Data))
	}
	if len(frames) == 0 {
		t.Fatal("no frames")
	}
	last := frames[len(frames)-1]
	isErr := bytes.HasPrefix(last, []byte(`{"error":`))
	if !isErr && string(last) != "[DONE]" {
		t.Errorf("last frame %s, want [DONE] or an error chunk", last)
	}
	for i, f := range frames {
		if string(f) == "[DONE]" {
			if i != len(frames)-1 {
				t.Error("[DONE] is not last")
			}
			continue
		}
		if !json.Valid(f) {
			t.Errorf("frame %d is not JSON: %s", i, f)
		}
	}
	if !isErr || len(frames) > 1 {
		if !bytes.Contains(frames[0], []byte(`"delta":{"role":"assistant","content":""}`)) {
			t.Errorf("first frame is not the role chunk: %s", frames[0])
		}
	}
}

func TestDecodeRequestErrors(t *testing.T) {
	tests := []struct {
		name, body, param string
	}{
		{"not json", `{"model":`, ""},
		{"not object", `[]`, ""},
		{"no model", `{"messages":[{"role":"user","content":"x"}]}`, "model"},
		{"model type", `{"model":5,"messages":[{"role":"user","content":"x"}]}`, "model"},
		{"no messages", `{"model":"m"}`, "messages"},
		{"messages type", `{"model":"m","messages":{}}`, "messages"},
		{"empty messages", `{"model":"m","messages":[]}`, "messages"},
		{"bad role", `{"model":"m","messages":[{"role":"robot","content":"x"}]}`, "messages[0].role"},
		{"function role", `{"model":"m","messages":[{"role":"function","name":"f","content":"x"}]}`, "messages[0].role"},
		{"content type", `{"model":"m","messages":[{"role":"user","content":5}]}`, "messages[0].content"},
		{"part type", `{"model":"m","messages":[{"role":"user","content":[{"type":"video"}]}]}`, "messages[0].content[0].type"},
		{"image in system", `{"model":"m","messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://x"}}]}]}`, "messages[0].content[0].type"},
		{"empty image url", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":""}}]}]}`, "messages[0].content[0].image_url.url"},
		{"tool without id", `{"model":"m","messages":[{"role":"tool","content":"x"}]}`, "messages[0].tool_call_id"},
		{"arguments object", `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":{}}}]}]}`, "messages[0].tool_calls[0].function.arguments"},
		{"custom tool call", `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"custom","custom":{"name":"f","input":"x"}}]}]}`, "messages[0].tool_calls[0].type"},
		{"temperature type", `{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":"hot"}`, "temperature"},
		{"max_tokens fraction", `{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":1.5}`, "max_tokens"},
		{"max_completion_tokens negative", `{"model":"m","messages":[{"role":"user","content":"x"}],"max_completion_tokens":-1}`, "max_completion_tokens"},
		{"stop type", `{"model":"m","messages":[{"role":"user","content":"x"}],"stop":[1]}`, "stop[0]"},
		{"stream type", `{"model":"m","messages":[{"role":"user","content":"x"}],"stream":"yes"}`, "stream"},
		{"tool name", `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":""}}]}`, "tools[0].function.name"},
		{"tool choice", `{"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":"sometimes"}`, "tool_choice"},
		{"response format", `{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"yaml"}}`, "response_format.type"},
		{"json schema missing", `{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema"}}`, "response_format.json_schema"},
		{"thinking budget", `{"model":"m","messages":[{"role":"user","content":"x"}],"thinking":{"type":"enabled","budget_tokens":"lots"}}`, "thinking.budget_tokens"},
		{"metadata value", `{"model":"m","messages":[{"role":"user","content":"x"}],"metadata":{"a":1}}`, "metadata.a"},
		{"n range", `{"model":"m","messages":[{"role":"user","content":"x"}],"n":1000}`, "n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeRequest([]byte(tt.body))
			var ge *gateway.Error
			if !errors.As(err, &ge) {
				t.Fatalf("err = %v, want *gateway.Error", err)
			}
			if ge.Kind != gateway.KindInvalidRequest || ge.Param != tt.param || ge.Message == "" {
				t.Errorf("got kind %v param %q message %q; want invalid request with param %q", ge.Kind, ge.Param, ge.Message, tt.param)
			}
		})
	}
}
