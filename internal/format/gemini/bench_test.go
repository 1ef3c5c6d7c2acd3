package gemini

import (
	"io"
	"os"
	"testing"

	"switchboard/internal/llm"
	"switchboard/internal/sse"
)

func readFixture(b *testing.B, name string) []byte {
	body, err := os.ReadFile("testdata/" + name)
	if err != nil {
		b.Fatal(err)
	}
	return body
}

func BenchmarkDecodeRequest(b *testing.B) {
	body := readFixture(b, "requests/gemini_cli.json")
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := DecodeRequest("gemini-2.5-pro", body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeRequest(b *testing.B) {
	req, err := DecodeRequest("gemini-2.5-pro", readFixture(b, "requests/gemini_cli.json"))
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
	body := readFixture(b, "responses/thoughts.json")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeResponse(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStreamDecodeEvent measures one typical text chunk.
func BenchmarkStreamDecodeEvent(b *testing.B) {
	ev := sse.Event{Data: []byte(`{"candidates": [{"content": {"parts": [{"text": "Hello there, this is a typical streamed chunk of text."}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 4,"totalTokenCount": 4},"modelVersion": "gemini-2.5-flash","responseId": "s1"}`)}
	d := NewStreamDecoder()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decode(ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStreamEncodeEvent measures one text delta written as a chunk.
func BenchmarkStreamEncodeEvent(b *testing.B) {
	for _, mode := range []struct {
		name string
		sse  bool
	}{{"sse", true}, {"array", false}} {
		b.Run(mode.name, func(b *testing.B) {
			w := sse.NewWriter(io.Discard)
			e := NewStreamEncoder(StreamOptions{SSE: mode.sse, Model: "gemini-2.5-flash", ResponseID: "r"})
			ev := llm.Event{Type: llm.EventTextDelta, Text: "Hello there, this is a typical streamed chunk of text."}
			b.ReportAllocs()
			for b.Loop() {
				if err := e.Encode(w, ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
