package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"switchboard/internal/config"
	"switchboard/internal/gateway"
	"switchboard/internal/ledger"
	"switchboard/internal/secret"
	"switchboard/internal/sqlstore"
)

// TestMainRunAndClose starts the whole process (app, public listener,
// pprof, refresh and maintenance loops, ledger flusher), makes calls, and
// closes it: no goroutine of ours is left, and every call is in the
// ledger with the spool empty.
func TestMainRunAndClose(t *testing.T) {
	faultNoLeaks(t)
	dir := t.TempDir()
	cfg, err := config.Parse("test.yaml", []byte(fmt.Sprintf(`server: {addr: "127.0.0.1:0"}
storage: {database: "sqlite://%s/sb.db"}
channels:
  - {name: sim, type: simulator, models: [sim-1], settings: {latency: 0s, tokens_per_second: "100000"}}
keys:
  - {name: alice, key: %s}
`, dir, testKey)), nil)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SWITCHBOARD_SECRET": "test-secret", "SWITCHBOARD_PPROF_ADDR": "127.0.0.1:0"}
	m := NewMain(cfg, appOptions{DataDir: dir, Out: io.Discard, Getenv: func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}})
	if err := m.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			_ = m.Close()
		}
	}()
	if m.pprof == nil {
		t.Fatal("pprof did not start")
	}

	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	const calls = 6
	for i := range calls {
		body := fmt.Sprintf(`{"model":"sim-1","stream":%t,"messages":[{"role":"user","content":"hello %d"}]}`, i%2 == 1, i)
		req, _ := http.NewRequest(http.MethodPost, m.Addr()+"/v1/chat/completions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("call %d: %d %s", i, resp.StatusCode, b)
		}
	}
	client.CloseIdleConnections()

	if err := m.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	closed = true
	select {
	case <-m.Done():
	default:
		t.Fatal("the public server still runs after Close")
	}
	if err := m.Close(); err != nil {
		t.Fatalf("a second Close: %v", err)
	}

	// The ledger was drained into the database before the store closed.
	if files := ledger.SpoolFiles(filepath.Join(dir, "spool")); len(files) != 0 {
		t.Errorf("spool left after Close: %v", files)
	}
	box, err := secret.LoadOrCreate(filepath.Join(dir, "secret.key"), "test-secret")
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlstore.Open(context.Background(), cfg.Storage.Database, sqlstore.Options{Secret: box})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	recs, err := st.ListUsage(context.Background(), gateway.LedgerFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != calls {
		t.Fatalf("%d calls made, %d in the ledger after Close", calls, len(recs))
	}
}

// Run that fails half way (the port is taken) leaves nothing running.
func TestMainRunFailureClosesWhatItOpened(t *testing.T) {
	faultNoLeaks(t)
	first := startNode(t, "")
	dir := t.TempDir()
	addr := strings.TrimPrefix(first.srv.URL, "http://")
	cfg, err := config.Parse("test.yaml", []byte(fmt.Sprintf("server: {addr: %q}\nstorage: {database: \"sqlite://%s/sb.db\"}\n", addr, dir)), nil)
	if err != nil {
		t.Fatal(err)
	}
	m := NewMain(cfg, appOptions{DataDir: dir, Out: io.Discard})
	if err := m.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "listen on") {
		_ = m.Close()
		t.Fatalf("Run on a taken port: %v", err)
	}
}
