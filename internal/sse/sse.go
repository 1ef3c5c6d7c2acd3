// Package sse reads and writes Server-Sent Events. The reader bounds the size
// of a line and of an event (all its lines together) so a hostile or broken
// upstream cannot make the gateway buffer without limit; the writer flushes
// after every event so nothing between the upstream and the client holds a
// stream back. It imports nothing of ours.
package sse

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"sync"
)

// ErrLineTooLong is returned when one line exceeds the reader's bound.
var ErrLineTooLong = errors.New("sse: line too long")

// ErrEventTooLarge is returned when one event (its lines up to the blank
// line that ends it) exceeds the reader's bound. Without it, data lines
// that never end in a blank line would grow one event without limit: the
// line bound alone let 1 GiB of short lines take a process to 7 GB.
var ErrEventTooLarge = errors.New("sse: event too large")

// DefaultMaxLine bounds one SSE line and DefaultMaxEvent one event, as
// received: both room for a partial image (several MiB of base64 in one
// data line), neither unbounded.
const (
	DefaultMaxLine  = 64 << 20
	DefaultMaxEvent = 64 << 20
)

// Limits bound what a Reader buffers; zero fields take the defaults.
type Limits struct {
	MaxLine  int
	MaxEvent int
}

// keepCap is the buffer capacity a Reader keeps between events; after a
// larger event the buffers are dropped, so one big event does not pin its
// size for the rest of a long stream.
const keepCap = 1 << 20

// Event is one parsed event. Data joins multiple data lines with "\n".
// The slices alias the reader's buffer and are valid until the next call.
type Event struct {
	Event []byte
	Data  []byte
	ID    []byte
	// Raw is the event's bytes as received, including its blank-line
	// terminator, for verbatim pass-through.
	Raw []byte
}

// Reader parses events from a stream.
type Reader struct {
	br       *bufio.Reader
	maxLine  int
	maxEvent int
	raw      []byte
	data     []byte
	event    []byte
	id       []byte
}

// bufPool recycles the read buffers: one per open stream adds up under
// load, and the zeroing of fresh ones showed in profiles. 4 KiB, like
// net/http's own, holds the typical event whole; a longer line is
// assembled from several reads (readLine), so the size bounds nothing.
// Smaller saves 2 KiB per open stream but sees fewer events per read, and
// the relay coalesces into one flush only the events already buffered
// (EventBuffered); a 2 KiB trial gave no RSS gain beyond the benchmark's
// noise and, in two runs, lower stream throughput (not conclusive either).
var bufPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}

// NewReader returns a reader with the given line bound (0: DefaultMaxLine)
// and the default event bound. Release returns its buffer for reuse.
func NewReader(r io.Reader, maxLine int) *Reader {
	return NewReaderLimits(r, Limits{MaxLine: maxLine})
}

// NewReaderLimits returns a reader with the given bounds.
func NewReaderLimits(r io.Reader, l Limits) *Reader {
	if l.MaxLine <= 0 {
		l.MaxLine = DefaultMaxLine
	}
	if l.MaxEvent <= 0 {
		l.MaxEvent = DefaultMaxEvent
	}
	br := bufPool.Get().(*bufio.Reader)
	br.Reset(r)
	return &Reader{br: br, maxLine: l.MaxLine, maxEvent: l.MaxEvent}
}

// Release recycles the reader's buffer; the reader must not be used after.
func (r *Reader) Release() {
	if r.br != nil {
		r.br.Reset(nil)
		bufPool.Put(r.br)
		r.br = nil
	}
}

// Next returns the next event. At a clean end of input it returns io.EOF;
// a final event without its blank line is still returned first. An event
// over the bound ends the stream with ErrEventTooLarge: its bytes never
// make an event, so a caller that restarts an idle timer per event never
// restarts it for them.
func (r *Reader) Next() (Event, error) {
	if cap(r.raw) > keepCap || cap(r.data) > keepCap {
		r.raw, r.data = nil, nil
	}
	r.raw = r.raw[:0]
	r.data = r.data[:0]
	r.event = r.event[:0]
	r.id = r.id[:0]
	// A single data line (the usual event) is not copied: Data is its
	// value inside Raw, at r.raw[dataOff:dataEnd]. A second one joins
	// both in r.data.
	dataLines, dataOff, dataEnd := 0, 0, 0
	hasAny := false
	for {
		start, err := r.readLine()
		if err != nil {
			if errors.Is(err, io.EOF) && hasAny {
				return r.build(dataLines, dataOff, dataEnd), nil
			}
			return Event{}, err
		}
		line := r.raw[start:]
		trimmed := bytes.TrimRight(line, "\r\n")
		if len(trimmed) == 0 {
			if !hasAny {
				r.raw = r.raw[:0] // stray blank lines between events
				continue
			}
			return r.build(dataLines, dataOff, dataEnd), nil
		}
		hasAny = true
		if trimmed[0] == ':' {
			continue // comment (keep-alive); kept in Raw
		}
		field, valueAt := trimmed, len(trimmed)
		if i := bytes.IndexByte(trimmed, ':'); i >= 0 {
			field, valueAt = trimmed[:i], i+1
			if valueAt < len(trimmed) && trimmed[valueAt] == ' ' {
				valueAt++
			}
		}
		value := trimmed[valueAt:]
		switch string(field) {
		case "data":
			dataLines++
			switch dataLines {
			case 1:
				dataOff, dataEnd = start+valueAt, start+len(trimmed)
				continue
			case 2:
				r.data = append(r.data, r.raw[dataOff:dataEnd]...)
			}
			r.data = append(append(r.data, '\n'), value...)
			if len(r.raw)+len(r.data) > r.maxEvent {
				return Event{}, ErrEventTooLarge
			}
		case "event":
			r.event = append(r.event[:0], value...)
		case "id":
			r.id = append(r.id[:0], value...)
		}
	}
}

func (r *Reader) build(dataLines, dataOff, dataEnd int) Event {
	ev := Event{Raw: r.raw}
	if len(r.event) > 0 {
		ev.Event = r.event
	}
	switch dataLines {
	case 0:
	case 1:
		ev.Data = r.raw[dataOff:dataEnd:dataEnd]
	default:
		ev.Data = r.data
	}
	if len(r.id) > 0 {
		ev.ID = r.id
	}
	return ev
}

// EventBuffered reports whether a complete event is already buffered, so
// the next Next returns without reading from the network. Writers relaying
// a stream flush only when it is false: events that arrived together leave
// together, and no event waits for the network.
func (r *Reader) EventBuffered() bool {
	n := r.br.Buffered()
	if n == 0 {
		return false
	}
	b, _ := r.br.Peek(n)
	return bytes.Contains(b, []byte("\n\n")) || bytes.Contains(b, []byte("\r\n\r\n"))
}

// readLine appends one line (with its terminator) to r.raw and returns
// where it starts. The event bound counts what the event holds so far: its
// raw bytes and, once several data lines were joined, their copy.
func (r *Reader) readLine() (int, error) {
	start := len(r.raw)
	for {
		chunk, err := r.br.ReadSlice('\n')
		if len(r.raw)+len(chunk)+len(r.data) > r.maxEvent {
			return 0, ErrEventTooLarge
		}
		r.raw = append(r.raw, chunk...)
		if len(r.raw)-start > r.maxLine {
			return 0, ErrLineTooLong
		}
		if err == nil {
			return start, nil
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) && len(r.raw) > start {
			return start, nil
		}
		return 0, err
	}
}

// Writer writes events and flushes each one.
type Writer struct {
	w   io.Writer
	rc  *http.ResponseController
	buf []byte
}

// NewWriter wraps w; when w is an http.ResponseWriter every event is flushed.
func NewWriter(w io.Writer) *Writer {
	sw := &Writer{w: w}
	if rw, ok := w.(http.ResponseWriter); ok {
		sw.rc = http.NewResponseController(rw)
	}
	return sw
}

// WriteEvent writes one event with an optional name and flushes it.
func (w *Writer) WriteEvent(event string, data []byte) error {
	w.buf = w.buf[:0]
	if event != "" {
		w.buf = append(w.buf, "event: "...)
		w.buf = append(w.buf, event...)
		w.buf = append(w.buf, '\n')
	}
	for {
		i := bytes.IndexByte(data, '\n')
		w.buf = append(w.buf, "data: "...)
		if i < 0 {
			w.buf = append(w.buf, data...)
			w.buf = append(w.buf, '\n')
			break
		}
		w.buf = append(w.buf, data[:i]...)
		w.buf = append(w.buf, '\n')
		data = data[i+1:]
	}
	w.buf = append(w.buf, '\n')
	return w.WriteRaw(w.buf)
}

// WriteData writes a data-only event.
func (w *Writer) WriteData(data []byte) error { return w.WriteEvent("", data) }

// WriteRaw writes pre-framed bytes verbatim and flushes them.
func (w *Writer) WriteRaw(b []byte) error {
	if _, err := w.w.Write(b); err != nil {
		return err
	}
	return w.Flush()
}

// WriteRawNoFlush writes pre-framed bytes; the caller flushes (see
// Reader.EventBuffered).
func (w *Writer) WriteRawNoFlush(b []byte) error {
	_, err := w.w.Write(b)
	return err
}

// Flush pushes buffered bytes to the client.
func (w *Writer) Flush() error {
	if w.rc != nil {
		if err := w.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
	}
	return nil
}
