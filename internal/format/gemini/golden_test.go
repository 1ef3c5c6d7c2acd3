package gemini

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"switchboard/internal/gateway"
	"switchboard/internal/gatewaytest"
	"switchboard/internal/gatewaytest/golden"
	"switchboard/internal/llm"
	"switchboard/internal/sse"
)

// indent renders a hub value for a golden file without its empty fields
// (null, "", false, empty lists), so the files show what was set. Only hub
// struct fields (upper-case keys) are pruned.
func indent(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var tree any
	if err := json.Unmarshal(b, &tree); err != nil {
		t.Fatal(err)
	}
	b, err = json.MarshalIndent(prune(tree), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func prune(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			e = prune(e)
			if k == "" || k[0] < 'A' || k[0] > 'Z' {
				continue // user data (schemas, args), not a hub field
			}
			switch y := e.(type) {
			case nil:
				delete(x, k)
				continue
			case string:
				if y == "" {
					delete(x, k)
					continue
				}
			case bool:
				if !y {
					delete(x, k)
					continue
				}
			case []any:
				if len(y) == 0 {
					delete(x, k)
					continue
				}
			case map[string]any:
				// An unset llm.Issuer prunes to {"Channel": 0}.
				if len(y) == 0 || (k == "Issuer" || k == "Target") && len(y) == 1 && y["Channel"] == float64(0) {
					delete(x, k)
					continue
				}
			}
			x[k] = e
		}
		return x
	case []any:
		for i := range x {
			x[i] = prune(x[i])
		}
	}
	return v
}

func indentRaw(t *testing.T, raw []byte, prefix string) json.RawMessage {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, prefix, "  "); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, raw)
	}
	return buf.Bytes()
}

func inputs(t *testing.T, dir, ext string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*"+ext))
	if err != nil || len(files) == 0 {
		t.Fatalf("no inputs in testdata/%s", dir)
	}
	return files
}

// TestRequestGolden decodes each client request into the hub and encodes
// it again for a Gemini upstream; both are pinned, and the re-encoded body
// must decode and encode to the same bytes (the round trip is stable).
func TestRequestGolden(t *testing.T) {
	for _, in := range inputs(t, "requests", ".json") {
		name := strings.TrimSuffix(filepath.Base(in), ".json")
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			req, err := DecodeRequest("models/gemini-2.5-flash", body)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			enc, err := EncodeRequest(req)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			req2, err := DecodeRequest("gemini-2.5-flash", enc)
			if err != nil {
				t.Fatalf("decode of encoded: %v\n%s", err, enc)
			}
			enc2, err := EncodeRequest(req2)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(enc, enc2) {
				t.Errorf("round trip not stable:\n%s\n%s", enc, enc2)
			}
			out := fmt.Sprintf("{\n  \"hub\": %s,\n  \"encoded\": %s\n}\n",
				bytes.ReplaceAll(indent(t, req), []byte("\n"), []byte("\n  ")), indentRaw(t, enc, "  "))
			golden.Check(t, filepath.Join("testdata", "requests", name+".golden"), []byte(out))
		})
	}
}

// TestEncodeGolden encodes hub requests that came from other formats.
func TestEncodeGolden(t *testing.T) {
	for _, in := range inputs(t, "encode", ".json") {
		name := strings.TrimSuffix(filepath.Base(in), ".json")
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var req llm.Request
			if err := json.Unmarshal(body, &req); err != nil {
				t.Fatal(err)
			}
			enc, err := EncodeRequest(&req)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			golden.Check(t, filepath.Join("testdata", "encode", name+".golden"), append(indentRaw(t, enc, ""), '\n'))
		})
	}
}

// TestResponseGolden decodes upstream responses and encodes them back for
// a Gemini client.
func TestResponseGolden(t *testing.T) {
	for _, in := range inputs(t, "responses", ".json") {
		name := strings.TrimSuffix(filepath.Base(in), ".json")
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := DecodeResponse(body)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			enc, err := EncodeResponse(resp)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if err := gatewaytest.CheckAnswer(gatewaytest.APIGeminiGenerate, 200, enc); err != nil {
				t.Error(err)
			}
			u, ok := ParseUsage(body)
			if !ok || u != resp.Usage {
				t.Errorf("ParseUsage = %+v, %v; DecodeResponse usage %+v", u, ok, resp.Usage)
			}
			out := fmt.Sprintf("{\n  \"hub\": %s,\n  \"encoded\": %s\n}\n",
				bytes.ReplaceAll(indent(t, resp), []byte("\n"), []byte("\n  ")), indentRaw(t, enc, "  "))
			golden.Check(t, filepath.Join("testdata", "responses", name+".golden"), []byte(out))
		})
	}
}

func decodeStream(t testing.TB, r io.Reader) []llm.Event {
	rd := sse.NewReader(r, 0)
	d := NewStreamDecoder()
	var events []llm.Event
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out, err := d.Decode(ev)
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, out...)
	}
	out, err := d.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return append(events, out...)
}

func encodeStream(t testing.TB, events []llm.Event, opts StreamOptions) []byte {
	var buf bytes.Buffer
	w := sse.NewWriter(&buf)
	e := NewStreamEncoder(opts)
	for _, ev := range events {
		if err := e.Encode(w, ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.Close(w); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestStreamGolden decodes recorded alt=sse streams into hub events and
// re-encodes them in both client wire formats.
func TestStreamGolden(t *testing.T) {
	for _, in := range inputs(t, "streams", ".sse") {
		name := strings.TrimSuffix(filepath.Base(in), ".sse")
		t.Run(name, func(t *testing.T) {
			f, err := os.Open(in)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			events := decodeStream(t, f)
			checkEventOrder(t, events)
			var out bytes.Buffer
			out.WriteString("== events ==\n")
			for _, ev := range events {
				b, _ := json.Marshal(eventView(ev))
				out.Write(b)
				out.WriteByte('\n')
			}
			sseOut := encodeStream(t, events, StreamOptions{SSE: true})
			out.WriteString("== alt=sse ==\n")
			out.Write(sseOut)
			arr := encodeStream(t, events, StreamOptions{Model: "client-model"})
			if !json.Valid(arr) {
				t.Errorf("JSON-array stream is not valid JSON:\n%s", arr)
			}
			out.WriteString("== json array ==\n")
			out.Write(arr)
			out.WriteString("\n")
			golden.Check(t, filepath.Join("testdata", "streams", name+".golden"), out.Bytes())
			for _, s := range [][]byte{sseOut, arr} {
				if err := gatewaytest.CheckStream(gatewaytest.APIGeminiGenerate, s); err != nil {
					t.Error(err)
				}
			}

			// What we write as alt=sse must decode to the same events
			// (ids and models aside, which the encoder may override).
			again := decodeStream(t, bytes.NewReader(sseOut))
			if a, b := contentOf(events), contentOf(again); a != b {
				t.Errorf("re-decoded stream differs:\n%s\n%s", a, b)
			}
		})
	}
}

// eventView drops empty fields so golden lines stay readable.
func eventView(ev llm.Event) map[string]any {
	m := map[string]any{"type": eventNames[ev.Type]}
	add := func(k string, v any, keep bool) {
		if keep {
			m[k] = v
		}
	}
	add("choice", ev.Choice, ev.Choice != 0)
	add("index", ev.Index, ev.Type != llm.EventStart && ev.Type != llm.EventUsage && ev.Type != llm.EventStop && ev.Type != llm.EventError)
	add("id", ev.ID, ev.ID != "")
	add("model", ev.Model, ev.Model != "")
	add("text", ev.Text, ev.Text != "")
	add("signature", ev.Signature, ev.Signature != "")
	add("tool_call_id", ev.ToolCallID, ev.ToolCallID != "")
	add("tool_name", ev.ToolName, ev.ToolName != "")
	add("part", ev.Part, ev.Part != nil)
	add("usage", ev.Usage, ev.Usage != nil)
	add("stop", ev.StopReason, ev.StopReason != "")
	add("error", ev.Err, ev.Err != nil)
	return m
}

var eventNames = map[llm.EventType]string{
	llm.EventStart: "start", llm.EventTextDelta: "text", llm.EventReasoningDelta: "reasoning",
	llm.EventRedactedReasoning: "redacted", llm.EventToolCallStart: "tool_start",
	llm.EventToolCallDelta: "tool_delta", llm.EventMedia: "media", llm.EventUsage: "usage",
	llm.EventStop: "stop", llm.EventError: "error",
}

// contentOf summarises what a stream said, ignoring ids and block numbers.
func contentOf(events []llm.Event) string {
	var b strings.Builder
	for _, ev := range events {
		switch ev.Type {
		case llm.EventTextDelta, llm.EventReasoningDelta:
			fmt.Fprintf(&b, "%s:%q:%q ", eventNames[ev.Type], ev.Text, ev.Signature)
		case llm.EventToolCallStart:
			fmt.Fprintf(&b, "call:%s:%s ", ev.ToolName, ev.Signature)
		case llm.EventToolCallDelta:
			fmt.Fprintf(&b, "args:%s ", ev.Text)
		case llm.EventMedia:
			fmt.Fprintf(&b, "media:%s ", ev.Part.MediaType)
		case llm.EventStop:
			fmt.Fprintf(&b, "stop:%s ", ev.StopReason)
		case llm.EventError:
			fmt.Fprintf(&b, "error:%d:%s ", ev.Err.Status, ev.Err.Message)
		}
	}
	return b.String()
}

// checkEventOrder asserts the canonical stream rules of llm/event.go: one
// Start first, one Stop or Error last, block indexes that only grow.
func checkEventOrder(t *testing.T, events []llm.Event) {
	t.Helper()
	if len(events) == 0 {
		t.Fatal("no events")
	}
	if events[0].Type != llm.EventStart && events[0].Type != llm.EventError {
		t.Errorf("first event is %s, want start", eventNames[events[0].Type])
	}
	last := events[len(events)-1].Type
	if last != llm.EventStop && last != llm.EventError {
		t.Errorf("last event is %s, want stop or error", eventNames[last])
	}
	maxIndex := -1
	for i, ev := range events {
		switch ev.Type {
		case llm.EventStart:
			if i != 0 {
				t.Errorf("start at position %d", i)
			}
		case llm.EventStop, llm.EventError:
			if i != len(events)-1 {
				t.Errorf("%s at position %d of %d", eventNames[ev.Type], i, len(events))
			}
		case llm.EventTextDelta, llm.EventReasoningDelta, llm.EventToolCallStart, llm.EventMedia:
			if ev.Index < maxIndex {
				t.Errorf("event %d goes back to block %d after %d", i, ev.Index, maxIndex)
			}
			maxIndex = ev.Index
		}
	}
}

// TestWriteFuzzCorpus keeps the committed seed corpora in step with the
// golden inputs: under -update it writes them, otherwise it checks that
// they exist.
func TestWriteFuzzCorpus(t *testing.T) {
	write := func(fuzz string, files []string) {
		dir := filepath.Join("testdata", "fuzz", fuzz)
		if !golden.Updating() {
			if entries, err := os.ReadDir(dir); err != nil || len(entries) == 0 {
				t.Errorf("no seed corpus in %s (run with -update)", dir)
			}
			return
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, in := range files {
			b, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			seed := "go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n"
			name := strings.TrimSuffix(filepath.Base(in), filepath.Ext(in))
			if err := os.WriteFile(filepath.Join(dir, "seed_"+name), []byte(seed), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	write("FuzzDecodeRequest", inputs(t, "requests", ".json"))
	write("FuzzStreamDecoder", inputs(t, "streams", ".sse"))
	write("FuzzDecodeResponse", inputs(t, "responses", ".json"))
}

var _ = gateway.KindInvalidRequest
