package openai

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"switchboard/internal/llm"
	"switchboard/internal/sse"
)

func readTestdata(b *testing.B, parts ...string) []byte {
	b.Helper()
	body, err := os.ReadFile(filepath.Join(append([]string{"testdata", "chat"}, parts...)...))
	if err != nil {
		b.Fatal(err)
	}
	return body
}

func BenchmarkDecodeRequest(b *testing.B) {
	body := readTestdata(b, "requests", "tools.json")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeRequest(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeRequest(b *testing.B) {
	req, err := DecodeRequest(readTestdata(b, "requests", "tools.json"))
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
	body := readTestdata(b, "responses", "tool_calls.json")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeResponse(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeResponse(b *testing.B) {
	resp, err := DecodeResponse(readTestdata(b, "responses", "tool_calls.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeResponse(resp); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStreamDecoderEvent measures one typical content chunk.
func BenchmarkStreamDecoderEvent(b *testing.B) {
	ev := sse.Event{Data: []byte(`{"id":"chatcmpl-9","object":"chat.completion.chunk","created":1741570700,"model":"gpt-4.1","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":" the quick brown fox"},"logprobs":null,"finish_reason":null}],"usage":null}`)}
	d := NewStreamDecoder()
	b.SetBytes(int64(len(ev.Data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decode(ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStreamDecoderToolEvent measures one tool-argument fragment.
func BenchmarkStreamDecoderToolEvent(b *testing.B) {
	d := NewStreamDecoder()
	if _, err := d.Decode(sse.Event{Data: []byte(`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]}}]}`)}); err != nil {
		b.Fatal(err)
	}
	ev := sse.Event{Data: []byte(`{"id":"chatcmpl-9","object":"chat.completion.chunk","created":1741570700,"model":"gpt-4.1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"ty\": \"Paris\"}"}}]},"finish_reason":null}],"usage":null}`)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Decode(ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStreamEncoderEvent measures writing one text delta chunk.
func BenchmarkStreamEncoderEvent(b *testing.B) {
	w := sse.NewWriter(io.Discard)
	e := NewStreamEncoder(StreamOptions{ID: "chatcmpl-gw", Model: "gpt-4.1", Created: 1741570700})
	if err := e.Encode(w, llm.Event{Type: llm.EventStart}); err != nil {
		b.Fatal(err)
	}
	ev := llm.Event{Type: llm.EventTextDelta, Text: " the quick brown fox"}
	b.ReportAllocs()
	for b.Loop() {
		if err := e.Encode(w, ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStreamEncoderToolEvent measures writing one tool-argument chunk.
func BenchmarkStreamEncoderToolEvent(b *testing.B) {
	w := sse.NewWriter(io.Discard)
	e := NewStreamEncoder(StreamOptions{ID: "chatcmpl-gw", Model: "gpt-4.1", Created: 1741570700})
	if err := e.Encode(w, llm.Event{Type: llm.EventToolCallStart, Index: 1, ToolCallID: "call_1", ToolName: "f"}); err != nil {
		b.Fatal(err)
	}
	ev := llm.Event{Type: llm.EventToolCallDelta, Index: 1, Text: `ty": "Paris"}`}
	b.ReportAllocs()
	for b.Loop() {
		if err := e.Encode(w, ev); err != nil {
			b.Fatal(err)
		}
	}
}
