package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestLogBuffer(t *testing.T) {
	out := &e2eBuffer{}
	logs := newLogBuffer(out)
	log := slog.New(urgentHandler{slog.NewTextHandler(logs, nil), logs}).With("node", "n1")

	log.Info("call", "status", 200)
	if out.String() != "" {
		t.Fatalf("an INFO line was written at once: %q", out.String())
	}
	log.Warn("upstream failed")
	if s := out.String(); !strings.Contains(s, "msg=call") || !strings.Contains(s, "msg=\"upstream failed\" node=n1") {
		t.Fatalf("a WARN line did not flush what was waiting: %q", s)
	}

	// Past logBufferMax the writer flushes by itself.
	big := strings.Repeat("x", logBufferMax)
	log.Info("big", "v", big)
	if !strings.Contains(out.String(), big) {
		t.Fatal("a full buffer was not written")
	}

	// The loop flushes within logFlushEvery, and once more when it stops.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { logs.run(ctx); close(done) }()
	log.Info("ticked")
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "msg=ticked") {
		if time.Now().After(deadline) {
			t.Fatal("the flush loop never wrote the line")
		}
		time.Sleep(5 * time.Millisecond)
	}
	log.Info("last")
	cancel()
	<-done
	if !strings.Contains(out.String(), "msg=last") {
		t.Fatal("stopping the loop did not flush")
	}
}
