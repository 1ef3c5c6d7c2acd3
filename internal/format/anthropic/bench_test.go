package anthropic

import (
	"io"
	"os"
	"testing"

	"switchboard/internal/llm"
	"switchboard/internal/sse"
)

func benchInput(b *testing.B, path string) []byte {
	body, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	return body
}

func BenchmarkDecodeRequest(b *testing.B) {
	body := benchInput(b, "testdata/requests/claude_code.json")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeRequest(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeRequest(b *testing.B) {
	req, err := DecodeRequest(benchInput(b, "testdata/requests/claude_code.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeRequest(req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeResponse(b *testing.B) {
	body := benchInput(b, "testdata/responses/tool_use.json")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeResponse(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStreamDecodeEvent measures one text_delta event.
func BenchmarkStreamDecodeEvent(b *testing.B) {
	d := NewStreamDecoder()
	ev := sse.Event{Event: []byte("content_block_delta"), Data: []byte(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello, world! This is a typical token."}}`)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decode(ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStreamEncodeEvent measures one text delta written as a frame.
func BenchmarkStreamEncodeEvent(b *testing.B) {
	w := sse.NewWriter(io.Discard)
	e := NewStreamEncoder(StreamOptions{ID: "msg_1", Model: "claude"})
	ev := llm.Event{Type: llm.EventTextDelta, Text: "Hello, world! This is a typical token."}
	b.ReportAllocs()
	for b.Loop() {
		if err := e.Encode(w, ev); err != nil {
			b.Fatal(err)
		}
	}
}
