package gatewaytest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

func post(t *testing.T, ctx context.Context, url, key string, stream bool) (*http.Response, error) {
	t.Helper()
	body := `{"model":"m","messages":[]}`
	if stream {
		body = `{"model":"m","stream":true,"messages":[]}`
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	return http.DefaultClient.Do(req)
}

func TestFaultyStatuses(t *testing.T) {
	f := NewFaulty(Healthy, OpenAIChat{Text: "hi there"})
	f.RetryAfter = "7"
	u := NewFaultyUpstream(t, f)
	for _, tc := range []struct {
		fault  Fault
		status int
	}{
		{Healthy, 200}, {Status500, 500}, {Status502, 502}, {Status503, 503},
		{RateLimited, 429}, {BadRequest, 400}, {Unauthorized, 401}, {MalformedJSON, 200},
	} {
		f.Set(tc.fault)
		resp, err := post(t, context.Background(), u.URL, "k", false)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d", tc.fault, resp.StatusCode)
		}
		if tc.fault == RateLimited && resp.Header.Get("Retry-After") != "7" {
			t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
		}
		if valid := gjson.ValidBytes(b); valid == (tc.fault == MalformedJSON) {
			t.Errorf("%s: body valid JSON = %v: %s", tc.fault, valid, b)
		}
		if f.Played(tc.fault) != 1 {
			t.Errorf("%s played %d times", tc.fault, f.Played(tc.fault))
		}
	}
}

func TestFaultyPerKey(t *testing.T) {
	f := NewFaulty(Healthy, OpenAIChat{Text: "hi"})
	f.SetForKey("bad", Status503)
	u := NewFaultyUpstream(t, f)
	for key, want := range map[string]int{"good": 200, "bad": 503} {
		resp, err := post(t, context.Background(), u.URL, key, false)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("key %s: %d, want %d", key, resp.StatusCode, want)
		}
	}
}

func TestFaultyReset(t *testing.T) {
	u := NewFaultyUpstream(t, NewFaulty(ConnReset, OpenAIChat{}))
	_, err := post(t, context.Background(), u.URL, "k", false)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("error %v, want a connection reset", err)
	}
}

func TestFaultyHangHonoursCancel(t *testing.T) {
	f := NewFaulty(HangBeforeHeaders, OpenAIChat{})
	u := NewFaultyUpstream(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := post(t, ctx, u.URL, "k", false); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v", err)
	}
	WaitFor(t, 2*time.Second, "hanging handler to return", func() bool { return u.Canceled() == 1 })
	if time.Since(start) > 2*time.Second {
		t.Errorf("hang outlived its request")
	}
}

func TestFaultyStreams(t *testing.T) {
	f := NewFaulty(StreamCut, OpenAIChat{Text: "a b c d e"})
	f.CutAfter = 2
	f.HugeBytes = 1 << 20
	u := NewFaultyUpstream(t, f)
	read := func() string {
		resp, err := post(t, context.Background(), u.URL, "k", true)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if s := read(); strings.Count(s, `"content":"`) != 3 || strings.Contains(s, "[DONE]") || strings.Contains(s, "finish_reason\":\"stop") {
		t.Errorf("cut stream: %s", s)
	}
	f.Set(MalformedSSE)
	if s := read(); !strings.Contains(s, "not an event stream") || strings.Contains(s, "[DONE]") {
		t.Errorf("malformed stream: %s", s)
	}
	f.Set(Huge)
	if s := read(); len(s) < 1<<20 || !strings.HasSuffix(s, "data: [DONE]\n\n") {
		t.Errorf("huge stream: %d bytes", len(s))
	}
	f.Set(SlowStream)
	f.ChunkDelay = 30 * time.Millisecond
	start := time.Now()
	if s := read(); !strings.Contains(s, "[DONE]") || time.Since(start) < 150*time.Millisecond {
		t.Errorf("slow stream after %s: %s", time.Since(start), s)
	}
}

func TestFaultyHugeNonStream(t *testing.T) {
	f := NewFaulty(Huge, OpenAIChat{})
	f.HugeBytes = 3 << 20
	u := NewFaultyUpstream(t, f)
	resp, err := post(t, context.Background(), u.URL, "k", false)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if len(b) < 3<<20 || resp.ContentLength != -1 || !gjson.ValidBytes(b) {
		t.Errorf("%d bytes, content length %d, valid %v", len(b), resp.ContentLength, gjson.ValidBytes(b))
	}
}
