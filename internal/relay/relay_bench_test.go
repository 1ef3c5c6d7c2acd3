package relay

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/internal/endpoint"
	"switchboard/internal/format/anthropic"
	"switchboard/internal/format/gemini"
	"switchboard/internal/format/openai"
	"switchboard/internal/gateway"
	"switchboard/internal/payload"
	"switchboard/internal/pricing"
	"switchboard/internal/route"
	"switchboard/internal/upstream"
)

// cannedTransport answers upstream calls in memory with fixed bodies per
// path, so benchmarks measure the relay and not a network.
type cannedTransport struct {
	bodies map[string][]byte // key: path + "|stream" or path
}

func (c *cannedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	key := req.URL.Path
	ct := "application/json"
	if req.Header.Get("Accept") == "text/event-stream" {
		key += "|stream"
		ct = "text/event-stream"
	}
	b, ok := c.bodies[key]
	if !ok {
		return nil, fmt.Errorf("no canned body for %s", key)
	}
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {ct}}, Body: io.NopCloser(bytes.NewReader(b)), ContentLength: int64(len(b)), Request: req}, nil
}

type nopLedger struct {
	mu   sync.Mutex
	recs []gateway.UsageRecord
	keep bool
}

func (n *nopLedger) Record(rec *gateway.UsageRecord, _ bool) error {
	if n.keep {
		n.mu.Lock()
		n.recs = append(n.recs, *rec)
		n.mu.Unlock()
	}
	return nil
}

type nopBudget struct{}

func (nopBudget) Reserve(context.Context, int64, string, int64) error { return nil }
func (nopBudget) Settle(context.Context, int64, string, int64) error  { return nil }
func (nopBudget) Release(context.Context, int64, string) error        { return nil }

const streamChunks = 20

func openAIStream() []byte {
	var b strings.Builder
	b.WriteString(`data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}` + "\n\n")
	for i := 0; i < streamChunks; i++ {
		fmt.Fprintf(&b, `data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"word%d "},"finish_reason":null}]}`+"\n\n", i)
	}
	b.WriteString(`data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\n")
	b.WriteString(`data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":20,"total_tokens":32}}` + "\n\n")
	b.WriteString("data: [DONE]\n\n")
	return []byte(b.String())
}

func anthropicStream() []byte {
	var b strings.Builder
	ev := func(name, data string) { fmt.Fprintf(&b, "event: %s\ndata: %s\n\n", name, data) }
	ev("message_start", `{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-20250514","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":12,"output_tokens":1}}}`)
	ev("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
	for i := 0; i < streamChunks; i++ {
		ev("content_block_delta", fmt.Sprintf(`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"word%d "}}`, i))
	}
	ev("content_block_stop", `{"type":"content_block_stop","index":0}`)
	ev("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":20}}`)
	ev("message_stop", `{"type":"message_stop"}`)
	return []byte(b.String())
}

// testSpecs are the engine's upstream specs, as the gateway wires them.
var testSpecs = []endpoint.Spec{openai.Chat, openai.Embeddings, anthropic.Messages, gemini.Generate, gemini.BatchEmbed}

// embedDims is the size of the benchmark's vectors, text-embedding-3-small's.
const embedDims = 1536

func benchVector() string {
	var b strings.Builder
	b.WriteByte('[')
	for i := range embedDims {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%.8f", float64(i%97)/97-0.5)
	}
	b.WriteByte(']')
	return b.String()
}

func openAIEmbeddingsAnswer() []byte {
	v := benchVector()
	return []byte(`{"object":"list","data":[{"object":"embedding","index":0,"embedding":` + v + `},{"object":"embedding","index":1,"embedding":` + v +
		`}],"model":"text-embedding-3-small","usage":{"prompt_tokens":9,"total_tokens":9}}`)
}

func geminiEmbeddingsAnswer() []byte {
	v := benchVector()
	return []byte(`{"embeddings":[{"values":` + v + `},{"values":` + v + `}]}`)
}

func newBenchRelay(tb testing.TB, keep bool) (*Engine, *nopLedger) {
	tb.Helper()
	rt := route.New(nil)
	rt.SetChannels([]gateway.Channel{
		{ID: 1, Name: "oa", Type: gateway.ChannelOpenAI, BaseURL: "http://oa.invalid", APIKeys: []string{"k"}, Models: []string{"gpt-4o-mini"}, Enabled: true, Weight: 1},
		{ID: 2, Name: "an", Type: gateway.ChannelAnthropic, BaseURL: "http://an.invalid", APIKeys: []string{"k"}, Models: []string{"claude-sonnet-4-20250514"}, Enabled: true, Weight: 1},
		{ID: 3, Name: "oa-emb", Type: gateway.ChannelOpenAI, BaseURL: "http://oa.invalid", APIKeys: []string{"k"}, Models: []string{"text-embedding-3-small"}, Enabled: true, Weight: 1},
		{ID: 4, Name: "ge-emb", Type: gateway.ChannelGemini, BaseURL: "http://ge.invalid", APIKeys: []string{"k"}, Models: []string{"gemini-embedding-001"}, Enabled: true, Weight: 1},
	})
	tr := &cannedTransport{bodies: map[string][]byte{
		"/v1/chat/completions":        []byte(`{"id":"c1","object":"chat.completion","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there, how can I help?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":8,"total_tokens":20}}`),
		"/v1/chat/completions|stream": openAIStream(),
		"/v1/messages":                []byte(`{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-20250514","content":[{"type":"text","text":"Hello there, how can I help?"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":12,"output_tokens":8}}`),
		"/v1/messages|stream":         anthropicStream(),
		"/v1/embeddings":              openAIEmbeddingsAnswer(),
		"/v1beta/models/gemini-embedding-001:batchEmbedContents": geminiEmbeddingsAnswer(),
	}}
	led := &nopLedger{keep: keep}
	return &Engine{
		Router: rt, Budget: nopBudget{}, Prices: pricing.Builtin(), Ledger: led, Specs: testSpecs,
		Client: &http.Client{Transport: tr}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, led
}

var benchKey = &gateway.Key{ID: 1, Name: "bench", Enabled: true}

func runCall(tb testing.TB, r *Engine, model string, stream bool) *httptest.ResponseRecorder {
	return runClientCall(tb, r, upstream.FormatOpenAI, model, stream)
}

// runClientCall makes one call in the given inbound format (OpenAI chat or
// Anthropic Messages).
func runClientCall(tb testing.TB, r *Engine, format, model string, stream bool) *httptest.ResponseRecorder {
	streamField := ""
	if stream {
		streamField = `"stream":true,`
	}
	body := `{"model":"` + model + `",` + streamField + `"max_tokens":64,"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"Hello!"}]}`
	path, spec := "/v1/chat/completions", openai.Chat
	if format == upstream.FormatAnthropic {
		body = `{"model":"` + model + `",` + streamField + `"max_tokens":64,"system":"be brief","messages":[{"role":"user","content":"Hello!"}]}`
		path, spec = "/v1/messages", anthropic.Messages
	}
	w := httptest.NewRecorder()
	if err := serveSpec(r, w, spec, path, body); err != nil {
		tb.Fatalf("call failed: %v", err)
	}
	return w
}

// serveSpec runs one call of spec with a JSON body, as httpapi would.
func serveSpec(r *Engine, w http.ResponseWriter, spec endpoint.Spec, path, body string) error {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	b := payload.Body{JSON: []byte(body)}
	p, err := spec.Peek(req, b)
	if err != nil {
		return err
	}
	call := &Call{Spec: spec, Key: benchKey, RequestID: "req_bench", Start: time.Now(), Peek: p, Body: b, Header: http.Header{}}
	return r.Serve(req.Context(), w, call)
}

// The same OpenAI client call, passed through to an OpenAI channel and
// translated to an Anthropic one, records the same usage and gives the
// client the same text.
func TestPassThroughAndTranslationAgree(t *testing.T) {
	r, led := newBenchRelay(t, true)
	for _, model := range []string{"gpt-4o-mini", "claude-sonnet-4-20250514"} {
		w := runCall(t, r, model, false)
		if !strings.Contains(w.Body.String(), `Hello there, how can I help?`) {
			t.Errorf("%s: body %s", model, w.Body.String())
		}
		w = runCall(t, r, model, true)
		out := w.Body.String()
		if !strings.Contains(out, "word19 ") || !strings.HasSuffix(out, "data: [DONE]\n\n") || strings.Contains(out, `"choices":[]`) {
			t.Errorf("%s stream: %s", model, out)
		}
	}
	if len(led.recs) != 4 {
		t.Fatalf("%d ledger records", len(led.recs))
	}
	for _, rec := range led.recs {
		if rec.Usage.InputTokens != 12 || rec.UsageSource != gateway.UsageFromUpstream || rec.CostNanoUSD <= 0 {
			t.Errorf("record %+v", rec)
		}
	}
}

// BenchmarkRelay compares, in one run, the relay's cost for a call passed
// through (client and channel speak one format) and translated (OpenAI
// client → Anthropic channel and back), non-streaming and for a 20-chunk
// stream; the stream cases also report the cost per event.
func BenchmarkRelay(b *testing.B) {
	r, _ := newBenchRelay(b, false)
	const oa, an = upstream.FormatOpenAI, upstream.FormatAnthropic
	for _, tc := range []struct {
		name   string
		client string
		model  string
		stream bool
	}{
		{"openai-passthrough/nonstream", oa, "gpt-4o-mini", false},
		{"openai-to-anthropic/nonstream", oa, "claude-sonnet-4-20250514", false},
		{"anthropic-passthrough/nonstream", an, "claude-sonnet-4-20250514", false},
		{"anthropic-to-openai/nonstream", an, "gpt-4o-mini", false},
		{"openai-passthrough/stream20", oa, "gpt-4o-mini", true},
		{"openai-to-anthropic/stream20", oa, "claude-sonnet-4-20250514", true},
		{"anthropic-passthrough/stream20", an, "claude-sonnet-4-20250514", true},
		{"anthropic-to-openai/stream20", an, "gpt-4o-mini", true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				runClientCall(b, r, tc.client, tc.model, tc.stream)
			}
			if tc.stream {
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(streamChunks+4), "ns/event")
			}
		})
	}
	// Embeddings of two inputs, 1536-dimension vectors: passed through, and
	// translated to Gemini and back (the gateway parses and re-encodes
	// 3,072 floats), as floats and as base64.
	for _, tc := range []struct{ name, model, format string }{
		{"embeddings-passthrough", "text-embedding-3-small", "float"},
		{"embeddings-to-gemini", "gemini-embedding-001", "float"},
		{"embeddings-to-gemini-base64", "gemini-embedding-001", "base64"},
	} {
		body := `{"model":"` + tc.model + `","input":["The quick brown fox","jumps over the lazy dog"],"encoding_format":"` + tc.format + `"}`
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := serveSpec(r, httptest.NewRecorder(), openai.Embeddings, "/v1/embeddings", body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
