package main

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// logBuffer batches the process's log output. The access log writes a
// line per call, and one write(2) per line on the serving path was about
// a tenth of a call's CPU in BenchmarkGateway. Lines reach w within
// logFlushEvery, at once for records at WARN and above (urgentHandler),
// when logBufferMax bytes are waiting, and on Flush. What a crash (a
// panic, SIGKILL) loses is at most the last logFlushEvery of INFO lines;
// usage records are in the ledger's spool, not here.
type logBuffer struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

const (
	logFlushEvery = 100 * time.Millisecond
	logBufferMax  = 64 << 10
)

func newLogBuffer(w io.Writer) *logBuffer {
	return &logBuffer{w: w, buf: make([]byte, 0, logBufferMax)}
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) >= logBufferMax {
		b.flushLocked()
	}
	return len(p), nil
}

// Flush writes out what is waiting.
func (b *logBuffer) Flush() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
}

func (b *logBuffer) flushLocked() {
	if len(b.buf) == 0 {
		return
	}
	// A failing log destination has nowhere to report to.
	_, _ = b.w.Write(b.buf)
	b.buf = b.buf[:0]
}

// run flushes every logFlushEvery until ctx ends, then once more.
func (b *logBuffer) run(ctx context.Context) {
	t := time.NewTicker(logFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			b.Flush()
			return
		case <-t.C:
			b.Flush()
		}
	}
}

// urgentHandler flushes the log buffer after every record at WARN or
// above, so problems are never held back.
type urgentHandler struct {
	slog.Handler
	buf *logBuffer
}

func (h urgentHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		h.buf.Flush()
	}
	return err
}

func (h urgentHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return urgentHandler{h.Handler.WithAttrs(attrs), h.buf}
}

func (h urgentHandler) WithGroup(name string) slog.Handler {
	return urgentHandler{h.Handler.WithGroup(name), h.buf}
}
