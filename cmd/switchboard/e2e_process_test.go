package main

// Process-level end-to-end tests: the real binary, started with exec, killed
// with real signals, talking to a fake upstream served by this test process.
// They prove what in-process tests cannot: that the spool survives SIGKILL,
// that SIGTERM drains, and (e2e_cluster_test.go) that two nodes share
// limits, budgets and changes through PostgreSQL and Redis.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/tidwall/gjson"

	"switchboard/internal/gateway"
	"switchboard/internal/gatewaytest"
	"switchboard/internal/secret"
	"switchboard/internal/sqlstore"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if e2eBinDir != "" {
		_ = os.RemoveAll(e2eBinDir)
	}
	os.Exit(code)
}

// e2eSecret is SWITCHBOARD_SECRET for every child process, so the test can
// open the same database with sqlstore afterwards.
const e2eSecret = "e2e-process-secret"

const e2eAdminToken = "sb-admin-e2e-0123456789abcdef"

var (
	e2eBuildOnce sync.Once
	e2eBinDir    string
	e2eBinPath   string
	e2eBuildErr  error
)

// e2eBinary builds the command once per test binary; tests that do
// not need it never pay for the build.
func e2eBinary(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping process end-to-end test in -short mode")
	}
	e2eBuildOnce.Do(func() {
		e2eBinDir, e2eBuildErr = os.MkdirTemp("", "switchboard-e2e-bin-")
		if e2eBuildErr != nil {
			return
		}
		e2eBinPath = filepath.Join(e2eBinDir, "switchboard")
		cmd := exec.Command("go", "build", "-o", e2eBinPath, ".")
		out, err := cmd.CombinedOutput()
		if err != nil {
			e2eBuildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if e2eBuildErr != nil {
		t.Fatalf("build switchboard: %v", e2eBuildErr)
	}
	return e2eBinPath
}

// e2eBuffer collects a child's output from two pipes.
type e2eBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *e2eBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *e2eBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// e2eProc is one running switchboard process.
type e2eProc struct {
	t    testing.TB
	name string
	dir  string // working directory (./data lives here for PostgreSQL)
	addr string // host:port it listens on
	cmd  *exec.Cmd
	out  *e2eBuffer

	done    chan struct{} // closed when the process has exited
	waitErr error
}

// URL is the node's base URL.
func (p *e2eProc) URL() string { return "http://" + p.addr }

// e2eFreePort picks a port below the ephemeral range (32768 and up on Linux),
// so it cannot collide with the source ports of outgoing connections. The
// probe listen only makes a collision unlikely; startE2EProc retries anyway.
func e2eFreePort(t testing.TB) int {
	t.Helper()
	for range 100 {
		n, err := rand.Int(rand.Reader, big.NewInt(32000-20000))
		if err != nil {
			t.Fatal(err)
		}
		port := 20000 + int(n.Int64())
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		_ = ln.Close()
		return port
	}
	t.Fatal("no free port found in 20000-32000")
	return 0
}

// startE2EProc writes cfg (with {{addr}} replaced by the listen address) to
// dir/NAME.yaml and starts `switchboard serve` in dir, waiting until
// /healthz answers. The process is killed at cleanup if still running.
func startE2EProc(t testing.TB, name, dir, cfg string) *e2eProc {
	t.Helper()
	bin := e2eBinary(t)
	var lastOut string
	for range 3 {
		addr := fmt.Sprintf("127.0.0.1:%d", e2eFreePort(t))
		cfgPath := filepath.Join(dir, name+".yaml")
		if err := os.WriteFile(cfgPath, []byte(strings.ReplaceAll(cfg, "{{addr}}", addr)), 0o600); err != nil {
			t.Fatal(err)
		}
		p := &e2eProc{t: t, name: name, dir: dir, addr: addr, out: &e2eBuffer{}, done: make(chan struct{})}
		p.cmd = exec.Command(bin, "serve", "--config", cfgPath)
		p.cmd.Dir = dir
		p.cmd.Env = append(os.Environ(), "SWITCHBOARD_SECRET="+e2eSecret)
		p.cmd.Stdout = p.out
		p.cmd.Stderr = p.out
		if err := p.cmd.Start(); err != nil {
			t.Fatalf("start %s: %v", name, err)
		}
		go func() {
			p.waitErr = p.cmd.Wait()
			close(p.done)
		}()
		t.Cleanup(func() {
			if p.running() {
				_ = p.cmd.Process.Kill()
				<-p.done
			}
			if t.Failed() {
				t.Logf("--- output of %s (%s) ---\n%s", p.name, p.addr, e2eTail(p.out.String(), 6000))
			}
		})
		if p.waitReady(20 * time.Second) {
			return p
		}
		lastOut = p.out.String()
		if p.running() {
			_ = p.cmd.Process.Kill()
			<-p.done
			t.Fatalf("%s did not become ready within 20s:\n%s", name, e2eTail(lastOut, 6000))
		}
		if !strings.Contains(lastOut, "address already in use") {
			break
		}
	}
	t.Fatalf("%s exited before becoming ready:\n%s", name, e2eTail(lastOut, 6000))
	return nil
}

func e2eTail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

func (p *e2eProc) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// waitReady polls /healthz until it answers 200 or the process exits.
func (p *e2eProc) waitReady(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	c := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		if !p.running() {
			return false
		}
		resp, err := c.Get(p.URL() + "/healthz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *e2eProc) kill() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		p.t.Fatalf("SIGKILL %s: %v", p.name, err)
	}
	<-p.done
}

// terminate sends SIGTERM and waits (at most timeout) for a clean exit.
func (p *e2eProc) terminate(timeout time.Duration) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatalf("SIGTERM %s: %v", p.name, err)
	}
	p.waitExit(timeout)
}

// waitExit waits for the process to exit and fails unless it exited 0.
func (p *e2eProc) waitExit(timeout time.Duration) {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.t.Fatalf("%s did not exit within %s after SIGTERM", p.name, timeout)
	}
	if p.waitErr != nil {
		p.t.Fatalf("%s exited with %v, want exit status 0", p.name, p.waitErr)
	}
}

// --- clients ---------------------------------------------------------------

// e2eClient is an HTTP client with enough connections for a burst. Its
// idle connections are closed at cleanup so no goroutine outlives the test.
func e2eClient(t testing.TB, conns int) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: conns, IdleConnTimeout: 30 * time.Second}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// e2eChatBody is a small chat request; maxTokens bounds the budget estimate.
func e2eChatBody(model string, stream bool, maxTokens int) string {
	s := fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"hello there"}],"max_tokens":%d`, model, maxTokens)
	if stream {
		s += `,"stream":true`
	}
	return s + "}"
}

// e2eResult is what a client saw of one call.
type e2eResult struct {
	status    int
	requestID string
	// acked: the client received the complete answer (the whole JSON body,
	// or a stream through data: [DONE]).
	acked bool
	err   error
}

// e2eChat sends one chat completion and reads the answer to the end.
func e2eChat(ctx context.Context, c *http.Client, base, key, body string) e2eResult {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		return e2eResult{err: err}
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return e2eResult{err: err}
	}
	defer resp.Body.Close()
	r := e2eResult{status: resp.StatusCode, requestID: resp.Header.Get("X-Request-Id")}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if sc.Text() == "data: [DONE]" {
				r.acked = resp.StatusCode == http.StatusOK
				break
			}
		}
		r.err = sc.Err()
		return r
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		r.err = err
		return r
	}
	r.acked = resp.StatusCode == http.StatusOK && gjson.GetBytes(b, "choices.0.message").Exists()
	if resp.StatusCode != http.StatusOK {
		r.err = fmt.Errorf("status %d: %s", resp.StatusCode, e2eTail(string(b), 300))
	}
	return r
}

// --- storage ---------------------------------------------------------------

// e2eOpenStore opens a node's database from the test, with the nodes' secret.
func e2eOpenStore(t testing.TB, dsn string) *sqlstore.Store {
	t.Helper()
	box, err := secret.LoadOrCreate("", e2eSecret)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := sqlstore.Open(ctx, dsn, sqlstore.Options{Secret: box})
	if err != nil {
		t.Fatalf("open %s: %v", dsn, err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// e2eLedger reads every usage record of a database.
func e2eLedger(t testing.TB, dsn string) []gateway.UsageRecord {
	t.Helper()
	st := e2eOpenStore(t, dsn)
	recs, err := st.ListUsage(context.Background(), gateway.LedgerFilter{})
	if err != nil {
		t.Fatal(err)
	}
	_ = st.Close()
	return recs
}

func e2eRequireIntegration() bool { return os.Getenv("SWITCHBOARD_REQUIRE_INTEGRATION") == "1" }

func e2eSkipOrFail(t testing.TB, what string, err error) {
	t.Helper()
	if e2eRequireIntegration() {
		t.Fatalf("%s is required (SWITCHBOARD_REQUIRE_INTEGRATION=1): %v", what, err)
	}
	t.Skipf("skipping: %s unreachable: %v", what, err)
}

func e2ePostgresAdminURL() string {
	if u := os.Getenv("SWITCHBOARD_TEST_POSTGRES"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// e2ePostgresDown holds the error of a failed PostgreSQL probe.
var e2ePostgresDown atomic.Value

// e2ePostgresDB creates a uniquely named database for one test, drops it at
// cleanup, and returns its DSN.
func e2ePostgresDB(t testing.TB) string {
	t.Helper()
	admin := e2ePostgresAdminURL()
	// One failed probe per test binary: an absent server skips fast.
	if err, ok := e2ePostgresDown.Load().(error); ok {
		e2eSkipOrFail(t, "PostgreSQL at "+admin, err)
	}
	db, err := sql.Open("pgx", admin)
	if err != nil {
		e2eSkipOrFail(t, "PostgreSQL at "+admin, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		e2ePostgresDown.Store(err)
		e2eSkipOrFail(t, "PostgreSQL at "+admin, err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "sb_e2e_" + hex.EncodeToString(b[:])
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		_ = db.Close()
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = db.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, name)
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// e2eRedisStorage returns the storage: block's Redis lines for the nodes of
// one test: the server's URL and a key prefix of the test's own
// (storage.redis_prefix), so tests never see each other's keys or anyone
// else's. Every key under the prefix is deleted before and after the test.
func e2eRedisStorage(t testing.TB) string {
	t.Helper()
	base := os.Getenv("SWITCHBOARD_TEST_REDIS")
	if base == "" {
		base = "redis://127.0.0.1:6379/0"
	}
	opt, err := redis.ParseURL(base)
	if err != nil {
		t.Fatalf("SWITCHBOARD_TEST_REDIS: %v", err)
	}
	opt.DialerRetries = 1
	opt.MaxRetries = -1
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	prefix := "sbtest-" + hex.EncodeToString(rnd[:]) + ":"
	rdb := redis.NewClient(opt)
	clear := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		iter := rdb.Scan(ctx, 0, prefix+"*", 500).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			return err
		}
		if len(keys) > 0 {
			return rdb.Del(ctx, keys...).Err()
		}
		return nil
	}
	if err := clear(); err != nil {
		_ = rdb.Close()
		e2eSkipOrFail(t, "Redis at "+opt.Addr, err)
	}
	t.Cleanup(func() {
		if err := clear(); err != nil {
			t.Errorf("clear redis: %v", err)
		}
		_ = rdb.Close()
	})
	return "  redis: " + base + "\n  redis_prefix: \"" + prefix + "\""
}

// --- configs ---------------------------------------------------------------

const e2eLoadKey = "sk-e2e-load-0123456789abcdef"

// e2eNodeConfig is a one-channel config for process tests. keysYAML is the
// keys: block's items; storage is the storage: block's items.
func e2eNodeConfig(upstream, storage, keysYAML string) string {
	return `server:
  addr: {{addr}}
  shutdown_timeout: 20s
storage:
` + storage + `
admin:
  token: ` + e2eAdminToken + `
log:
  level: warn
channels:
  - name: oa
    type: openai
    base_url: ` + upstream + `
    api_keys: [sk-upstream-e2e]
    models: [gpt-4o-mini]
keys:
` + keysYAML
}

// --- kill test -------------------------------------------------------------

// TestKillLosesNoAcknowledgedUsage SIGKILLs a node under mixed streaming
// and non-streaming load and restarts it: every call the client saw
// complete must be in the ledger exactly once.
func TestKillLosesNoAcknowledgedUsage(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			if testing.Short() {
				t.Skip("skipping process end-to-end test in -short mode")
			}
			dir := t.TempDir()
			var dsn string
			if engine == "sqlite" {
				dsn = "sqlite://" + filepath.Join(dir, "sb.db")
			} else {
				dsn = e2ePostgresDB(t)
			}
			e2eBinary(t)
			up := gatewaytest.NewUpstream(t, gatewaytest.OpenAIChat{
				Text: "one two three four five six seven eight", PromptTokens: 12, CompletionTokens: 8,
				ChunkDelay: 3 * time.Millisecond,
			}.Handler())
			cfg := e2eNodeConfig(up.URL, "  database: "+dsn, `  - name: load
    key: `+e2eLoadKey+`
    models: ["*"]
`)
			p := startE2EProc(t, "node", dir, cfg)

			var (
				mu     sync.Mutex
				acked  []string
				others int
			)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			client := e2eClient(t, 16)
			var wg sync.WaitGroup
			for i := range 8 {
				wg.Go(func() {
					for n := 0; ctx.Err() == nil; n++ {
						r := e2eChat(ctx, client, p.URL(), e2eLoadKey, e2eChatBody("gpt-4o-mini", (i+n)%2 == 0, 50))
						mu.Lock()
						if r.acked {
							acked = append(acked, r.requestID)
						} else {
							others++
						}
						mu.Unlock()
					}
				})
			}
			time.Sleep(1500 * time.Millisecond)
			p.kill()
			cancel()
			wg.Wait()
			if len(acked) < 20 {
				t.Fatalf("only %d calls completed before the kill; the load did not run", len(acked))
			}
			t.Logf("%d calls acknowledged, %d cut or failed by the kill", len(acked), others)

			// The spool lives in the data dir: beside the SQLite file, or
			// ./data under the working directory for PostgreSQL.
			spoolDir := filepath.Join(dir, "spool")
			if engine == "postgres" {
				spoolDir = filepath.Join(dir, "data", "spool")
			}
			if _, err := os.Stat(spoolDir); err != nil {
				t.Fatalf("spool dir: %v", err)
			}

			// How many acknowledged calls only the spool still held: the
			// part of the proof that depends on replay (timing decides it).
			inDB := map[string]bool{}
			for _, r := range e2eLedger(t, dsn) {
				inDB[r.RequestID] = true
			}
			onlySpooled := 0
			for _, id := range acked {
				if !inDB[id] {
					onlySpooled++
				}
			}
			t.Logf("%d acknowledged calls were only in the spool at the kill", onlySpooled)

			p2 := startE2EProc(t, "node-restarted", dir, cfg)
			// The spool is replayed before the node listens, so the admin
			// API already lists every acknowledged call.
			body := e2eAdmin(t, p2, http.MethodGet, "/admin/api/usage?limit=10000", "", http.StatusOK)
			listed := map[string]bool{}
			gjson.GetBytes(body, "data.#.request_id").ForEach(func(_, v gjson.Result) bool {
				listed[v.String()] = true
				return true
			})
			notListed := 0
			for _, id := range acked {
				if !listed[id] {
					notListed++
				}
			}
			if notListed > 0 {
				t.Errorf("after restart the usage API lacks %d of %d acknowledged calls", notListed, len(acked))
			}
			p2.terminate(30 * time.Second)

			seen := map[string]int{}
			byID := map[string]gateway.UsageRecord{}
			for _, r := range e2eLedger(t, dsn) {
				seen[r.RequestID]++
				byID[r.RequestID] = r
			}
			missing := 0
			for _, id := range acked {
				switch n := seen[id]; {
				case n == 0:
					missing++
					if missing <= 5 {
						t.Errorf("acknowledged request %s is not in the ledger", id)
					}
				case n > 1:
					t.Errorf("request %s is in the ledger %d times", id, n)
				default:
					if r := byID[id]; r.Status != http.StatusOK || r.CostNanoUSD <= 0 {
						t.Errorf("request %s: ledger status %d cost %d, want 200 and a cost", id, r.Status, r.CostNanoUSD)
					}
				}
			}
			if missing > 0 {
				t.Fatalf("%d of %d acknowledged calls missing from the ledger", missing, len(acked))
			}
			if left := len(e2eSpoolFiles(t, spoolDir)); left != 0 {
				t.Errorf("%d spool segments left after a clean stop", left)
			}
		})
	}
}

func e2eSpoolFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "spool-*.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// --- SIGTERM drain ---------------------------------------------------------

// TestSIGTERMDrainsInFlightStream sends SIGTERM in the middle of a slow
// stream: the client still gets the whole answer, new connections are
// refused, the process exits 0 and the call is in the ledger.
func TestSIGTERMDrainsInFlightStream(t *testing.T) {
	e2eBinary(t)
	dir := t.TempDir()
	dsn := "sqlite://" + filepath.Join(dir, "sb.db")
	words := make([]string, 20)
	for i := range words {
		words[i] = fmt.Sprintf("w%d", i)
	}
	up := gatewaytest.NewUpstream(t, gatewaytest.OpenAIChat{
		Text: strings.Join(words, " "), PromptTokens: 9, CompletionTokens: 20, ChunkDelay: 100 * time.Millisecond,
	}.Handler())
	p := startE2EProc(t, "node", dir, e2eNodeConfig(up.URL, "  database: "+dsn, `  - name: load
    key: `+e2eLoadKey+`
    models: ["*"]
`))

	req, err := http.NewRequest(http.MethodPost, p.URL()+"/v1/chat/completions", strings.NewReader(e2eChatBody("gpt-4o-mini", true, 50)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e2eLoadKey)
	resp, err := e2eClient(t, 1).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	id := resp.Header.Get("X-Request-Id")
	sc := bufio.NewScanner(resp.Body)
	var text strings.Builder
	done, signalled := false, false
	refused := make(chan error, 1)
	for sc.Scan() {
		line := sc.Text()
		if line == "data: [DONE]" {
			done = true
			break
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		text.WriteString(gjson.Get(data, "choices.0.delta.content").String())
		if !signalled && strings.Contains(text.String(), "w2") {
			// Three chunks in, about 1.7 s of stream to go.
			if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			signalled = true
			go func() { refused <- e2eRefusesNewConnections(p.addr) }()
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("stream broken after SIGTERM: %v (got %q)", err, text.String())
	}
	if !signalled || !done {
		t.Fatalf("stream ended early: signalled=%v done=%v text=%q", signalled, done, text.String())
	}
	if got, want := text.String(), strings.Join(words, " "); got != want {
		t.Errorf("client got %q, want %q", got, want)
	}
	p.waitExit(30 * time.Second)
	if err := <-refused; err != nil {
		t.Error(err)
	}

	var found *gateway.UsageRecord
	for _, r := range e2eLedger(t, dsn) {
		if r.RequestID == id {
			found = &r
		}
	}
	if found == nil {
		t.Fatalf("drained stream %s is not in the ledger", id)
	}
	if found.Status != http.StatusOK || found.Usage.OutputTokens != 20 || found.CostNanoUSD <= 0 {
		t.Errorf("ledger record: status %d output tokens %d cost %d", found.Status, found.Usage.OutputTokens, found.CostNanoUSD)
	}
}

// e2eRefusesNewConnections reports an error unless, shortly after SIGTERM,
// the listener is closed (while the in-flight stream goes on).
func e2eRefusesNewConnections(addr string) error {
	deadline := time.Now().Add(time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return nil
		}
		_ = c.Close()
		if time.Now().After(deadline) {
			return errors.New("listener still accepting connections 1s after SIGTERM")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSIGTERMUnderLoadFlushesEverything stops a node with SIGTERM while
// eight clients keep calling it: no answer that had started is cut, the
// process exits 0, and every acknowledged call is in the database without
// any replay (the spool is empty).
func TestSIGTERMUnderLoadFlushesEverything(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping process end-to-end test in -short mode")
	}
	e2eBinary(t)
	dir := t.TempDir()
	dsn := "sqlite://" + filepath.Join(dir, "sb.db")
	up := gatewaytest.NewUpstream(t, gatewaytest.OpenAIChat{
		Text: "one two three four five six seven eight nine ten", PromptTokens: 12, CompletionTokens: 10,
		ChunkDelay: 10 * time.Millisecond,
	}.Handler())
	p := startE2EProc(t, "node", dir, e2eNodeConfig(up.URL, "  database: "+dsn, `  - name: load
    key: `+e2eLoadKey+`
    models: ["*"]
`))
	var (
		mu    sync.Mutex
		acked []string
		cut   []string
	)
	client := e2eClient(t, 16)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for n := 0; p.running(); n++ {
				r := e2eChat(context.Background(), client, p.URL(), e2eLoadKey, e2eChatBody("gpt-4o-mini", (i+n)%2 == 0, 50))
				mu.Lock()
				switch {
				case r.acked:
					acked = append(acked, r.requestID)
				case r.status != 0:
					// The node answered but did not finish: SIGTERM must
					// let started answers complete.
					cut = append(cut, fmt.Sprintf("%s (status %d: %v)", r.requestID, r.status, r.err))
				}
				mu.Unlock()
				if r.status == 0 {
					time.Sleep(5 * time.Millisecond) // refused: the node is going away
				}
			}
		})
	}
	time.Sleep(time.Second)
	p.terminate(30 * time.Second)
	wg.Wait()
	if len(acked) < 20 {
		t.Fatalf("only %d calls completed; the load did not run", len(acked))
	}
	for _, c := range cut {
		t.Errorf("answer cut by SIGTERM: %s", c)
	}
	if left := e2eSpoolFiles(t, filepath.Join(dir, "spool")); len(left) != 0 {
		t.Errorf("spool not drained on SIGTERM: %v", left)
	}
	seen := map[string]int{}
	for _, r := range e2eLedger(t, dsn) {
		seen[r.RequestID]++
	}
	missing := 0
	for _, id := range acked {
		if seen[id] != 1 {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d acknowledged calls not in the ledger exactly once after SIGTERM", missing, len(acked))
	}
	t.Logf("%d calls acknowledged and stored by the drain", len(acked))
}
