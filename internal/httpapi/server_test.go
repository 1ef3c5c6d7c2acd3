package httpapi

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"switchboard/internal/endpoint"
	"switchboard/internal/format/anthropic"
	"switchboard/internal/format/gemini"
	"switchboard/internal/format/openai"
	"switchboard/internal/gateway"
	"switchboard/internal/pricing"
	"switchboard/internal/relay"
	"switchboard/internal/route"
)

// memKeys is an in-memory KeyStore.
type memKeys struct{ keys []gateway.Key }

func (m *memKeys) KeyByHash(_ context.Context, h string) (gateway.Key, error) {
	for _, k := range m.keys {
		if k.Hash == h {
			return k, nil
		}
	}
	return gateway.Key{}, gateway.ErrNotFound
}
func (m *memKeys) KeyByID(context.Context, int64) (gateway.Key, error) {
	return gateway.Key{}, gateway.ErrNotFound
}
func (m *memKeys) ListKeys(context.Context) ([]gateway.Key, error)                 { return m.keys, nil }
func (m *memKeys) CreateKey(_ context.Context, k gateway.Key) (gateway.Key, error) { return k, nil }
func (m *memKeys) UpsertKey(_ context.Context, k gateway.Key) (gateway.Key, error) { return k, nil }
func (m *memKeys) UpdateKey(_ context.Context, k gateway.Key) (gateway.Key, error) { return k, nil }
func (m *memKeys) DeleteKey(context.Context, int64) error                          { return nil }

type nopLedger struct{}

func (nopLedger) Record(*gateway.UsageRecord, bool) error { return nil }

const (
	goodKey    = "sk-test-http-0123456789abcdef"
	limitedKey = "sk-test-http-limited-0123456789"
)

// newServer serves model "m" from a fake OpenAI upstream that answers
// every chat call with "hello".
func newServer(t *testing.T) *httptest.Server { return newServerWith(t, nil) }

func newServerWith(t *testing.T, opt func(*Server)) *httptest.Server {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`)
	}))
	t.Cleanup(up.Close)
	rt := route.New(nil)
	rt.SetChannels([]gateway.Channel{{ID: 1, Name: "up", Type: gateway.ChannelOpenAI, BaseURL: up.URL, Models: []string{"m", "other"}, Weight: 1, Enabled: true}})
	keys := NewKeyCache(&memKeys{keys: []gateway.Key{
		{ID: 1, Name: "good", Hash: HashKey(goodKey), Enabled: true},
		{ID: 2, Name: "limited", Hash: HashKey(limitedKey), Models: []string{"m"}, Enabled: true},
	}})
	if err := keys.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	eng := &relay.Engine{Router: rt, Prices: pricing.New(nil), Ledger: nopLedger{}, Client: up.Client(), Log: log,
		Specs: []endpoint.Spec{openai.Chat, openai.Embeddings, anthropic.Messages, gemini.Generate, gemini.BatchEmbed}}
	s := &Server{Engine: eng, Router: rt, Keys: keys, Log: log, MaxBodyBytes: 64 << 10,
		Extra: func(mux *http.ServeMux) {
			mux.HandleFunc("GET /test/panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
		}}
	if opt != nil {
		opt(s)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv
}

type shape int

const (
	openAIShape shape = iota
	anthropicShape
	geminiShape
)

// checkShape asserts body is an error in the given format's shape.
func checkShape(t *testing.T, name string, sh shape, body []byte) {
	t.Helper()
	switch sh {
	case openAIShape:
		if !gjson.GetBytes(body, "error.message").Exists() || !gjson.GetBytes(body, "error.type").Exists() {
			t.Errorf("%s: not an OpenAI error: %s", name, body)
		}
	case anthropicShape:
		if gjson.GetBytes(body, "type").Str != "error" || !gjson.GetBytes(body, "error.type").Exists() || !gjson.GetBytes(body, "error.message").Exists() {
			t.Errorf("%s: not an Anthropic error: %s", name, body)
		}
	case geminiShape:
		if !gjson.GetBytes(body, "error.code").Exists() || !gjson.GetBytes(body, "error.status").Exists() || !gjson.GetBytes(body, "error.message").Exists() {
			t.Errorf("%s: not a Gemini error: %s", name, body)
		}
	}
}

func do(t *testing.T, srv *httptest.Server, method, path string, hdr map[string]string, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, b
}

// Every failure is answered in the caller's own protocol shape, with the
// right status and the request id.
func TestErrorsInTheCallersShape(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	bearer := map[string]string{"Authorization": "Bearer " + goodKey}
	xkey := map[string]string{"X-Api-Key": goodKey}
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	_ = mw.WriteField("model", "m")
	_ = mw.Close()
	multi := map[string]string{"Authorization": "Bearer " + goodKey, "Content-Type": mw.FormDataContentType()}
	big := `{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("x", 70<<10) + `"}]}`
	chat := `{"model":"m","messages":[{"role":"user","content":"hi"}]}`
	for _, tc := range []struct {
		name, method, path string
		hdr                map[string]string
		body               string
		status             int
		shape              shape
	}{
		{"openai no key", "POST", "/v1/chat/completions", nil, chat, 401, openAIShape},
		{"openai bad key", "POST", "/chat/completions", map[string]string{"Authorization": "Bearer sk-nope"}, chat, 401, openAIShape},
		{"openai bad json", "POST", "/v1/chat/completions", bearer, `{"model":`, 400, openAIShape},
		{"openai too large", "POST", "/v1/chat/completions", bearer, big, 413, openAIShape},
		{"openai unknown model", "POST", "/v1/chat/completions", bearer, `{"model":"nope","messages":[]}`, 404, openAIShape},
		{"openai model not allowed", "POST", "/v1/chat/completions", map[string]string{"Authorization": "Bearer " + limitedKey}, `{"model":"other","messages":[]}`, 403, openAIShape},
		{"openai no messages", "POST", "/v1/chat/completions", bearer, `{"model":"m"}`, 400, openAIShape},
		{"openai multipart to a JSON endpoint", "POST", "/v1/chat/completions", multi, form.String(), 400, openAIShape},
		{"embeddings no input", "POST", "/v1/embeddings", bearer, `{"model":"m"}`, 400, openAIShape},
		{"models no key", "GET", "/v1/models", nil, "", 401, openAIShape},
		{"unknown path", "GET", "/v1/nothing-here", bearer, "", 404, openAIShape},
		{"anthropic no key", "POST", "/v1/messages", nil, chat, 401, anthropicShape},
		{"anthropic bad json", "POST", "/v1/messages", xkey, `{`, 400, anthropicShape},
		{"anthropic bad max_tokens", "POST", "/v1/messages", xkey, `{"model":"m","max_tokens":0,"messages":[]}`, 400, anthropicShape},
		{"anthropic unknown model", "POST", "/messages", xkey, `{"model":"nope","max_tokens":5,"messages":[]}`, 404, anthropicShape},
		{"anthropic count_tokens unknown model", "POST", "/v1/messages/count_tokens", xkey, `{"model":"nope","messages":[]}`, 404, anthropicShape},
		{"anthropic models no key", "GET", "/v1/models", map[string]string{"Anthropic-Version": "2023-06-01"}, "", 401, anthropicShape},
		{"gemini no key", "POST", "/v1beta/models/m:generateContent", nil, `{"contents":[{"parts":[{"text":"hi"}]}]}`, 401, geminiShape},
		{"gemini bad json", "POST", "/v1beta/models/m:generateContent?key=" + goodKey, nil, `{`, 400, geminiShape},
		{"gemini no contents", "POST", "/v1beta/models/m:streamGenerateContent?key=" + goodKey, nil, `{"contents":[]}`, 400, geminiShape},
		{"gemini unknown method", "POST", "/v1beta/models/m:teleport?key=" + goodKey, nil, `{}`, 404, geminiShape},
		{"gemini no method", "POST", "/v1beta/models/m?key=" + goodKey, nil, `{}`, 404, geminiShape},
		{"gemini unknown model", "POST", "/v1/models/nope:generateContent", map[string]string{"X-Goog-Api-Key": goodKey}, `{"contents":[{"parts":[{"text":"hi"}]}]}`, 404, geminiShape},
		{"gemini get unknown model", "GET", "/v1beta/models/nope?key=" + goodKey, nil, "", 404, geminiShape},
		{"gemini list no key", "GET", "/v1beta/models", nil, "", 401, geminiShape},
	} {
		resp, body := do(t, srv, tc.method, tc.path, tc.hdr, strings.NewReader(tc.body))
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d: %s", tc.name, resp.StatusCode, tc.status, body)
		}
		checkShape(t, tc.name, tc.shape, body)
		if id := resp.Header.Get("X-Request-Id"); id == "" || !strings.Contains(string(body), id) {
			t.Errorf("%s: request id %q not in the error body %s", tc.name, id, body)
		}
	}
}

// The same model is reachable in every format, with or without /v1.
func TestEveryFormatReachesTheEngine(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	for _, tc := range []struct {
		name, path string
		hdr        map[string]string
		body, want string
	}{
		{"openai", "/v1/chat/completions", map[string]string{"Authorization": "Bearer " + goodKey}, `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, "choices.0.message.content"},
		{"openai no /v1", "/chat/completions", map[string]string{"Authorization": "Bearer " + goodKey}, `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, "choices.0.message.content"},
		{"anthropic", "/v1/messages", map[string]string{"X-Api-Key": goodKey}, `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`, "content.0.text"},
		{"anthropic bearer", "/messages", map[string]string{"Authorization": "Bearer " + goodKey}, `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`, "content.0.text"},
		{"gemini", "/v1beta/models/m:generateContent", map[string]string{"X-Goog-Api-Key": goodKey}, `{"contents":[{"parts":[{"text":"hi"}]}]}`, "candidates.0.content.parts.0.text"},
		{"gemini v1", "/v1/models/m:generateContent?key=" + goodKey, nil, `{"contents":[{"parts":[{"text":"hi"}]}]}`, "candidates.0.content.parts.0.text"},
	} {
		resp, body := do(t, srv, "POST", tc.path, tc.hdr, strings.NewReader(tc.body))
		if resp.StatusCode != 200 || gjson.GetBytes(body, tc.want).Str != "hello" {
			t.Errorf("%s: %d %s", tc.name, resp.StatusCode, body)
		}
	}
	for _, tc := range []struct{ path, key, list string }{
		{"/v1/models", "Bearer " + goodKey, "data.#.id"},
		{"/models", "Bearer " + goodKey, "data.#.id"},
		{"/v1beta/models?key=" + goodKey, "", "models.#.name"},
	} {
		resp, body := do(t, srv, "GET", tc.path, map[string]string{"Authorization": tc.key}, nil)
		if resp.StatusCode != 200 || !strings.Contains(gjson.GetBytes(body, tc.list).Raw, "m") {
			t.Errorf("%s: %d %s", tc.path, resp.StatusCode, body)
		}
	}
}

func TestPanicsBecome500s(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	resp, body := do(t, srv, "GET", "/test/panic", nil, nil)
	if resp.StatusCode != 500 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	checkShape(t, "panic", openAIShape, body)
	if strings.Contains(string(body), "boom") {
		t.Errorf("a panic's value reached the client: %s", body)
	}
}
