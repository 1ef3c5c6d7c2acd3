package relay

import (
	"net/http/httptest"
	"strings"
	"testing"

	"switchboard/internal/format/openai"
)

// flushRecorder records the body's length at every flush.
type flushRecorder struct {
	*httptest.ResponseRecorder
	flushedAt []int
}

func (f *flushRecorder) Flush() {
	f.flushedAt = append(f.flushedAt, f.Body.Len())
	f.ResponseRecorder.Flush()
}

// An upstream stream that arrives in one read is relayed in few flushes,
// but the first event always leaves alone, at once: the caller's time to
// first token must not wait for the processing of what came with it.
func TestStreamFirstEventFlushedAloneRestCoalesced(t *testing.T) {
	r, _ := newBenchRelay(t, false)
	body := `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Hello!"}]}`
	w := &flushRecorder{ResponseRecorder: httptest.NewRecorder()}
	if err := serveSpec(r, w, openai.Chat, "/v1/chat/completions", body); err != nil {
		t.Fatal(err)
	}
	out := w.Body.String()
	firstEvent := out[:strings.Index(out, "\n\n")+2]
	if len(w.flushedAt) == 0 || w.flushedAt[0] != len(firstEvent) {
		t.Fatalf("first flush after %v bytes, want exactly the first event (%d bytes)", w.flushedAt, len(firstEvent))
	}
	// 20 content chunks, a role chunk and a finish chunk arrived together:
	// the rest must not cost a flush each.
	if events := strings.Count(out, "\n\n"); len(w.flushedAt) > 4 || events < 20 {
		t.Fatalf("%d events relayed in %d flushes (%v)", events, len(w.flushedAt), w.flushedAt)
	}
}
