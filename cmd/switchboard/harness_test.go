package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"switchboard/internal/config"
	"switchboard/internal/gateway"
	"switchboard/internal/httpapi"
)

// node is a gateway started in-process for end-to-end tests.
type node struct {
	t   testing.TB
	app *app
	srv *httptest.Server
	out bytes.Buffer
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
		return "", false
	}})
	if err != nil {
		t.Fatalf("start app: %v", err)
	}
	n.app = a
	n.srv = httptest.NewServer(a.handler)
	t.Cleanup(func() {
		n.srv.Close()
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
