// Package gatewaytest holds test-only fakes: recording upstreams that speak
// the real provider protocols, so end-to-end tests can assert both what a
// client saw and what the upstream received.
package gatewaytest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Recorded is one request an upstream received.
type Recorded struct {
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
	Body     []byte
}

// Upstream is a recording fake server. Handler answers each request after
// it was recorded; tests swap it to script behaviours.
type Upstream struct {
	*httptest.Server

	mu      sync.Mutex
	reqs    []Recorded
	handler http.HandlerFunc
	// canceled counts requests whose context ended before the handler
	// finished (the gateway hung up on the upstream).
	canceled int
}

// NewUpstream starts a recording server with the given handler.
func NewUpstream(t testing.TB, h http.HandlerFunc) *Upstream {
	u := &Upstream{handler: h}
	u.Server = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.Close)
	return u
}

func (u *Upstream) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytesReader(body))
	u.mu.Lock()
	u.reqs = append(u.reqs, Recorded{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
	h := u.handler
	u.mu.Unlock()
	h(w, r)
	if r.Context().Err() != nil {
		u.mu.Lock()
		u.canceled++
		u.mu.Unlock()
	}
}

// SetHandler replaces the behaviour for later requests.
func (u *Upstream) SetHandler(h http.HandlerFunc) {
	u.mu.Lock()
	u.handler = h
	u.mu.Unlock()
}

// Requests returns what was received so far.
func (u *Upstream) Requests() []Recorded {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]Recorded(nil), u.reqs...)
}

// Count is the number of requests received.
func (u *Upstream) Count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.reqs)
}

// Last returns the latest request; it fails the test when there is none.
func (u *Upstream) Last(t testing.TB) Recorded {
	t.Helper()
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.reqs) == 0 {
		t.Fatal("upstream received no request")
	}
	return u.reqs[len(u.reqs)-1]
}

// Canceled reports how many requests ended with their context canceled.
func (u *Upstream) Canceled() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.canceled
}

// WaitFor polls cond until it holds or the timeout passes.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
