package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestPctile(t *testing.T) {
	d := make([]time.Duration, 1000)
	for i := range d {
		d[i] = time.Duration(i+1) * time.Millisecond
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 500 * time.Millisecond}, {99, 990 * time.Millisecond}, {99.9, 999 * time.Millisecond}, {100, time.Second}, {0, time.Millisecond}} {
		if got := pctile(d, c.p); got != c.want {
			t.Errorf("pctile(%v) = %v, want %v", c.p, got, c.want)
		}
	}
	if pctile(nil, 99) != 0 {
		t.Error("pctile of nothing")
	}
}

// fire sends at the asked rate and checks every answer: a target that
// answers embeddings wrongly counts errors, not calls.
func TestFireChecksAndPaces(t *testing.T) {
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"data":[{"embedding":"AAAA"}],"usage":{"prompt_tokens":1}}`))
	}))
	defer good.Close()
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"data":[]}`))
	}))
	defer bad.Close()
	o := rateOptions{rate: 200, embedModel: "e", kinds: "embeddings"}
	kinds := callKinds(o)
	if len(kinds) != 1 || !strings.Contains(string(kinds[0].body), `"model":"e"`) {
		t.Fatalf("kinds %+v", kinds)
	}
	start := time.Now()
	r := fire(context.Background(), target{name: "good", base: good.URL}, kinds[0], o, 250*time.Millisecond)
	if r.sent != 50 || r.ok != 50 || r.errs != 0 || len(r.total) != 50 {
		t.Fatalf("good target: %+v", r)
	}
	// 50 calls at 200/s take about 250 ms: not all at once.
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("50 calls at 200/s sent in %v", d)
	}
	r = fire(context.Background(), target{name: "bad", base: bad.URL}, kinds[0], o, 100*time.Millisecond)
	if r.ok != 0 || r.errs != 20 || r.firstErr == nil {
		t.Fatalf("bad target: ok %d errs %d first %v", r.ok, r.errs, r.firstErr)
	}
}
