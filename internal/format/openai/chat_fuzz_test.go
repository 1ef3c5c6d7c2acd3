package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"reflect"
	"testing"

	"switchboard/internal/gateway"
	"switchboard/internal/llm"
	"switchboard/internal/sse"
)

// addFiles seeds a fuzzer with the golden inputs of a testdata directory,
// on top of the corpus committed under testdata/fuzz/.
func addFiles(f *testing.F, dir, ext string) {
	for _, p := range inputs(f, dir, ext) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func asGatewayError(t *testing.T, what string, err error) {
	t.Helper()
	var ge *gateway.Error
	if !errors.As(err, &ge) || ge.Message == "" {
		t.Fatalf("%s: error %v is not a *gateway.Error with a message", what, err)
	}
}

// FuzzDecodeRequest: nothing panics, every failure is a *gateway.Error, and
// one decode→encode normalises a request: encoding it again after another
// decode yields the same bytes and the same hub.
func FuzzDecodeRequest(f *testing.F) {
	addFiles(f, "requests", ".json")
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := DecodeRequest(body)
		if err != nil {
			asGatewayError(t, "decode", err)
			return
		}
		e1, err := EncodeRequest(req)
		if err != nil {
			asGatewayError(t, "encode", err)
			return
		}
		d2, err := DecodeRequest(e1)
		if err != nil {
			t.Fatalf("own encoding rejected: %v\n%s", err, e1)
		}
		e2, err := EncodeRequest(d2)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if !sameJSON(e1, e2) {
			t.Fatalf("encoding is not stable:\n%s\n%s", e1, e2)
		}
		d3, err := DecodeRequest(e2)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(normalizeRaw(d2), normalizeRaw(d3)) {
			t.Fatalf("hub is not stable:\n%s\n%s", hubJSON(t, d2), hubJSON(t, d3))
		}
	})
}

// FuzzDecodeResponse: nothing panics and our own rendering decodes back to
// the same hub.
func FuzzDecodeResponse(f *testing.F) {
	addFiles(f, "responses", ".json")
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, err := DecodeResponse(body)
		if err != nil {
			asGatewayError(t, "decode", err)
			return
		}
		out, err := EncodeResponse(resp)
		if err != nil {
			return // content the chat shape cannot hold is reported, not rendered
		}
		again, err := DecodeResponse(out)
		if err != nil {
			t.Fatalf("own rendering rejected: %v\n%s", err, out)
		}
		out2, err := EncodeResponse(again)
		if err != nil || !sameJSON(out, out2) {
			t.Fatalf("rendering is not stable (%v):\n%s\n%s", err, out, out2)
		}
	})
}

// FuzzStreamDecoder: arbitrary bytes through the bounded SSE reader and the
// decoder never panic, yield canonical event order, and re-encode into a
// well-formed client stream.
func FuzzStreamDecoder(f *testing.F) {
	addFiles(f, "streams", ".sse")
	f.Fuzz(func(t *testing.T, body []byte) {
		r := sse.NewReader(bytes.NewReader(body), 64<<10)
		d := NewStreamDecoder()
		var evs []llm.Event
		failed := false
		for !failed {
			ev, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				failed = true
				break
			}
			out, err := d.Decode(ev)
			if err != nil {
				asGatewayError(t, "decode", err)
				failed = true
			}
			evs = append(evs, out...)
		}
		if failed {
			return
		}
		out, err := d.Finish()
		if err != nil {
			asGatewayError(t, "finish", err)
		}
		evs = append(evs, out...)
		if len(evs) > 0 {
			assertCanonical(t, evs, err != nil)
		}
		if err != nil || len(evs) == 0 {
			return
		}
		assertWireOrder(t, encodeEvents(t, StreamOptions{IncludeUsage: true}, evs))
	})
}

// sameJSON compares two documents by value: invalid UTF-8 written as \ufffd
// in one and as the literal rune in the other is the same text. Numbers
// compare by their text, so ones beyond float64 (10e700, which Extra keeps
// verbatim) compare too.
func sameJSON(a, b []byte) bool {
	decode := func(doc []byte) (any, bool) {
		d := json.NewDecoder(bytes.NewReader(doc))
		d.UseNumber()
		var v any
		return v, d.Decode(&v) == nil
	}
	va, okA := decode(a)
	vb, okB := decode(b)
	return okA && okB && reflect.DeepEqual(va, vb)
}
