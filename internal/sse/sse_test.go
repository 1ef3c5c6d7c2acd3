package sse

import (
	"bytes"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

func collect(t *testing.T, in string, maxLine int) ([]Event, error) {
	t.Helper()
	r := NewReader(strings.NewReader(in), maxLine)
	var out []Event
	for {
		ev, err := r.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, err
		}
		// Copy: slices alias the reader's buffer.
		out = append(out, Event{Event: bytes.Clone(ev.Event), Data: bytes.Clone(ev.Data), ID: bytes.Clone(ev.ID), Raw: bytes.Clone(ev.Raw)})
	}
}

func TestReader(t *testing.T) {
	cases := []struct {
		name  string
		in    string
		want  []string // "event|data" per event
		raws  []string
		errIs error
	}{
		{name: "openai", in: "data: {\"a\":1}\n\ndata: [DONE]\n\n", want: []string{"|{\"a\":1}", "|[DONE]"}, raws: []string{"data: {\"a\":1}\n\n", "data: [DONE]\n\n"}},
		{name: "anthropic", in: "event: message_start\ndata: {\"type\":\"message_start\"}\n\n", want: []string{"message_start|{\"type\":\"message_start\"}"}},
		{name: "crlf", in: "data: x\r\n\r\ndata: y\r\n\r\n", want: []string{"|x", "|y"}},
		{name: "multi-line data", in: "data: a\ndata: b\n\n", want: []string{"|a\nb"}},
		{name: "comment keeps raw", in: ": ping\n\ndata: z\n\n", want: []string{"|", "|z"}, raws: []string{": ping\n\n", "data: z\n\n"}},
		{name: "no space after colon", in: "data:x\n\n", want: []string{"|x"}},
		{name: "last event without blank line", in: "data: tail", want: []string{"|tail"}},
		{name: "stray blank lines", in: "\n\n\ndata: q\n\n", want: []string{"|q"}},
		{name: "too long", in: "data: " + strings.Repeat("x", 100) + "\n\n", errIs: ErrLineTooLong},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := collect(t, tc.in, 64)
			if tc.errIs != nil {
				if !errors.Is(err, tc.errIs) {
					t.Fatalf("err %v, want %v", err, tc.errIs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d events, want %d: %+v", len(got), len(tc.want), got)
			}
			for i, ev := range got {
				if s := string(ev.Event) + "|" + string(ev.Data); s != tc.want[i] {
					t.Errorf("event %d = %q, want %q", i, s, tc.want[i])
				}
				if tc.raws != nil && string(ev.Raw) != tc.raws[i] {
					t.Errorf("raw %d = %q, want %q", i, ev.Raw, tc.raws[i])
				}
			}
		})
	}
}

func TestEventBuffered(t *testing.T) {
	r := NewReader(strings.NewReader("data: 1\n\ndata: 2\n\ndata: 3"), 0)
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if !r.EventBuffered() {
		t.Fatal("second event is buffered but not reported")
	}
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if r.EventBuffered() {
		t.Fatal("a partial event was reported as complete")
	}
}

func TestWriterFramesAndFlushes(t *testing.T) {
	rec := httptest.NewRecorder()
	w := NewWriter(rec)
	if err := w.WriteEvent("message_stop", []byte("{\"a\":1}\n{\"b\":2}")); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteData([]byte("[DONE]")); err != nil {
		t.Fatal(err)
	}
	want := "event: message_stop\ndata: {\"a\":1}\ndata: {\"b\":2}\n\ndata: [DONE]\n\n"
	if rec.Body.String() != want {
		t.Fatalf("wrote %q, want %q", rec.Body.String(), want)
	}
	if !rec.Flushed {
		t.Fatal("events were not flushed")
	}
	// What the writer frames, the reader parses back.
	got, err := collect(t, rec.Body.String(), 0)
	if err != nil || len(got) != 2 || string(got[0].Data) != "{\"a\":1}\n{\"b\":2}" || string(got[0].Event) != "message_stop" {
		t.Fatalf("round trip: %+v %v", got, err)
	}
}

func FuzzReader(f *testing.F) {
	f.Add("data: {\"a\":1}\n\ndata: [DONE]\n\n")
	f.Add("event: x\ndata: y\r\n\r\n: c\n\n")
	f.Add("data:\n\n\n\ndata")
	f.Fuzz(func(t *testing.T, in string) {
		r := NewReader(strings.NewReader(in), 1024)
		total := 0
		for {
			ev, err := r.Next()
			if err != nil {
				break
			}
			total += len(ev.Raw)
			if len(ev.Raw) == 0 {
				t.Fatal("event with no raw bytes")
			}
			if total > len(in) {
				t.Fatalf("raw bytes %d exceed input %d", total, len(in))
			}
		}
	})
}

func BenchmarkReader(b *testing.B) {
	chunk := "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hello\"}}]}\n\n"
	in := strings.Repeat(chunk, 100)
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		r := NewReader(strings.NewReader(in), 0)
		for {
			if _, err := r.Next(); err != nil {
				break
			}
		}
	}
}

// TestReaderLinesLongerThanBuffer: an event line many times the read
// buffer (a streamed base64 image, a big tool argument) comes out whole and
// byte-exact, between ordinary events, in both line-ending styles.
func TestReaderLinesLongerThanBuffer(t *testing.T) {
	for _, eol := range []string{"\n", "\r\n"} {
		big := strings.Repeat("0123456789abcdef", 5000) // 80,000 bytes
		in := "data: a" + eol + eol + "data: " + big + eol + eol + "data: b" + eol + eol
		got, err := collect(t, in, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || string(got[0].Data) != "a" || string(got[1].Data) != big || string(got[2].Data) != "b" {
			t.Fatalf("eol %q: got %d events", eol, len(got))
		}
		if string(got[1].Raw) != "data: "+big+eol+eol {
			t.Fatalf("eol %q: raw of the long event differs", eol)
		}
	}
}

// endless yields the same line forever and counts what it gave.
type endless struct {
	line []byte
	off  int
	n    int64
}

func (e *endless) Read(p []byte) (int, error) {
	k := 0
	for k < len(p) {
		c := copy(p[k:], e.line[e.off:])
		k += c
		e.off = (e.off + c) % len(e.line)
	}
	e.n += int64(k)
	return k, nil
}

func TestEventBound(t *testing.T) {
	cases := []struct {
		name string
		in   string
		lim  Limits
		want error
	}{
		{"lines under the line bound, event over", strings.Repeat("data: 0123456789\n", 20) + "\n", Limits{MaxLine: 64, MaxEvent: 100}, ErrEventTooLarge},
		{"comments count too", strings.Repeat(": keep-alive\n", 20) + "\n", Limits{MaxEvent: 100}, ErrEventTooLarge},
		{"events under the bound pass", strings.Repeat("data: 0123456789\n\n", 20), Limits{MaxEvent: 20}, nil},
		{"a line over the line bound", "data: " + strings.Repeat("x", 100) + "\n\n", Limits{MaxLine: 64, MaxEvent: 1000}, ErrLineTooLong},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReaderLimits(strings.NewReader(tc.in), tc.lim)
			defer r.Release()
			var err error
			for err == nil {
				_, err = r.Next()
			}
			if tc.want == nil && err != io.EOF || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
		})
	}
}

// An upstream that sends data lines and never the blank line ending the
// event is cut off at the default bound, with the memory of one event.
func TestEventBoundDefaultHoldsMemory(t *testing.T) {
	src := &endless{line: []byte("data: " + strings.Repeat("x", 1000) + "\n")}
	r := NewReader(src, 0)
	defer r.Release()
	_, err := r.Next()
	if !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("err %v", err)
	}
	if src.n > DefaultMaxEvent+64<<10 {
		t.Fatalf("read %d bytes for one event, bound %d", src.n, DefaultMaxEvent)
	}
	if cap(r.raw) > 2*DefaultMaxEvent || cap(r.data) > 2*DefaultMaxEvent {
		t.Fatalf("buffers grew to %d and %d bytes", cap(r.raw), cap(r.data))
	}
}

func TestBigEventBuffersAreDropped(t *testing.T) {
	in := "data: " + strings.Repeat("x", 2*keepCap) + "\n\n" + "data: small\n\n"
	r := NewReader(strings.NewReader(in), 0)
	defer r.Release()
	if ev, err := r.Next(); err != nil || len(ev.Data) != 2*keepCap {
		t.Fatalf("big event: %d bytes, %v", len(ev.Data), err)
	}
	if ev, err := r.Next(); err != nil || string(ev.Data) != "small" {
		t.Fatalf("small event: %q, %v", ev.Data, err)
	}
	if cap(r.raw) > keepCap || cap(r.data) > keepCap {
		t.Fatalf("a big event's buffers outlived it: %d, %d", cap(r.raw), cap(r.data))
	}
}
