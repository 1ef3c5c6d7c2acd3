package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"switchboard/internal/config"
)

// benchUpstream answers like bench/cmd/fakeupstream, in memory, so the
// benchmark measures the whole gateway (auth, routing, limits, pricing,
// the ledger's spool and SQLite flusher) and no network.
type benchUpstream struct{}

var (
	benchChat = []byte(`{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"bench-model",` +
		`"choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the benchmark upstream."},"finish_reason":"stop"}],` +
		`"usage":{"prompt_tokens":12,"completion_tokens":20,"total_tokens":32}}`)
	benchStream = func() []byte {
		var b bytes.Buffer
		for i := range 20 {
			delta := fmt.Sprintf(`{"content":"tok%d "}`, i)
			if i == 0 {
				delta = `{"role":"assistant","content":"tok0 "}`
			}
			finish := "null"
			if i == 19 {
				finish = `"stop"`
			}
			fmt.Fprintf(&b, `data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench-model","choices":[{"index":0,"delta":%s,"finish_reason":%s}]}`+"\n\n", delta, finish)
		}
		b.WriteString(`data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench-model","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":20,"total_tokens":32}}` + "\n\n")
		b.WriteString("data: [DONE]\n\n")
		return b.Bytes()
	}()
	benchEmbedding = []byte(`{"object":"list","data":[{"object":"embedding","index":0,"embedding":"` +
		base64.StdEncoding.EncodeToString(make([]byte, 4*1536)) + `"}],"model":"bench-embed","usage":{"prompt_tokens":8,"total_tokens":8}}`)
)

func (benchUpstream) RoundTrip(req *http.Request) (*http.Response, error) {
	body, _ := io.ReadAll(req.Body)
	req.Body.Close()
	out, ct, n := benchChat, "application/json", int64(len(benchChat))
	switch {
	case strings.HasSuffix(req.URL.Path, "/embeddings"):
		out, n = benchEmbedding, int64(len(benchEmbedding))
	case bytes.Contains(body, []byte(`"stream":true`)):
		out, ct, n = benchStream, "text/event-stream", -1
	}
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {ct}}, Body: io.NopCloser(bytes.NewReader(out)),
		ContentLength: n, Request: req}, nil
}

// BenchmarkGateway is one call through the whole gateway handler as the
// bench/ load benchmark makes it: non-stream, 20-chunk stream, and
// embeddings, passed through to an OpenAI-compatible channel, with the
// real ledger on SQLite. Its CPU and allocation profiles show what a call
// costs the serving path beyond the network.
func BenchmarkGateway(b *testing.B) {
	dir := b.TempDir()
	cfg, err := config.Parse("bench.yaml", []byte(fmt.Sprintf(`storage: {database: "sqlite://%s/sb.db"}
channels:
  - {name: fake, type: openai-compatible, base_url: "http://fake.invalid", api_keys: [x], models: [bench-model, bench-embed]}
keys:
  - {name: bench, key: %s}
prices:
  bench-model: {input_per_mtok: 1, output_per_mtok: 2}
  bench-embed: {input_per_mtok: 0.02}
`, dir, testKey)), nil)
	if err != nil {
		b.Fatal(err)
	}
	a, err := newApp(context.Background(), cfg, appOptions{DataDir: dir, Out: io.Discard, Transport: benchUpstream{},
		Getenv: func(k string) (string, bool) { return "bench-secret", k == "SWITCHBOARD_SECRET" }})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = a.Close(ctx)
	})
	chat := `{"model":"bench-model","messages":[{"role":"system","content":"You are a benchmark."},{"role":"user","content":"Say hello in twenty tokens."}],"max_tokens":64`
	for _, tc := range []struct{ name, path, body, want string }{
		{"nonstream", "/v1/chat/completions", chat + "}", `"usage"`},
		{"stream20", "/v1/chat/completions", chat + `,"stream":true,"stream_options":{"include_usage":true}}`, "data: [DONE]"},
		{"embeddings", "/v1/embeddings", `{"model":"bench-embed","input":"The quick brown fox jumps over the lazy dog.","encoding_format":"base64"}`, `"embedding":"`},
	} {
		want := []byte(tc.want)
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, tc.path, strings.NewReader(tc.body))
				req.Header.Set("Authorization", "Bearer "+testKey)
				req.Header.Set("Content-Type", "application/json")
				w := httptest.NewRecorder()
				a.handler.ServeHTTP(w, req)
				if w.Code != 200 || !bytes.Contains(w.Body.Bytes(), want) {
					b.Fatalf("%d %.300s", w.Code, w.Body.String())
				}
			}
		})
	}
}
