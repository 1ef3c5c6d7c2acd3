package main

import (
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestParseModes(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"500,429,reset,hang", []string{"500", "429", "reset", "hang"}, false},
		{" 500 , reset ,", []string{"500", "reset"}, false},
		{"", nil, false},
		{"500,503", nil, true},
	}
	for _, tt := range tests {
		got, err := parseModes(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("parseModes(%q) error = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("parseModes(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestFaultsPick(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name     string
		rate     float64
		window   time.Duration
		calls    []time.Duration // offsets of the calls from now
		wantFail []bool
	}{
		{"never", 0, 0, []time.Duration{0, 1, 2}, []bool{false, false, false}},
		{"always", 1, 0, []time.Duration{0, time.Hour}, []bool{true, true}},
		{"window counts from the first call", 1, time.Second,
			[]time.Duration{10 * time.Second, 10*time.Second + 999*time.Millisecond, 11 * time.Second},
			[]bool{true, true, false}},
	}
	for _, tt := range tests {
		f := &faults{rate: tt.rate, modes: []string{fault500}, window: tt.window, rng: rand.New(rand.NewPCG(1, 2))}
		for i, off := range tt.calls {
			if got := f.pick(now.Add(off)) != ""; got != tt.wantFail[i] {
				t.Errorf("%s: call %d failed = %v, want %v", tt.name, i, got, tt.wantFail[i])
			}
		}
	}
}

func TestFaultsRate(t *testing.T) {
	f := &faults{rate: 0.3, modes: []string{fault500, fault429}, rng: rand.New(rand.NewPCG(7, 8))}
	const n = 20000
	failed := 0
	for range n {
		if f.pick(time.Now()) != "" {
			failed++
		}
	}
	if got := float64(failed) / n; got < 0.28 || got > 0.32 {
		t.Errorf("failure share %.3f, want about 0.3", got)
	}
}

func TestServeFaults(t *testing.T) {
	tests := []struct {
		mode       string
		wantStatus int // 0: no HTTP response
	}{
		{fault500, http.StatusInternalServerError},
		{fault429, http.StatusTooManyRequests},
		{faultReset, 0},
	}
	for _, tt := range tests {
		u := &upstream{faults: faults{rate: 1, modes: []string{tt.mode}, rng: rand.New(rand.NewPCG(1, 1))}}
		srv := httptest.NewServer(u)
		resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"m"}`))
		if tt.wantStatus == 0 {
			if err == nil {
				resp.Body.Close()
				t.Errorf("%s: got status %d, want a broken connection", tt.mode, resp.StatusCode)
			}
		} else if err != nil {
			t.Errorf("%s: %v", tt.mode, err)
		} else {
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("%s: status %d, want %d", tt.mode, resp.StatusCode, tt.wantStatus)
			}
		}
		stats := getStats(t, srv.URL)
		if stats["requests"] != 1 || stats[tt.mode] != 1 || stats["ok"] != 0 {
			t.Errorf("%s: stats %v", tt.mode, stats)
		}
		srv.Close()
	}
}

func TestServeHangEndsWithClient(t *testing.T) {
	u := &upstream{faults: faults{rate: 1, modes: []string{faultHang}, rng: rand.New(rand.NewPCG(1, 1))}}
	srv := httptest.NewServer(u)
	defer srv.Close()
	c := &http.Client{Timeout: 100 * time.Millisecond}
	start := time.Now()
	resp, err := c.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(`{}`))
	if err == nil {
		resp.Body.Close()
		t.Fatalf("hang answered with status %d", resp.StatusCode)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("client gave up after %v", d)
	}
	if s := getStats(t, srv.URL); s["hang"] != 1 {
		t.Errorf("stats %v, want one hang", s)
	}
}

func getStats(t *testing.T, base string) map[string]int64 {
	t.Helper()
	resp, err := http.Get(base + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s map[string]int64
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}
