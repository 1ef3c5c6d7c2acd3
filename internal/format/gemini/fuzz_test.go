package gemini

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"switchboard/internal/llm"
	"switchboard/internal/sse"
)

func addFiles(f *testing.F, pattern string) {
	files, _ := filepath.Glob(filepath.Join("testdata", pattern))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
}

// FuzzDecodeRequest: decoding never panics, and once a body has been
// decoded and encoded, decode → encode reproduces it byte for byte.
func FuzzDecodeRequest(f *testing.F) {
	addFiles(f, "requests/*.json")
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := DecodeRequest("m", body)
		if err != nil {
			return
		}
		enc, err := EncodeRequest(req)
		if err != nil {
			return // e.g. a tool result whose call is unknown: a clear 400
		}
		req2, err := DecodeRequest("m", enc)
		if err != nil {
			t.Fatalf("encoded body does not decode: %v\n%s", err, enc)
		}
		enc2, err := EncodeRequest(req2)
		if err != nil {
			t.Fatalf("second encode failed: %v", err)
		}
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("round trip not stable:\n%s\n%s", enc, enc2)
		}
	})
}

// FuzzStreamDecoder: any byte stream yields events without panicking, and
// a decoded stream always ends with exactly one Stop or Error.
func FuzzStreamDecoder(f *testing.F) {
	addFiles(f, "streams/*.sse")
	f.Fuzz(func(t *testing.T, stream []byte) {
		rd := sse.NewReader(bytes.NewReader(stream), 1<<16)
		d := NewStreamDecoder()
		var events []llm.Event
		for {
			ev, err := rd.Next()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					return
				}
				break
			}
			out, err := d.Decode(ev)
			if err != nil {
				return
			}
			events = append(events, out...)
		}
		out, _ := d.Finish()
		events = append(events, out...)
		ends := 0
		for _, ev := range events {
			if ev.Type == llm.EventStop || ev.Type == llm.EventError {
				ends++
			}
		}
		if ends == 0 {
			t.Fatalf("stream without an end: %+v", events)
		}
		if last := events[len(events)-1].Type; last != llm.EventStop && last != llm.EventError {
			t.Fatalf("stream does not end with stop/error: %+v", events)
		}
		// Whatever was decoded can be re-encoded in both shapes.
		for _, opts := range []StreamOptions{{SSE: true}, {}} {
			w := sse.NewWriter(io.Discard)
			e := NewStreamEncoder(opts)
			for _, ev := range events {
				if err := e.Encode(w, ev); err != nil {
					t.Fatalf("encode: %v", err)
				}
			}
			_ = e.Close(w)
		}
	})
}

// FuzzDecodeResponse: responses decode without panicking and re-encode.
func FuzzDecodeResponse(f *testing.F) {
	addFiles(f, "responses/*.json")
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, err := DecodeResponse(body)
		if err != nil {
			return
		}
		if _, err := EncodeResponse(resp); err != nil {
			t.Fatalf("encode: %v", err)
		}
		ParseUsage(body)
	})
}
