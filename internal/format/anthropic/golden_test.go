package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"switchboard/internal/gatewaytest"
	"switchboard/internal/gatewaytest/golden"
	"switchboard/internal/llm"
	"switchboard/internal/sse"
)

// pretty renders v as indented JSON without zero-valued fields, so hub
// goldens show what is set and nothing else.
func pretty(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var x any
	if err := json.Unmarshal(b, &x); err != nil {
		t.Fatal(err)
	}
	out, err := json.MarshalIndent(prune(x), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

func prune(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			e = prune(e)
			if isZero(e) {
				delete(x, k)
			} else {
				x[k] = e
			}
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = prune(e)
		}
		return x
	}
	return v
}

func isZero(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case bool:
		return !x
	case float64:
		return x == 0
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}

func inputs(t *testing.T, dir, ext string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*"+ext))
	if err != nil || len(files) == 0 {
		t.Fatalf("no inputs in testdata/%s: %v", dir, err)
	}
	return files
}

func TestGoldenRequests(t *testing.T) {
	for _, in := range inputs(t, "requests", ".json") {
		base := strings.TrimSuffix(in, ".json")
		t.Run(filepath.Base(base), func(t *testing.T) {
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			req, err := DecodeRequest(body)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			golden.Check(t, base+".hub.golden", pretty(t, req))
			enc, err := EncodeRequest(req)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			golden.Check(t, base+".anthropic.golden", golden.Indent(t, enc))
			// The encoding must decode to the same request again.
			again, err := DecodeRequest(enc)
			if err != nil {
				t.Fatalf("re-decode: %v", err)
			}
			enc2, err := EncodeRequest(again)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(enc, enc2) {
				t.Errorf("encode is not stable:\n%s\n%s", enc, enc2)
			}
		})
	}
}

func TestGoldenEncodeFromHub(t *testing.T) {
	for _, in := range inputs(t, "encode", ".json") {
		base := strings.TrimSuffix(in, ".json")
		t.Run(filepath.Base(base), func(t *testing.T) {
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			var req llm.Request
			if err := json.Unmarshal(body, &req); err != nil {
				t.Fatal(err)
			}
			enc, emu, err := EncodeRequestOpts(&req, EncodeOptions{})
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			out := golden.Indent(t, enc)
			if emu != (Emulation{}) {
				out = append(out, fmt.Sprintf("# emulation: %+v\n", emu)...)
			}
			golden.Check(t, base+".golden", out)
			if _, err := DecodeRequest(enc); err != nil {
				t.Errorf("our own output does not decode: %v", err)
			}
		})
	}
}

func TestGoldenResponses(t *testing.T) {
	for _, in := range inputs(t, "responses", ".json") {
		base := strings.TrimSuffix(in, ".json")
		t.Run(filepath.Base(base), func(t *testing.T) {
			body, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := DecodeResponse(body)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			golden.Check(t, base+".hub.golden", pretty(t, resp))
			enc, err := EncodeResponse(resp)
			if err != nil {
				t.Fatal(err)
			}
			golden.Check(t, base+".anthropic.golden", golden.Indent(t, enc))
			if err := gatewaytest.CheckAnswer(gatewaytest.APIAnthropicMessages, 200, enc); err != nil {
				t.Error(err)
			}
			again, err := DecodeResponse(enc)
			if err != nil {
				t.Fatal(err)
			}
			if a, b := pretty(t, resp), pretty(t, again); !bytes.Equal(a, b) {
				t.Errorf("response round trip differs:\n%s\n%s", a, b)
			}
			if u, ok := ParseUsage(body); !ok || u != resp.Usage {
				t.Errorf("ParseUsage = %+v, %v; want %+v", u, ok, resp.Usage)
			}
		})
	}
}

// decodeStream runs an SSE byte stream through a StreamDecoder.
func decodeStream(t testing.TB, d *StreamDecoder, raw []byte) ([]llm.Event, error) {
	r := sse.NewReader(bytes.NewReader(raw), 0)
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

func encodeStream(t testing.TB, opts StreamOptions, evs []llm.Event) []byte {
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

func eventLines(t *testing.T, evs []llm.Event) []byte {
	var buf bytes.Buffer
	for _, ev := range evs {
		b, err := json.Marshal(prune(mustAny(t, ev)))
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}

func mustAny(t *testing.T, v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var x any
	if err := json.Unmarshal(b, &x); err != nil {
		t.Fatal(err)
	}
	return x
}

func TestGoldenStreams(t *testing.T) {
	for _, in := range inputs(t, "streams", ".sse") {
		base := strings.TrimSuffix(in, ".sse")
		t.Run(filepath.Base(base), func(t *testing.T) {
			raw, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			evs, err := decodeStream(t, NewStreamDecoder(), raw)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			golden.Check(t, base+".events.golden", eventLines(t, evs))
			out := encodeStream(t, StreamOptions{}, evs)
			if err := checkStream(out); err != nil {
				t.Fatalf("encoded stream is not well-ordered: %v\n%s", err, out)
			}
			golden.Check(t, base+".encoded.golden", out)
			if err := gatewaytest.CheckStream(gatewaytest.APIAnthropicMessages, out); err != nil {
				t.Error(err)
			}
			// An Anthropic stream survives decode → encode → decode.
			again, err := decodeStream(t, NewStreamDecoder(), out)
			if err != nil {
				t.Fatal(err)
			}
			if a, b := eventLines(t, evs), eventLines(t, again); !bytes.Equal(a, b) {
				t.Errorf("stream round trip differs:\n%s\n%s", a, b)
			}
		})
	}
}

// checkStream verifies Anthropic's stream grammar: every frame's event name
// equals its data's type; message_start first; blocks opened in index
// order, never interleaved, deltas of the block's own kind; message_delta
// with no open block, then message_stop last — or an error frame last.
func checkStream(raw []byte) error {
	r := sse.NewReader(bytes.NewReader(raw), 0)
	const (
		stBegin = iota
		stInMessage
		stAfterDelta
		stDone
	)
	state, next, open, openType := stBegin, 0, -1, ""
	for n := 0; ; n++ {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if !gjson.ValidBytes(ev.Data) {
			return fmt.Errorf("frame %d: invalid JSON %q", n, ev.Data)
		}
		typ := gjson.GetBytes(ev.Data, "type").String()
		if string(ev.Event) != typ || typ == "" {
			return fmt.Errorf("frame %d: event %q but data type %q", n, ev.Event, typ)
		}
		if state == stDone {
			return fmt.Errorf("frame %d: %s after the end", n, typ)
		}
		if typ == "error" {
			if gjson.GetBytes(ev.Data, "error.type").String() == "" || !gjson.GetBytes(ev.Data, "error.message").Exists() {
				return fmt.Errorf("frame %d: error without type/message", n)
			}
			state = stDone
			continue
		}
		if typ == "ping" {
			continue
		}
		idx := int(gjson.GetBytes(ev.Data, "index").Int())
		switch state {
		case stBegin:
			if typ != "message_start" {
				return fmt.Errorf("frame %d: %s before message_start", n, typ)
			}
			state = stInMessage
		case stInMessage:
			switch typ {
			case "content_block_start":
				if open >= 0 {
					return fmt.Errorf("frame %d: block %d starts while %d is open", n, idx, open)
				}
				if idx != next {
					return fmt.Errorf("frame %d: block index %d, want %d", n, idx, next)
				}
				open, openType = idx, gjson.GetBytes(ev.Data, "content_block.type").String()
				next++
			case "content_block_delta":
				if idx != open {
					return fmt.Errorf("frame %d: delta for block %d while %d is open", n, idx, open)
				}
				dt := gjson.GetBytes(ev.Data, "delta.type").String()
				ok := map[string]string{"text_delta": "text", "thinking_delta": "thinking", "signature_delta": "thinking", "input_json_delta": "tool_use"}[dt] == openType
				if !ok {
					return fmt.Errorf("frame %d: %s in a %s block", n, dt, openType)
				}
			case "content_block_stop":
				if idx != open {
					return fmt.Errorf("frame %d: stop for block %d while %d is open", n, idx, open)
				}
				open = -1
			case "message_delta":
				if open >= 0 {
					return fmt.Errorf("frame %d: message_delta with block %d open", n, open)
				}
				if !gjson.GetBytes(ev.Data, "delta.stop_reason").Exists() || !gjson.GetBytes(ev.Data, "usage.output_tokens").Exists() {
					return fmt.Errorf("frame %d: message_delta without stop_reason or usage", n)
				}
				state = stAfterDelta
			default:
				return fmt.Errorf("frame %d: unexpected %s", n, typ)
			}
		case stAfterDelta:
			if typ != "message_stop" {
				return fmt.Errorf("frame %d: %s after message_delta", n, typ)
			}
			state = stDone
		}
	}
	if state != stDone {
		return errors.New("stream did not end with message_stop or error")
	}
	return nil
}
