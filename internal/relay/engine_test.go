package relay

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"switchboard/internal/endpoint"
	"switchboard/internal/format/openai"
	"switchboard/internal/gateway"
	"switchboard/internal/llm"
	"switchboard/internal/payload"
	"switchboard/internal/pricing"
	"switchboard/internal/route"
	"switchboard/internal/upstream"
)

// recordingHealth keeps every report.
type recordingHealth struct {
	mu      sync.Mutex
	reports []gateway.HealthReport
}

func (h *recordingHealth) Available(int64, int, time.Time) bool { return true }
func (h *recordingHealth) Report(r gateway.HealthReport) {
	h.mu.Lock()
	h.reports = append(h.reports, r)
	h.mu.Unlock()
}
func (h *recordingHealth) Snapshot() []gateway.ChannelHealth { return nil }

func (h *recordingHealth) outcomes(channel int64) []gateway.Outcome {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []gateway.Outcome
	for _, r := range h.reports {
		if r.ChannelID == channel {
			out = append(out, r.Outcome)
		}
	}
	return out
}

// testUpstream counts its calls and answers with h.
type testUpstream struct {
	*httptest.Server
	calls atomic.Int32
}

func newTestUpstream(t *testing.T, h http.HandlerFunc) *testUpstream {
	u := &testUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.calls.Add(1)
		h(w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

const okChat = `{"id":"c1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"from B"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`

func okChatHandler(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, okChat)
}

// twoChannels routes model "m" to a (tier 10) before b (tier 5).
func twoChannels(t *testing.T, a, b string, settings map[string]string) (*Engine, *recordingHealth, *nopLedger) {
	t.Helper()
	h := &recordingHealth{}
	rt := route.New(h)
	rt.SetChannels([]gateway.Channel{
		{ID: 1, Name: "a", Type: gateway.ChannelOpenAI, BaseURL: a, APIKeys: []string{"ka"}, Models: []string{"m"}, Priority: 10, Weight: 1, Enabled: true, Settings: settings},
		{ID: 2, Name: "b", Type: gateway.ChannelOpenAI, BaseURL: b, APIKeys: []string{"kb"}, Models: []string{"m"}, Priority: 5, Weight: 1, Enabled: true},
	})
	led := &nopLedger{keep: true}
	return &Engine{
		Router: rt, Health: h, Budget: nopBudget{}, Prices: pricing.New(nil), Ledger: led, Specs: testSpecs,
		Client: &http.Client{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, h, led
}

// The engine fails over on what the error says of the upstream — down,
// slow, throttled, broken, or refusing the gateway's own key — and never
// on a request the upstream refused as the caller's mistake.
func TestFailoverByErrorKind(t *testing.T) {
	t.Parallel()
	status := func(code int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			_, _ = io.WriteString(w, body)
		}
	}
	for _, tc := range []struct {
		name     string
		a        http.HandlerFunc
		settings map[string]string
		failover bool
		status   int // client's status when there is no failover
		outcome  gateway.Outcome
	}{
		{name: "5xx", a: status(500, `{"error":{"message":"boom"}}`), failover: true, outcome: gateway.OutcomeFailure},
		{name: "503", a: status(503, `{"error":{"message":"busy"}}`), failover: true, outcome: gateway.OutcomeFailure},
		{name: "429", a: status(429, `{"error":{"message":"slow down"}}`), failover: true, outcome: gateway.OutcomeRateLimited},
		{name: "401 gateway's key", a: status(401, `{"error":{"message":"bad key"}}`), failover: true, outcome: gateway.OutcomeAuthFailure},
		{name: "200 not JSON", a: status(200, `<html>oops</html>`), failover: true, outcome: gateway.OutcomeFailure},
		{name: "slow headers", a: func(w http.ResponseWriter, r *http.Request) { mustRead(r); <-r.Context().Done() },
			settings: map[string]string{"first_byte_timeout": "50ms"}, failover: true, outcome: gateway.OutcomeFailure},
		{name: "400 caller's mistake", a: status(400, `{"error":{"message":"bad field","param":"x"}}`), status: 400, outcome: gateway.OutcomeSuccess},
		{name: "404", a: status(404, `{"error":{"message":"no such model"}}`), status: 404, outcome: gateway.OutcomeSuccess},
		{name: "422", a: status(422, `{"error":{"message":"unprocessable"}}`), status: 422, outcome: gateway.OutcomeSuccess},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := newTestUpstream(t, tc.a)
			b := newTestUpstream(t, okChatHandler)
			e, h, led := twoChannels(t, a.URL, b.URL, tc.settings)
			w := httptest.NewRecorder()
			err := serveSpec(e, w, openai.Chat, "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
			if tc.failover {
				if err != nil || !strings.Contains(w.Body.String(), "from B") || b.calls.Load() != 1 {
					t.Fatalf("no failover: err %v, body %s, b called %d", err, w.Body.String(), b.calls.Load())
				}
				if rec := led.recs[0]; rec.Attempts != 2 || rec.ChannelName != "b" {
					t.Errorf("ledger %+v", rec)
				}
			} else {
				ge := gateway.AsError(err)
				if err == nil || ge.HTTPStatus() != tc.status || b.calls.Load() != 0 {
					t.Fatalf("err %v (status %d), b called %d", err, ge.HTTPStatus(), b.calls.Load())
				}
				if rec := led.recs[0]; rec.Status != tc.status || rec.Attempts != 1 {
					t.Errorf("ledger %+v", rec)
				}
			}
			if got := h.outcomes(1); len(got) == 0 || got[0] != tc.outcome {
				t.Errorf("channel a reported %v, want %v first", got, tc.outcome)
			}
		})
	}
}

// A stream fails over until its first event, and not after.
func TestStreamFailoverUntilFirstEvent(t *testing.T) {
	t.Parallel()
	sse := func(body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, body)
		}
	}
	good := sse(`data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"from B"},"finish_reason":null}]}` + "\n\n" +
		`data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}` + "\n\ndata: [DONE]\n\n")
	for _, tc := range []struct {
		name     string
		a        http.HandlerFunc
		failover bool
	}{
		{"empty body", sse(""), true},
		{"error event first", sse(`data: {"error":{"message":"overloaded","code":503}}` + "\n\n"), true},
		{"cut after first event", sse(`data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"from A"},"finish_reason":null}]}` + "\n\n"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a := newTestUpstream(t, tc.a)
			b := newTestUpstream(t, good)
			e, _, led := twoChannels(t, a.URL, b.URL, nil)
			w := httptest.NewRecorder()
			if err := serveSpec(e, w, openai.Chat, "/v1/chat/completions", `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`); err != nil {
				t.Fatal(err)
			}
			out := w.Body.String()
			if tc.failover {
				if !strings.Contains(out, "from B") || !strings.HasSuffix(out, "data: [DONE]\n\n") {
					t.Fatalf("stream %q", out)
				}
				return
			}
			if !strings.Contains(out, "from A") || !strings.Contains(out, `"error"`) || b.calls.Load() != 0 {
				t.Fatalf("stream %q, b called %d", out, b.calls.Load())
			}
			if rec := led.recs[0]; rec.Status != http.StatusBadGateway || rec.UsageSource != gateway.UsageEstimated || rec.Usage.OutputTokens == 0 {
				t.Errorf("cut stream billed %+v", rec)
			}
		})
	}
}

// audioSpec is an endpoint of the test's own: a multipart upload whose
// answer is audio bytes, priced per second of input.
type audioSpec struct{}

func (audioSpec) Endpoint() string                 { return "test.audio" }
func (audioSpec) Family() string                   { return upstream.FormatOpenAI }
func (audioSpec) Op() upstream.Op                  { return upstream.OpChat }
func (audioSpec) ClientKey(r *http.Request) string { return "" }
func (audioSpec) WriteError(w http.ResponseWriter, e *gateway.Error, id string) {
	openai.WriteError(w, e, id)
}
func (audioSpec) UpstreamError(status int, body []byte) *gateway.Error {
	return openai.ParseUpstreamError(status, body)
}
func (audioSpec) Peek(_ *http.Request, b payload.Body) (endpoint.Peek, error) {
	model, _ := b.Form.Value("model")
	return endpoint.Peek{Model: model}, nil
}
func (audioSpec) PassRequest(p endpoint.Peek, b payload.Body, upstreamModel string) (upstream.Body, error) {
	enc, err := b.Form.Encode(map[string]string{"model": upstreamModel}, "drop_me")
	if err != nil {
		return upstream.Body{}, err
	}
	return upstream.Body{ContentType: enc.ContentType, Open: enc.Open, Length: enc.Length}, nil
}
func (audioSpec) ParseUsage([]byte) (llm.Usage, bool)      { return llm.Usage{}, false }
func (audioSpec) CountAnswer([]byte, endpoint.TextCounter) {}
func (audioSpec) RawAnswer(ct string) bool                 { return strings.HasPrefix(ct, "audio/") }
func (audioSpec) Units(endpoint.Peek, payload.Body, []byte) []gateway.Metered {
	return []gateway.Metered{{Unit: gateway.UnitAudioSecond, Count: 90}}
}

// A multipart upload is re-sent from its spool to the next channel after a
// failure, with the model mapped, a field dropped and the file intact; a
// binary answer streams to the client; units are priced.
func TestMultipartUploadAndBinaryAnswer(t *testing.T) {
	t.Parallel()
	file := bytes.Repeat([]byte("RIFFwave"), 512<<10) // 4 MiB, past the 64 KiB memory bound
	check := func(t *testing.T, r *http.Request) {
		mr, err := r.MultipartReader()
		if err != nil {
			t.Errorf("upstream: %v", err)
			return
		}
		got := map[string][]byte{}
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			b, _ := io.ReadAll(p)
			got[p.FormName()+"|"+p.FileName()] = b
		}
		if string(got["model|"]) != "up-model" || !bytes.Equal(got["file|speech.wav"], file) || got["drop_me|"] != nil || string(got["language|"]) != "en" {
			t.Errorf("upstream form: model %q, file %d bytes, fields %d", got["model|"], len(got["file|speech.wav"]), len(got))
		}
		if r.ContentLength <= int64(len(file)) {
			t.Errorf("content length %d", r.ContentLength)
		}
	}
	audio := bytes.Repeat([]byte{0xff, 0xf3}, 100<<10)
	a := newTestUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		check(t, r)
		http.Error(w, `{"error":{"message":"down"}}`, http.StatusBadGateway)
	})
	b := newTestUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		check(t, r)
		w.Header().Set("Content-Type", "audio/mpeg")
		for i := 0; i < len(audio); i += 64 << 10 {
			_, _ = w.Write(audio[i:min(i+64<<10, len(audio))])
			w.(http.Flusher).Flush()
		}
	})
	e, _, led := twoChannels(t, a.URL, b.URL, nil)
	e.Router.SetChannels([]gateway.Channel{
		{ID: 1, Name: "a", Type: gateway.ChannelOpenAI, BaseURL: a.URL, Models: []string{"m"}, ModelMap: map[string]string{"m": "up-model"}, Priority: 10, Weight: 1, Enabled: true},
		{ID: 2, Name: "b", Type: gateway.ChannelOpenAI, BaseURL: b.URL, Models: []string{"m"}, ModelMap: map[string]string{"m": "up-model"}, Priority: 5, Weight: 1, Enabled: true},
	})
	// $0.006 a minute is 100,000 nano-USD a second.
	e.Prices = pricing.New(map[string]gateway.Price{"up-model": {Units: []gateway.UnitPrice{{Unit: gateway.UnitAudioSecond, PerMUnits: 100_000 * 1_000_000}}}})

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", "speech.wav")
	_, _ = fw.Write(file)
	_ = mw.WriteField("model", "m")
	_ = mw.WriteField("drop_me", "x")
	_ = mw.WriteField("language", "en")
	_ = mw.Close()
	f, err := payload.ReadForm(&body, mw.Boundary(), payload.Limits{MemBytes: 64 << 10, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pb := payload.Body{Form: f}
	p, _ := audioSpec{}.Peek(nil, pb)
	w := httptest.NewRecorder()
	c := &Call{Spec: audioSpec{}, Key: benchKey, RequestID: "req_audio", Start: time.Now(), Peek: p, Body: pb, Header: http.Header{}}
	if err := e.Serve(context.Background(), w, c); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(w.Body.Bytes(), audio) || w.Header().Get("Content-Type") != "audio/mpeg" {
		t.Fatalf("client got %d bytes (%s)", w.Body.Len(), w.Header().Get("Content-Type"))
	}
	rec := led.recs[0]
	if rec.Attempts != 2 || len(rec.Units) != 1 || rec.CostNanoUSD != 90*100_000 || rec.Status != 200 {
		t.Errorf("ledger %+v", rec)
	}
}

// Go callers get the same routing, failover and ledger as HTTP calls, as
// an iterator of hub events; stopping early cancels the upstream and bills
// what was produced.
func TestGenerate(t *testing.T) {
	t.Parallel()
	stream := func(w http.ResponseWriter, r *http.Request) {
		if !gjson.GetBytes(mustRead(r), "stream").Bool() {
			t.Error("hub calls always stream")
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 0; i < 50; i++ {
			_, _ = io.WriteString(w, `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"word "},"finish_reason":null}]}`+"\n\n")
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
		_, _ = io.WriteString(w, `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":50,"total_tokens":53}}`+"\n\ndata: [DONE]\n\n")
	}
	a := newTestUpstream(t, func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) })
	b := newTestUpstream(t, stream)
	e, _, led := twoChannels(t, a.URL, b.URL, nil)
	req := &llm.Request{Model: "m", Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartText, Text: "hi"}}}}}

	var text strings.Builder
	var stop *llm.Event
	var usage *llm.Usage
	for ev, err := range e.Generate(context.Background(), HubCall{Key: benchKey, Request: req, Endpoint: "playground"}) {
		if err != nil {
			t.Fatal(err)
		}
		switch ev.Type {
		case llm.EventTextDelta:
			text.WriteString(ev.Text)
		case llm.EventUsage:
			usage = ev.Usage
		case llm.EventStop:
			stop = &ev
		}
	}
	if strings.Count(text.String(), "word") != 50 || stop == nil || usage == nil || usage.OutputTokens != 50 {
		t.Fatalf("text %q stop %v usage %+v", text.String(), stop, usage)
	}
	if rec := led.recs[0]; rec.Endpoint != "playground" || rec.Attempts != 2 || rec.Usage.OutputTokens != 50 || rec.UsageSource != gateway.UsageFromUpstream ||
		len(rec.Tried) != 1 || !strings.HasPrefix(rec.Tried[0], "a: 503 ") {
		t.Errorf("ledger %+v", rec)
	}

	// Stop after three words.
	n := 0
	for ev, err := range e.Generate(context.Background(), HubCall{Key: benchKey, Request: req}) {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type == llm.EventTextDelta {
			if n++; n == 3 {
				break
			}
		}
	}
	waitFor(t, func() bool { return len(led.snapshot()) == 2 })
	if rec := led.snapshot()[1]; rec.Status != 499 || rec.UsageSource != gateway.UsageEstimated || rec.Usage.OutputTokens < 3 {
		t.Errorf("abandoned hub call billed %+v", rec)
	}

	// A call that cannot start yields one error.
	var errs int
	for _, err := range e.Generate(context.Background(), HubCall{Key: benchKey, Request: &llm.Request{Model: "nope"}}) {
		if gateway.AsError(err).Kind != gateway.KindNotFound {
			t.Errorf("err %v", err)
		}
		errs++
	}
	if errs != 1 {
		t.Errorf("%d errors", errs)
	}

	// Pinned to a channel, a call tries that one only: the failing
	// channel's error comes back, and the healthy one answers alone.
	for _, c := range []struct {
		channel int64
		ok      bool
	}{{1, false}, {2, true}} {
		var failed error
		for _, err := range e.Generate(context.Background(), HubCall{Key: benchKey, Request: req, ChannelID: c.channel}) {
			if err != nil {
				failed = err
			}
		}
		if (failed == nil) != c.ok {
			t.Fatalf("pinned to channel %d: err %v", c.channel, failed)
		}
		recs := led.snapshot()
		if rec := recs[len(recs)-1]; rec.Attempts != 1 || rec.ChannelID != c.channel {
			t.Errorf("pinned to channel %d: ledger %+v", c.channel, rec)
		}
	}
}

func mustRead(r *http.Request) []byte {
	b, _ := io.ReadAll(r.Body)
	return b
}

func (n *nopLedger) snapshot() []gateway.UsageRecord {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]gateway.UsageRecord(nil), n.recs...)
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The access log, the engine's first observer, writes one line per call
// with what an operator greps for.
func TestAccessLogOneLinePerCall(t *testing.T) {
	t.Parallel()
	b := newTestUpstream(t, okChatHandler)
	a := newTestUpstream(t, func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", 500) })
	e, _, _ := twoChannels(t, a.URL, b.URL, nil)
	var buf syncBuffer
	e.Observer = AccessLog{Log: slog.New(slog.NewJSONHandler(&buf, nil))}
	if err := serveSpec(e, httptest.NewRecorder(), openai.Chat, "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d lines: %q", len(lines), buf.String())
	}
	l := []byte(lines[0])
	for path, want := range map[string]string{"msg": "call", "request_id": "req_bench", "endpoint": "chat.completions", "model": "m",
		"channel": "b", "key": "bench", "usage_source": "upstream"} {
		if got := gjson.GetBytes(l, path).String(); got != want {
			t.Errorf("%s = %q, want %q in %s", path, got, want, l)
		}
	}
	if gjson.GetBytes(l, "status").Int() != 200 || gjson.GetBytes(l, "attempts").Int() != 2 || gjson.GetBytes(l, "input_tokens").Int() != 3 {
		t.Errorf("line %s", l)
	}
	for _, field := range []string{"output_tokens", "cached_input_tokens", "reasoning_tokens", "cost_nano_usd", "price_nano_usd",
		"latency", "ttft", "overhead", "upstream_model", "stream"} {
		if !gjson.GetBytes(l, field).Exists() {
			t.Errorf("no %s in %s", field, l)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
