package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"switchboard/internal/config"
	"switchboard/internal/gateway"
	"switchboard/internal/gatewaytest"
	"switchboard/internal/httpapi"
)

// node is a gateway started in-process for end-to-end tests.
type node struct {
	t   testing.TB
	app *app
	srv *httptest.Server
	out bytes.Buffer

	// Every chat answer, stream event and error the node writes is checked
	// against the provider's published schema (internal/gatewaytest); the
	// violations are reported when the test ends.
	schemaMu   sync.Mutex
	violations []string
	schemaSkip string // why this node's answers are not checked
}

const (
	testKey       = "sk-test-alice-0123456789"
	testKeyLimit  = "sk-test-bob-0123456789ab"
	testKeyBudget = "sk-test-carol-0123456789"
)

// startNode parses yamlCfg (after fmt.Sprintf-ing args into it), starts a
// gateway on a temp SQLite database and serves it with httptest.
func startNode(t testing.TB, yamlCfg string, args ...any) *node {
	t.Helper()
	return startNodeEnv(t, nil, yamlCfg, args...)
}

// startNodeEnv is startNode with environment variables the node sees
// (besides SWITCHBOARD_SECRET).
func startNodeEnv(t testing.TB, env map[string]string, yamlCfg string, args ...any) *node {
	t.Helper()
	dir := t.TempDir()
	text := fmt.Sprintf(yamlCfg, args...)
	if !strings.Contains(text, "storage:") {
		text += fmt.Sprintf("\nstorage:\n  database: sqlite://%s/sb.db\n", dir)
	}
	cfg, err := config.Parse("test.yaml", []byte(text), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("config: %v\n%s", err, text)
	}
	n := &node{t: t}
	// Fake upstreams and image servers live on loopback, which the media
	// fetcher refuses by default (its own tests cover the refusals).
	a, err := newApp(context.Background(), cfg, appOptions{DataDir: dir, Out: &n.out, FetchAllowPrivate: true, Getenv: func(k string) (string, bool) {
		if k == "SWITCHBOARD_SECRET" {
			return "test-secret", true
		}
		v, ok := env[k]
		return v, ok
	}})
	if err != nil {
		t.Fatalf("start app: %v", err)
	}
	n.app = a
	n.srv = httptest.NewServer(n.checkSchemas(a.handler))
	t.Cleanup(func() {
		n.srv.Close() // waits for every handler, so all answers are checked
		n.schemaMu.Lock()
		for _, v := range n.violations {
			t.Errorf("gateway answer violates the published schema: %s", v)
		}
		n.schemaMu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Close(ctx); err != nil {
			t.Errorf("close app: %v", err)
		}
	})
	return n
}

// client returns an official OpenAI SDK client for the node.
func (n *node) client(key string, base string) openai.Client {
	return openai.NewClient(
		option.WithBaseURL(n.srv.URL+base),
		option.WithAPIKey(key),
		option.WithMaxRetries(0),
	)
}

// usage waits for the ledger record of a request and returns it.
func (n *node) usage(t testing.TB, match func(gateway.UsageRecord) bool) gateway.UsageRecord {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		recs, err := n.app.store.ListUsage(context.Background(), gateway.LedgerFilter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if match(r) {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no matching ledger record among %d", len(recs))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (n *node) post(t testing.TB, path, key, body string, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, n.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func hashOf(secret string) string { return httpapi.HashKey(secret) }

// gatewayLedgerAll lists a test node's whole ledger.
var gatewayLedgerAll = gateway.LedgerFilter{Limit: 100000}

// checkSchemas tees each response of next and validates it once the
// handler returns (gatewaytest.CheckGatewayResponse picks the schema from
// the path, the status and the content type).
func (n *node) checkSchemas(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.schemaMu.Lock()
		skip := n.schemaSkip != ""
		n.schemaMu.Unlock()
		if skip {
			next.ServeHTTP(w, r)
			return
		}
		tw := &teeWriter{ResponseWriter: w}
		next.ServeHTTP(tw, r)
		status := tw.status
		if status == 0 {
			status = http.StatusOK
		}
		if err := gatewaytest.CheckGatewayResponse(r.URL.Path, status, w.Header().Get("Content-Type"), tw.body.Bytes()); err != nil {
			n.schemaMu.Lock()
			n.violations = append(n.violations, fmt.Sprintf("%s %s → %d: %v", r.Method, r.URL.RequestURI(), status, err))
			n.schemaMu.Unlock()
		}
	})
}

// skipSchemaCheck turns the check off for a node whose answers are
// deliberately not schema-valid (a broken upstream relayed byte for byte
// on the pass-through path) or too big to tee (memory tests).
func (n *node) skipSchemaCheck(reason string) {
	n.schemaMu.Lock()
	n.schemaSkip = reason
	n.schemaMu.Unlock()
}

// teeWriter copies what a handler writes; it keeps flushing working
// (http.ResponseController finds the real writer through Unwrap).
type teeWriter struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (w *teeWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *teeWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.body.Write(b)
	return w.ResponseWriter.Write(b)
}

func (w *teeWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

func (w *teeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// The schema check every node runs must actually flag a bad answer, or a
// green suite proves nothing.
func TestSchemaCheckIsLive(t *testing.T) {
	n := &node{t: t}
	h := n.checkSchemas(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"c","object":"chat.completion","created":0,"model":"m","system_fingerprint":null,"choices":[]}`))
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/v1/chat/completions", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	srv.Close()
	if len(n.violations) != 1 || !strings.Contains(n.violations[0], "system_fingerprint") {
		t.Errorf("violations %q, want one naming system_fingerprint", n.violations)
	}
}
