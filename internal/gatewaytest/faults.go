package gatewaytest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// Fault is a misbehaviour a Faulty upstream plays. The zero value is
// Healthy.
type Fault string

const (
	// Healthy answers with Faulty.Answer (stream or not).
	Healthy Fault = ""
	// Status500, Status502 and Status503 answer an OpenAI-shaped server error.
	Status500 Fault = "500"
	Status502 Fault = "502"
	Status503 Fault = "503"
	// RateLimited answers 429 with Faulty.RetryAfter in Retry-After.
	RateLimited Fault = "429"
	// BadRequest answers 400: the caller's mistake, never to be retried.
	BadRequest Fault = "400"
	// Unauthorized answers 401: the gateway's upstream key is bad.
	Unauthorized Fault = "401"
	// ConnReset reads the request, then resets the TCP connection (linger 0)
	// without writing a byte.
	ConnReset Fault = "reset"
	// HangBeforeHeaders never answers: it waits until the request is
	// canceled (or Faulty.HangFor passes), so a gateway must time out.
	HangBeforeHeaders Fault = "hang"
	// SlowStream streams Answer with Faulty.ChunkDelay before every chunk.
	SlowStream Fault = "slow-stream"
	// StreamCut streams Faulty.CutAfter content chunks, then closes the
	// connection without finish_reason, usage or [DONE].
	StreamCut Fault = "stream-cut"
	// MalformedJSON answers a non-streaming 200 whose body is not JSON.
	MalformedJSON Fault = "malformed-json"
	// MalformedSSE answers a streaming 200 of garbage lines and a broken
	// data event, then ends.
	MalformedSSE Fault = "malformed-sse"
	// Huge answers a 200 of Faulty.HugeBytes: a JSON chat completion whose
	// content never ends (non-streaming), or an endless run of content
	// chunks (streaming), written in 64 KiB pieces without Content-Length.
	Huge Fault = "huge"
)

// Faults lists every fault, for table tests.
var Faults = []Fault{Status500, Status502, Status503, RateLimited, BadRequest, Unauthorized, ConnReset,
	HangBeforeHeaders, SlowStream, StreamCut, MalformedJSON, MalformedSSE, Huge}

// Faulty is a fake OpenAI chat upstream whose behaviour is chosen per call:
// a fault for the whole upstream (Set) or for one upstream API key
// (SetForKey, matched on the Bearer token), switchable while it serves.
// Use it through Handler, e.g. NewUpstream(t, f.Handler()). A Faulty must
// not be copied after first use.
type Faulty struct {
	// Answer is the healthy behaviour, and the text of slow and cut streams.
	Answer OpenAIChat
	// RetryAfter is the Retry-After header of RateLimited (default "30").
	RetryAfter string
	// ChunkDelay paces SlowStream (default 50ms).
	ChunkDelay time.Duration
	// CutAfter is how many content chunks StreamCut sends (default 3).
	CutAfter int
	// HugeBytes is the size of a Huge answer (default 100 MiB).
	HugeBytes int64
	// HangFor bounds HangBeforeHeaders when no one cancels (default 30s).
	HangFor time.Duration

	mu    sync.Mutex
	fault Fault
	byKey map[string]Fault
	seen  map[Fault]int
}

// NewFaulty returns a Faulty playing fault with the given healthy answer.
func NewFaulty(fault Fault, answer OpenAIChat) *Faulty {
	return &Faulty{fault: fault, Answer: answer}
}

// NewFaultyUpstream starts a recording upstream played by f.
func NewFaultyUpstream(t testing.TB, f *Faulty) *Upstream {
	return NewUpstream(t, f.Handler())
}

// Set switches the fault for every key without one of its own.
func (f *Faulty) Set(fault Fault) {
	f.mu.Lock()
	f.fault = fault
	f.mu.Unlock()
}

// SetForKey switches the fault for requests that carry "Bearer apiKey".
func (f *Faulty) SetForKey(apiKey string, fault Fault) {
	f.mu.Lock()
	if f.byKey == nil {
		f.byKey = map[string]Fault{}
	}
	f.byKey[apiKey] = fault
	f.mu.Unlock()
}

// Played reports how many requests were answered with fault.
func (f *Faulty) Played(fault Fault) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.seen[fault]
}

func (f *Faulty) pick(r *http.Request) Fault {
	f.mu.Lock()
	defer f.mu.Unlock()
	fault := f.fault
	if k, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		if kf, ok := f.byKey[k]; ok {
			fault = kf
		}
	}
	if f.seen == nil {
		f.seen = map[Fault]int{}
	}
	f.seen[fault]++
	return fault
}

// Handler returns f as an http.HandlerFunc.
func (f *Faulty) Handler() http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		fault := f.pick(r)
		switch fault {
		case Healthy:
			f.Answer.Handler()(w, r)
		case Status500, Status502, Status503:
			status := map[Fault]int{Status500: 500, Status502: 502, Status503: 503}[fault]
			OpenAIError(status, "the fake upstream failed", nil)(w, r)
		case RateLimited:
			OpenAIError(http.StatusTooManyRequests, "slow down", map[string]string{"Retry-After": or(f.RetryAfter, "30")})(w, r)
		case BadRequest:
			OpenAIError(http.StatusBadRequest, "the request is wrong", nil)(w, r)
		case Unauthorized:
			OpenAIError(http.StatusUnauthorized, "incorrect API key provided", nil)(w, r)
		case ConnReset:
			_ = readAll(r)
			reset(w)
		case HangBeforeHeaders:
			_ = readAll(r)
			t := time.NewTimer(orDuration(f.HangFor, 30*time.Second))
			defer t.Stop()
			select {
			case <-r.Context().Done():
			case <-t.C:
			}
		case SlowStream:
			a := f.Answer
			a.ChunkDelay = orDuration(f.ChunkDelay, 50*time.Millisecond)
			a.Handler()(w, r)
		case StreamCut:
			a := f.Answer
			a.StopAfter = f.CutAfter
			if a.StopAfter <= 0 {
				a.StopAfter = 3
			}
			a.Handler()(w, r)
		case MalformedJSON:
			_ = readAll(r)
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"id":"chatcmpl-fake","choices":[{"message":{"content":"half`+"\x00<html>502 Bad Gateway</html>")
		case MalformedSSE:
			_ = readAll(r)
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, "<html>\nthis is not an event stream\n\ndata: {\"choices\":[{\"delta\":{\"content\":\n\n")
			http.NewResponseController(w).Flush()
		case Huge:
			f.huge(w, r)
		default:
			http.Error(w, fmt.Sprintf("unknown fault %q", fault), http.StatusInternalServerError)
		}
	}
}

// reset closes the connection under w with SO_LINGER 0, so the peer sees
// a TCP RST rather than an orderly close.
func reset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(fmt.Sprintf("gatewaytest: hijack for reset: %v", err))
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// huge writes f.HugeBytes in 64 KiB pieces, stopping when the reader goes.
func (f *Faulty) huge(w http.ResponseWriter, r *http.Request) {
	body := readAll(r)
	stream := bytes.Contains(body, []byte(`"stream":true`))
	total := f.HugeBytes
	if total <= 0 {
		total = 100 << 20
	}
	var piece []byte
	if stream {
		w.Header().Set("Content-Type", "text/event-stream")
		chunk, _ := json.Marshal(map[string]any{"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1700000000, "model": "huge",
			"choices": []any{map[string]any{"index": 0, "delta": map[string]any{"content": strings.Repeat("lorem ipsum ", 330)}, "finish_reason": nil}}})
		ev := append(append([]byte("data: "), chunk...), "\n\n"...)
		for len(piece) < 64<<10 {
			piece = append(piece, ev...)
		}
	} else {
		w.Header().Set("Content-Type", "application/json")
		piece = bytes.Repeat([]byte("x"), 64<<10)
	}
	w.WriteHeader(http.StatusOK)
	written := int64(0)
	if !stream {
		n, err := io.WriteString(w, `{"id":"chatcmpl-fake","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"`)
		if err != nil {
			return
		}
		written += int64(n)
	}
	for written < total {
		if r.Context().Err() != nil {
			return
		}
		n, err := w.Write(piece)
		if err != nil {
			return
		}
		written += int64(n)
	}
	if stream {
		_, _ = io.WriteString(w, "data: [DONE]\n\n")
		return
	}
	_, _ = io.WriteString(w, `"},"finish_reason":"stop"}]}`)
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func orDuration(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
