package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/internal/config"
	"switchboard/internal/gateway"
	"switchboard/internal/task"
)

// taskNode is an in-process gateway on a given data directory, started
// and stopped by the test (a restart reuses the directory: same database,
// spool and node id).
type taskNode struct {
	app *app
	srv *httptest.Server
	// upstreamCalls counts the node's upstream requests by path.
	mu            sync.Mutex
	upstreamCalls map[string]int
	stopped       bool
}

type countingTransport struct {
	n    *taskNode
	next http.RoundTripper
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.mu.Lock()
	c.n.upstreamCalls[r.URL.Path]++
	c.n.mu.Unlock()
	return c.next.RoundTrip(r)
}

// startTaskNode starts a node; {{GATEWAY}} in text becomes the node's
// own URL (its listener is opened first).
func startTaskNode(t testing.TB, dir, text string) *taskNode {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	text = strings.ReplaceAll(text, "{{GATEWAY}}", "http://"+ln.Addr().String())
	if !strings.Contains(text, "storage:") {
		text += fmt.Sprintf("\nstorage:\n  database: sqlite://%s/sb.db\n", dir)
	}
	cfg, err := config.Parse("test.yaml", []byte(text), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("config: %v\n%s", err, text)
	}
	n := &taskNode{upstreamCalls: map[string]int{}}
	a, err := newApp(context.Background(), cfg, appOptions{DataDir: dir, Out: io.Discard, FetchAllowPrivate: true,
		Transport: countingTransport{n: n, next: newTransport()},
		Getenv: func(k string) (string, bool) {
			if k == "SWITCHBOARD_SECRET" {
				return "test-secret", true
			}
			return "", false
		}})
	if err != nil {
		t.Fatalf("start app: %v", err)
	}
	n.app = a
	n.srv = httptest.NewUnstartedServer(a.handler)
	n.srv.Listener.Close()
	n.srv.Listener = ln
	n.srv.Start()
	t.Cleanup(n.stop)
	return n
}

func (n *taskNode) stop() {
	n.mu.Lock()
	if n.stopped {
		n.mu.Unlock()
		return
	}
	n.stopped = true
	n.mu.Unlock()
	n.srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = n.app.Close(ctx)
}

func (n *taskNode) calls(path string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.upstreamCalls[path]
}

// do sends a JSON request with a key in the given header style and
// decodes the answer into out (when not nil).
func (n *taskNode) do(t testing.TB, method, path, key, body string, out any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, n.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		if k, ok := strings.CutPrefix(key, "mj:"); ok {
			req.Header.Set("mj-api-secret", k)
		} else {
			req.Header.Set("Authorization", "Bearer "+key)
		}
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s → %d: decode %q: %v", method, path, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode, b
}

func (n *taskNode) key(t testing.TB, secret string) gateway.Key {
	t.Helper()
	k, err := n.app.store.KeyByHash(context.Background(), hashOf(secret))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// ledgerFor lists the ledger records of a task's hold.
func (n *taskNode) ledgerFor(t testing.TB, taskID string) []gateway.UsageRecord {
	t.Helper()
	recs, err := n.app.store.ListUsage(context.Background(), gatewayLedgerAll)
	if err != nil {
		t.Fatal(err)
	}
	var out []gateway.UsageRecord
	for _, r := range recs {
		if r.RequestID == "task-"+taskID {
			out = append(out, r)
		}
	}
	return out
}

// hookReceiver records notifications and checks their signatures.
type hookReceiver struct {
	*httptest.Server
	secret string
	t      *testing.T
	mu     sync.Mutex
	bodies [][]byte
	bad    atomic.Int64
}

func newHookReceiver(t *testing.T, secret string) *hookReceiver {
	h := &hookReceiver{secret: secret, t: t}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		want := "v1," + task.Sign([]byte(h.secret), r.Header.Get("Webhook-Id"), r.Header.Get("Webhook-Timestamp"), b)
		if r.Header.Get("Webhook-Signature") != want {
			h.bad.Add(1)
		}
		h.mu.Lock()
		h.bodies = append(h.bodies, b)
		h.mu.Unlock()
	}))
	t.Cleanup(h.Close)
	return h
}

// count is how many notifications matched.
func (h *hookReceiver) count(match func(map[string]any) bool) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, b := range h.bodies {
		var m map[string]any
		if json.Unmarshal(b, &m) == nil && match(m) {
			n++
		}
	}
	return n
}
