package relay

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"switchboard/internal/format/openai"
)

// serverTiming reads the gateway and upstream durations (ms) of a
// Server-Timing header.
func serverTiming(t *testing.T, h http.Header) (gw, up float64) {
	t.Helper()
	v := h.Get("Server-Timing")
	gw, up = -1, -1
	for _, metric := range strings.Split(v, ",") {
		parts := strings.Split(strings.TrimSpace(metric), ";")
		for _, p := range parts[1:] {
			if d, ok := strings.CutPrefix(p, "dur="); ok {
				f, err := strconv.ParseFloat(d, 64)
				if err != nil {
					t.Fatalf("Server-Timing %q: %v", v, err)
				}
				switch parts[0] {
				case "gateway":
					gw = f
				case "upstream":
					up = f
				}
			}
		}
	}
	if gw < 0 || up < 0 {
		t.Fatalf("Server-Timing %q lacks gateway or upstream", v)
	}
	return gw, up
}

// The overhead headers count the gateway's own time only: upstream waits
// (a failed attempt, a slow body, a slow first event) go to "upstream".
func TestOverheadExcludesUpstreamTime(t *testing.T) {
	t.Parallel()
	const delay = 150 * time.Millisecond
	slowFail := newTestUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		http.Error(w, "down", 500)
	})
	slowBody := newTestUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if strings.Contains(readBody(r), `"stream":true`) {
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
			time.Sleep(delay) // headers at once, the first event late
			_, _ = io.WriteString(w, `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}`+"\\n\\n"+
				`data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`+"\\n\\ndata: [DONE]\\n\\n")
			return
		}
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		time.Sleep(delay) // headers at once, the body late
		_, _ = io.WriteString(w, okChat)
	})
	for _, tc := range []struct {
		name   string
		a      string
		stream bool
		minUp  time.Duration
	}{
		{"failover then slow body", slowFail.URL, false, 2 * delay},
		{"slow first event", slowBody.URL, true, delay},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, _, _ := twoChannels(t, tc.a, slowBody.URL, nil)
			w := httptest.NewRecorder()
			body := `{"model":"m","messages":[{"role":"user","content":"hi"}]}`
			if tc.stream {
				body = `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`
			}
			start := time.Now()
			if err := serveSpec(e, w, openai.Chat, "/v1/chat/completions", body); err != nil {
				t.Fatal(err)
			}
			total := float64(time.Since(start).Microseconds()) / 1000
			gw, up := serverTiming(t, w.Header())
			ms, err := strconv.ParseFloat(w.Header().Get(HeaderOverhead), 64)
			if err != nil || ms != gw {
				t.Errorf("%s = %q, Server-Timing gateway %v", HeaderOverhead, w.Header().Get(HeaderOverhead), gw)
			}
			if up < float64(tc.minUp.Milliseconds()) {
				t.Errorf("upstream %v ms, want at least %v", up, tc.minUp)
			}
			// The gateway's share is what is left of the call's time: never
			// more than the call took, and far below the upstream's waits.
			if gw < 0 || gw+up > total+1 || gw > up/2 {
				t.Errorf("gateway %v ms, upstream %v ms, call %v ms", gw, up, total)
			}
		})
	}
}

// A call refused before any upstream work still says what it cost.
func TestOverheadOnErrors(t *testing.T) {
	t.Parallel()
	down := newTestUpstream(t, func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", 500) })
	e, _, _ := twoChannels(t, down.URL, down.URL, nil)
	w := httptest.NewRecorder()
	err := serveSpec(e, w, openai.Chat, "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
	if err == nil {
		t.Fatal("want an error from two failing channels")
	}
	if _, up := serverTiming(t, w.Header()); up <= 0 {
		t.Errorf("upstream %v ms after two attempts", up)
	}
}

func readBody(r *http.Request) string {
	b, _ := io.ReadAll(r.Body)
	return string(b)
}
