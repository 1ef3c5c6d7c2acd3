package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"switchboard/internal/gateway"
	"switchboard/internal/gatewaytest/golden"
	"switchboard/internal/llm"
	"switchboard/internal/sse"
)

// FuzzDecodeRequest: decoding never panics, errors are gateway errors, and
// decode → encode → decode → encode is stable (the second encoding equals
// the first) and valid JSON.
func FuzzDecodeRequest(f *testing.F) {
	for _, in := range seedFiles(f, "requests", ".json") {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := DecodeRequest(body)
		if err != nil {
			var ge *gateway.Error
			if !errors.As(err, &ge) || ge.Kind != gateway.KindInvalidRequest {
				t.Fatalf("decode error %v is not KindInvalidRequest", err)
			}
			return
		}
		b1, err := EncodeRequest(req)
		if err != nil {
			var ge *gateway.Error
			if !errors.As(err, &ge) {
				t.Fatalf("encode error %v is not a gateway error", err)
			}
			return
		}
		if !json.Valid(b1) {
			t.Fatalf("encoded request is not valid JSON: %s", b1)
		}
		req2, err := DecodeRequest(b1)
		if err != nil {
			t.Fatalf("our own encoding does not decode: %v\n%s", err, b1)
		}
		b2, err := EncodeRequest(req2)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if !bytes.Equal(b1, b2) {
			t.Fatalf("round trip not stable:\n%s\n%s", b1, b2)
		}
	})
}

// FuzzStreamDecoder: any byte stream decodes without panic, and whatever
// events come out encode to a well-ordered Anthropic stream.
func FuzzStreamDecoder(f *testing.F) {
	for _, in := range seedFiles(f, "streams", ".sse") {
		f.Add(in)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		evs, _ := decodeStream(t, NewStreamDecoderWith(Emulation{JSONTool: "json_response"}), raw)
		out := encodeStream(t, StreamOptions{}, evs)
		if err := checkStream(out); err != nil {
			t.Fatalf("%v\nevents: %+v\n%s", err, evs, out)
		}
	})
}

// FuzzStreamEncoder: any hub event sequence, however ill-formed, produces
// a well-ordered Anthropic stream: message_start first, blocks opened and
// closed properly, message_stop (or error) last.
func FuzzStreamEncoder(f *testing.F) {
	f.Add([]byte{1, 0, 2, 0, 2, 0, 9, 0})
	f.Add([]byte{5, 1, 6, 1, 5, 2, 6, 2, 6, 1, 6, 2, 8, 0, 9, 0})
	f.Add([]byte{3, 0, 3, 0, 4, 1, 2, 2, 10, 0})
	f.Add([]byte{2, 3, 6, 7, 5, 7, 2, 3, 6, 7})
	f.Fuzz(func(t *testing.T, ops []byte) {
		evs := eventsFromOps(ops)
		var buf bytes.Buffer
		w := sse.NewWriter(&buf)
		e := NewStreamEncoder(StreamOptions{ID: "msg_fuzz", Model: "m"})
		for _, ev := range evs {
			if err := e.Encode(w, ev); err != nil {
				t.Fatalf("encode %+v: %v", ev, err)
			}
		}
		if err := e.Close(w); err != nil {
			t.Fatal(err)
		}
		if err := checkStream(buf.Bytes()); err != nil {
			t.Fatalf("%v\nevents: %+v\n%s", err, evs, buf.Bytes())
		}
	})
}

// eventsFromOps turns fuzz bytes into hub events: each pair is (type, index).
func eventsFromOps(ops []byte) []llm.Event {
	var evs []llm.Event
	for i := 0; i+1 < len(ops); i += 2 {
		typ := llm.EventType(ops[i]%10 + 1)
		idx := int(ops[i+1] % 8)
		ev := llm.Event{Type: typ, Index: idx}
		s := strconv.Itoa(i)
		switch typ {
		case llm.EventStart:
			ev.ID, ev.Model = "id"+s, "model"
		case llm.EventTextDelta, llm.EventToolCallDelta:
			ev.Text = "t\"" + s
		case llm.EventReasoningDelta:
			if i%4 == 0 {
				ev.Text = "r" + s
			} else {
				ev.Signature = "sig" + s
			}
		case llm.EventRedactedReasoning:
			ev.Data = "d" + s
		case llm.EventToolCallStart:
			ev.ToolCallID, ev.ToolName = "call_"+s, "fn"
		case llm.EventMedia:
			ev.Part = &llm.Part{Type: llm.PartImage}
		case llm.EventUsage:
			ev.Usage = &llm.Usage{InputTokens: int64(i), OutputTokens: int64(idx)}
		case llm.EventStop:
			ev.StopReason = llm.StopToolUse
		case llm.EventError:
			ev.Err = &llm.StreamError{Status: 500, Message: "x"}
		}
		evs = append(evs, ev)
	}
	return evs
}

func seedFiles(f *testing.F, dir, ext string) [][]byte {
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*"+ext))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds in testdata/%s", dir)
	}
	var out [][]byte
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// TestWriteFuzzCorpus writes the golden inputs as the committed seed
// corpus under testdata/fuzz (only with -update).
func TestWriteFuzzCorpus(t *testing.T) {
	if !golden.Updating() {
		t.Skip("writes testdata/fuzz only with -update")
	}
	write := func(target, dir, ext string) {
		files, _ := filepath.Glob(filepath.Join("testdata", dir, "*"+ext))
		out := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(out, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, p := range files {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			entry := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(b)))
			name := "seed-" + filepath.Base(p)
			if err := os.WriteFile(filepath.Join(out, name), []byte(entry), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	write("FuzzDecodeRequest", "requests", ".json")
	write("FuzzStreamDecoder", "streams", ".sse")
}
