package admin

import (
	"context"
	"encoding/json"
	"iter"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/internal/gateway"
	"switchboard/internal/llm"
	"switchboard/internal/pricing"
	"switchboard/internal/relay"
	"switchboard/internal/secret"
)

const viewerToken = "viewer-token-for-tests-0123456789"

// fakeEngine answers hub calls with a fixed text, or fails, and records
// what it was asked.
type fakeEngine struct {
	mu    sync.Mutex
	calls []relay.HubCall
	fail  error
}

func (e *fakeEngine) Generate(_ context.Context, hc relay.HubCall) iter.Seq2[llm.Event, error] {
	e.mu.Lock()
	e.calls = append(e.calls, hc)
	fail := e.fail
	e.mu.Unlock()
	return func(yield func(llm.Event, error) bool) {
		if fail != nil {
			yield(llm.Event{}, fail)
			return
		}
		for _, w := range []string{"o", "k"} {
			if !yield(llm.Event{Type: llm.EventTextDelta, Text: w}, nil) {
				return
			}
		}
		yield(llm.Event{Type: llm.EventStop, StopReason: llm.StopEnd}, nil)
	}
}

type consoleHarness struct {
	*harness
	srv    *httptest.Server
	engine *fakeEngine
}

func newConsoleHarness(t *testing.T) *consoleHarness {
	t.Helper()
	h := newHarness(t)
	box, err := secret.New(make([]byte, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	api := New(Deps{Store: h.store, Health: h.health, AdminTokenHash: hashHex(adminToken), HashKey: hashHex,
		Now: func() time.Time { h.mu.Lock(); defer h.mu.Unlock(); return h.now }})
	eng := &fakeEngine{}
	c, err := NewConsole(api, ConsoleDeps{Sealer: box, ViewerTokenHashes: []string{hashHex(viewerToken)}, SessionTTL: time.Hour,
		Engine: eng, Models: func() []string { return []string{"gpt-4o"} }, Prices: pricing.Builtin()})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	c.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	ctx := context.Background()
	if _, err := h.store.UpsertChannel(ctx, gateway.Channel{Name: "main", Type: gateway.ChannelOpenAI, BaseURL: "https://api.openai.com",
		APIKeys: []string{"sk-upstream-1"}, Models: []string{"gpt-4o"}, Weight: 1, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.store.CreateKey(ctx, gateway.Key{Name: "alice", Hash: hashHex("sk-alice-0123456789"), Prefix: "sk-a", Models: []string{"*"}, Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if err := h.store.InsertUsage(ctx, []gateway.UsageRecord{{RequestID: "req-1", Time: h.now.Add(-time.Minute), KeyID: 1, KeyName: "alice",
		Model: "gpt-4o", ChannelID: 1, ChannelName: "main", Status: 200, Latency: 900 * time.Millisecond, TTFT: 200 * time.Millisecond,
		Usage: llm.Usage{InputTokens: 12, OutputTokens: 34}, PriceNanoUSD: 5000, CostNanoUSD: 4000, UsageSource: gateway.UsageFromUpstream, Attempts: 2,
		Tried: []string{"backup: 429 rate limited"}}}); err != nil {
		t.Fatal(err)
	}
	return &consoleHarness{harness: h, srv: srv, engine: eng}
}

// client is a browser without JavaScript: a cookie jar, no redirects
// followed automatically so tests see them.
type client struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func (h *consoleHarness) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: h.t, base: h.srv.URL, hc: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

type page struct {
	status int
	body   string
	header http.Header
}

func (c *client) do(method, path string, form url.Values, header ...string) page {
	c.t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := res.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return page{status: res.StatusCode, body: b.String(), header: res.Header}
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := csrfRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf token in page:\n%s", body)
	}
	return m[1]
}

func (c *client) login(token string) page {
	c.t.Helper()
	p := c.do("GET", "/console/login", nil)
	return c.do("POST", "/console/login", url.Values{"csrf": {csrfOf(c.t, p.body)}, "token": {token}, "next": {"/console/keys"}})
}

func (c *client) post(path string, form url.Values) page {
	c.t.Helper()
	p := c.do("GET", "/console/channels", nil)
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", csrfOf(c.t, p.body))
	return c.do("POST", path, form)
}

func TestConsoleSignIn(t *testing.T) {
	h := newConsoleHarness(t)
	c := h.client()
	if p := c.do("GET", "/console/usage?model=x", nil); p.status != http.StatusSeeOther || !strings.Contains(p.header.Get("Location"), "/console/login?next=") {
		t.Fatalf("signed out: %d %s", p.status, p.header.Get("Location"))
	}
	if p := c.login("wrong-token-0123456789"); p.status != http.StatusUnauthorized || !strings.Contains(p.body, "not valid") {
		t.Fatalf("bad token: %d", p.status)
	}
	p := c.login(adminToken)
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/console/keys" {
		t.Fatalf("sign in: %d %q", p.status, p.header.Get("Location"))
	}
	var ck *http.Cookie
	for _, x := range (&http.Response{Header: p.header}).Cookies() {
		if x.Name == sessionCookie && x.Value != "" {
			ck = x
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure || ck.MaxAge != 3600 {
		t.Fatalf("session cookie %+v", ck)
	}
	for _, path := range []string{"/console/", "/console/channels", "/console/channels/1", "/console/keys", "/console/usage",
		"/console/usage/req-1", "/console/prices", "/console/tasks", "/console/playground"} {
		if p := c.do("GET", path, nil); p.status != http.StatusOK || !strings.Contains(p.body, "</html>") {
			t.Fatalf("GET %s: %d\n%s", path, p.status, p.body)
		}
	}
	// Logout ends the session even for a copy of its cookie.
	stolen := c.hc.Jar.Cookies(mustURL(t, h.srv.URL+"/console/"))
	if p := c.post("/console/logout", nil); p.status != http.StatusSeeOther {
		t.Fatalf("logout: %d", p.status)
	}
	if p := c.do("GET", "/console/", nil); p.status != http.StatusSeeOther {
		t.Fatalf("after logout: %d", p.status)
	}
	replay := h.client()
	replay.hc.Jar.SetCookies(mustURL(t, h.srv.URL+"/console/"), stolen)
	if p := replay.do("GET", "/console/", nil); p.status != http.StatusSeeOther {
		t.Fatalf("revoked cookie replayed: %d", p.status)
	}
	// Sessions expire.
	c2 := h.client()
	c2.login(adminToken)
	h.mu.Lock()
	h.now = h.now.Add(61 * time.Minute)
	h.mu.Unlock()
	if p := c2.do("GET", "/console/", nil); p.status != http.StatusSeeOther {
		t.Fatalf("expired session: %d", p.status)
	}
	// Behind TLS the cookie is Secure.
	c3 := h.client()
	lp := c3.do("GET", "/console/login", nil, "X-Forwarded-Proto", "https")
	p = c3.do("POST", "/console/login", url.Values{"csrf": {csrfOf(t, lp.body)}, "token": {adminToken}}, "X-Forwarded-Proto", "https")
	if cs := (&http.Response{Header: p.header}).Cookies(); len(cs) == 0 || !cs[0].Secure {
		t.Fatalf("cookies behind TLS: %+v", cs)
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestConsoleRefusals(t *testing.T) {
	h := newConsoleHarness(t)
	cases := []struct {
		name string
		run  func(c *client) page
		want int
		text string
	}{
		{"login without its form token", func(c *client) page {
			return c.do("POST", "/console/login", url.Values{"token": {adminToken}})
		}, http.StatusForbidden, "expired"},
		{"post without csrf", func(c *client) page {
			c.login(adminToken)
			return c.do("POST", "/console/channels/1/disable", url.Values{})
		}, http.StatusForbidden, "security token"},
		{"post with another session's csrf", func(c *client) page {
			other := h.client()
			other.login(adminToken)
			tok := csrfOf(h.t, other.do("GET", "/console/keys", nil).body)
			c.login(adminToken)
			return c.do("POST", "/console/channels/1/disable", url.Values{"csrf": {tok}})
		}, http.StatusForbidden, "security token"},
		{"viewer writes", func(c *client) page {
			c.login(viewerToken)
			return c.post("/console/channels/1/disable", nil)
		}, http.StatusForbidden, "read-only"},
		{"post signed out", func(c *client) page {
			return c.do("POST", "/console/keys", url.Values{"name": {"x"}})
		}, http.StatusUnauthorized, "sign in"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.run(h.client())
			if p.status != tc.want || !strings.Contains(p.body, tc.text) {
				t.Fatalf("%d, want %d with %q:\n%s", p.status, tc.want, tc.text, p.body)
			}
		})
	}
	if ch, _ := h.store.ChannelByID(context.Background(), 1); !ch.Enabled {
		t.Fatal("a refused post disabled the channel")
	}
	// A viewer reads.
	v := h.client()
	v.login(viewerToken)
	if p := v.do("GET", "/console/channels", nil); p.status != http.StatusOK || !strings.Contains(p.body, "read-only") || strings.Contains(p.body, `class="disable"`) {
		t.Fatalf("viewer channels page: %d", p.status)
	}
}

func TestConsoleLoginRateLimited(t *testing.T) {
	h := newConsoleHarness(t)
	c := h.client()
	for range maxLoginFailures {
		if p := c.login("wrong-token-0123456789"); p.status != http.StatusUnauthorized {
			t.Fatalf("failure: %d", p.status)
		}
	}
	if p := c.login(adminToken); p.status != http.StatusTooManyRequests {
		t.Fatalf("after %d failures the right token got %d, want 429", maxLoginFailures, p.status)
	}
	h.mu.Lock()
	h.now = h.now.Add(loginWindow + time.Second)
	h.mu.Unlock()
	if p := c.login(adminToken); p.status != http.StatusSeeOther {
		t.Fatalf("after the window: %d", p.status)
	}
}

func TestConsoleForms(t *testing.T) {
	h := newConsoleHarness(t)
	ctx := context.Background()
	c := h.client()
	c.login(adminToken)

	// Create a key: its secret is shown once and works.
	p := c.post("/console/keys", url.Values{"name": {"bob"}, "models": {"gpt-4o, claude-*"}, "budget_usd": {"2.5"}, "budget_period": {"monthly"}, "rpm": {"60"}})
	secretRe := regexp.MustCompile(`<code id="secret">([^<]+)</code>`)
	m := secretRe.FindStringSubmatch(p.body)
	if p.status != http.StatusCreated || m == nil {
		t.Fatalf("create key: %d\n%s", p.status, p.body)
	}
	bob, err := h.store.KeyByHash(ctx, hashHex(m[1]))
	if err != nil || bob.Name != "bob" || bob.BudgetNanoUSD != 2_500_000_000 || bob.RPM != 60 || len(bob.Models) != 2 {
		t.Fatalf("created key %+v, %v", bob, err)
	}
	if p := c.do("GET", "/console/keys", nil); strings.Contains(p.body, m[1]) {
		t.Fatal("the secret is shown again")
	}
	// The admin API's validation applies.
	if p := c.post("/console/keys", url.Values{"name": {"bad name!"}}); p.status != http.StatusBadRequest || !strings.Contains(p.body, "name") {
		t.Fatalf("bad key name: %d", p.status)
	}
	// Rotate: the old secret stops working.
	p = c.post("/console/keys/2/rotate", nil)
	m2 := secretRe.FindStringSubmatch(p.body)
	if m2 == nil || m2[1] == m[1] {
		t.Fatalf("rotate: %d", p.status)
	}
	if _, err := h.store.KeyByHash(ctx, hashHex(m[1])); err == nil {
		t.Fatal("old secret still works after rotation")
	}
	if k, err := h.store.KeyByHash(ctx, hashHex(m2[1])); err != nil || k.ID != 2 || k.BudgetNanoUSD != bob.BudgetNanoUSD {
		t.Fatalf("rotated key %+v, %v", k, err)
	}
	// Limits and disable.
	if p := c.post("/console/keys/2", url.Values{"models": {"*"}, "budget_usd": {"0"}, "tpm": {"1000"}}); p.status != http.StatusSeeOther {
		t.Fatalf("save limits: %d\n%s", p.status, p.body)
	}
	if p := c.post("/console/keys/2/disable", nil); p.status != http.StatusSeeOther {
		t.Fatalf("disable key: %d", p.status)
	}
	if k, _ := h.store.KeyByID(ctx, 2); k.Enabled || k.TPM != 1000 || k.BudgetNanoUSD != 0 {
		t.Fatalf("key after edits %+v", k)
	}

	// Channels: disable, edit with the API's validation, test.
	if p := c.post("/console/channels/1/disable", nil); p.status != http.StatusSeeOther {
		t.Fatalf("disable channel: %d", p.status)
	}
	if ch, _ := h.store.ChannelByID(ctx, 1); ch.Enabled {
		t.Fatal("channel still enabled")
	}
	form := url.Values{"name": {"main"}, "type": {"openai"}, "base_url": {"https://api.openai.com"}, "models": {"gpt-4o\ngpt-4o-mini"},
		"model_map": {"gpt-4o=gpt-4o-2024-11-20"}, "priority": {"5"}, "weight": {"-1"}, "timeout": {"30s"}, "enabled": {"on"}}
	if p := c.post("/console/channels/1", form); p.status != http.StatusBadRequest || !strings.Contains(p.body, "weight") {
		t.Fatalf("negative weight: %d\n%s", p.status, p.body)
	}
	form.Set("weight", "3")
	if p := c.post("/console/channels/1", form); p.status != http.StatusSeeOther {
		t.Fatalf("save channel: %d\n%s", p.status, p.body)
	}
	ch, _ := h.store.ChannelByID(ctx, 1)
	if !ch.Enabled || ch.Weight != 3 || ch.ModelMap["gpt-4o"] != "gpt-4o-2024-11-20" || len(ch.Models) != 2 || ch.Timeout != 30*time.Second ||
		len(ch.APIKeys) != 1 || ch.APIKeys[0] != "sk-upstream-1" {
		t.Fatalf("saved channel %+v", ch)
	}
	p = c.post("/console/channels/1/test", nil)
	if p.status != http.StatusOK || !strings.Contains(p.body, `<blockquote id="test-answer">ok</blockquote>`) {
		t.Fatalf("test channel: %d\n%s", p.status, p.body)
	}
	if hc := h.engine.calls[len(h.engine.calls)-1]; hc.ChannelID != 1 || hc.Request.Model != "gpt-4o" {
		t.Fatalf("test call %+v", hc)
	}
	h.engine.fail = gateway.Errorf(gateway.KindUpstream, "upstream said no")
	if p := c.post("/console/channels/1/test", nil); !strings.Contains(p.body, "upstream said no") {
		t.Fatalf("failed test: %s", p.body)
	}
	h.engine.fail = nil

	// Playground, without script and streamed, billed to the chosen key.
	if p := c.post("/console/playground", url.Values{"model": {"gpt-4o"}, "key_id": {"1"}, "prompt": {"hi"}}); !strings.Contains(p.body, `<pre id="pg-answer" aria-live="polite">ok</pre>`) {
		t.Fatalf("playground: %d\n%s", p.status, p.body)
	}
	if p := c.post("/console/playground/stream", url.Values{"model": {"gpt-4o"}, "key_id": {"1"}, "prompt": {"hi"}}); p.body != "ok" {
		t.Fatalf("playground stream: %q", p.body)
	}
	if hc := h.engine.calls[len(h.engine.calls)-1]; hc.Key.Name != "alice" || hc.Endpoint != "console.playground" {
		t.Fatalf("playground call %+v", hc)
	}

	// Usage: filters, detail, CSV.
	if p := c.do("GET", "/console/usage?model=gpt-4o&status=ok&since=2025-06-01T11:00", nil); !strings.Contains(p.body, "/console/usage/req-1") {
		t.Fatalf("usage filtered: %d\n%s", p.status, p.body)
	}
	if p := c.do("GET", "/console/usage?model=other", nil); strings.Contains(p.body, "/console/usage/req-1") {
		t.Fatal("filter by model kept another model's call")
	}
	if p := c.do("GET", "/console/usage?status=nope", nil); p.status != http.StatusBadRequest {
		t.Fatalf("bad status filter: %d", p.status)
	}
	p = c.do("GET", "/console/usage/req-1", nil)
	for _, want := range []string{"backup: 429 rate limited", `<dd id="usage-source">upstream</dd>`, "200 ms", "$0.000005", "$0.000004"} {
		if !strings.Contains(p.body, want) {
			t.Fatalf("detail lacks %q:\n%s", want, p.body)
		}
	}
	if p := c.do("GET", "/console/usage/nope", nil); p.status != http.StatusNotFound {
		t.Fatalf("unknown call: %d", p.status)
	}
	p = c.do("GET", "/console/usage.csv?model=gpt-4o", nil)
	if !strings.HasPrefix(p.header.Get("Content-Type"), "text/csv") || strings.Count(p.body, "\n") != 2 || !strings.Contains(p.body, "req-1") {
		t.Fatalf("csv: %q", p.body)
	}
	// Dashboard totals come from the ledger.
	if p := c.do("GET", "/console/?range=24h", nil); !strings.Contains(p.body, `<strong id="stat-requests">1</strong>`) || !strings.Contains(p.body, "<svg") {
		t.Fatalf("dashboard:\n%s", p.body)
	}
}

func TestConsoleTasksPage(t *testing.T) {
	h := newConsoleHarness(t)
	c := h.client()
	c.login(adminToken)
	if p := c.do("GET", "/console/tasks", nil); !strings.Contains(p.body, `id="no-tasks"`) {
		t.Fatalf("tasks without a source:\n%s", p.body)
	}
}

func TestFormatUSD(t *testing.T) {
	for nano, want := range map[int64]string{0: "$0", 5000: "$0.000005", 12_345_678: "$0.0123", 2_500_000_000: "$2.50", -3_000_000_000: "$-3.00"} {
		if got := formatUSD(nano); got != want {
			t.Errorf("formatUSD(%d) = %q, want %q", nano, got, want)
		}
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/console/keys": "/console/keys", "": "/console/", "https://evil.example/": "/console/",
		"//evil.example/console/": "/console/", "/console/\r\nX: y": "/console/", "/admin/api/keys": "/console/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUsageJSONTried(t *testing.T) {
	for _, c := range []struct {
		tried []string
		want  string
	}{
		{nil, ""},
		{[]string{"backup: 503 down"}, `"tried":["backup: 503 down"]`},
	} {
		b, err := json.Marshal(toUsageJSON(&gateway.UsageRecord{Tried: c.tried}))
		if err != nil {
			t.Fatal(err)
		}
		if got := string(b); (c.want == "" && strings.Contains(got, `"tried"`)) || !strings.Contains(got, c.want) {
			t.Errorf("tried %q: %s", c.tried, got)
		}
	}
}
