package admin

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/internal/gateway"
	"switchboard/internal/llm"
	"switchboard/internal/secret"
	"switchboard/internal/sqlstore"
)

const adminToken = "admin-token-for-tests-0123456789"

func hashHex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

type fakeHealth struct{ snap []gateway.ChannelHealth }

func (f *fakeHealth) Snapshot() []gateway.ChannelHealth { return f.snap }

// harness is an admin API over a real SQLite store, recording what it
// told the rest of the node.
type harness struct {
	t      *testing.T
	store  *sqlstore.Store
	health *fakeHealth
	mux    *http.ServeMux
	now    time.Time

	mu        sync.Mutex
	changes   []string
	resets    []int64
	enabled   [][2]int64
	enableErr error
}

func openStore(t testing.TB) *sqlstore.Store {
	t.Helper()
	box, err := secret.New(make([]byte, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	s, err := sqlstore.Open(context.Background(), "sqlite://"+t.TempDir()+"/a.db", sqlstore.Options{Secret: box})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newHarness(t *testing.T, edit ...func(*Deps)) *harness {
	t.Helper()
	h := &harness{t: t, store: openStore(t), health: &fakeHealth{}, mux: http.NewServeMux(),
		now: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	d := Deps{
		Store:  h.store,
		Health: h.health,
		ResetChannel: func(_ context.Context, id int64) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.resets = append(h.resets, id)
			return nil
		},
		EnableKey: func(_ context.Context, id int64, idx int) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.enabled = append(h.enabled, [2]int64{id, int64(idx)})
			return h.enableErr
		},
		AdminTokenHash: hashHex(adminToken),
		HashKey:        hashHex,
		OnChange: func(_ context.Context, topic string) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.changes = append(h.changes, topic)
		},
		Now: func() time.Time { return h.now },
	}
	for _, e := range edit {
		e(&d)
	}
	New(d).Register(h.mux)
	return h
}

type response struct {
	status int
	header http.Header
	raw    string
	obj    map[string]any
}

func (r response) str(field string) string  { s, _ := r.obj[field].(string); return s }
func (r response) num(field string) float64 { n, _ := r.obj[field].(float64); return n }
func (r response) list() []map[string]any {
	var out []map[string]any
	for _, v := range r.obj["data"].([]any) {
		out = append(out, v.(map[string]any))
	}
	return out
}
func (r response) errType() string {
	e, _ := r.obj["error"].(map[string]any)
	s, _ := e["type"].(string)
	return s
}

// call sends a request with the admin token.
func (h *harness) call(method, path, body string) response {
	return h.callAs("Bearer "+adminToken, method, path, body)
}

func (h *harness) callAs(auth, method, path, body string) response {
	h.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	h.mux.ServeHTTP(rec, req)
	res := response{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	if ct := rec.Header().Get("Content-Type"); strings.HasPrefix(ct, "text/csv") && rec.Code == http.StatusOK {
		return res // an export
	} else if ct != "application/json" {
		h.t.Fatalf("%s %s: Content-Type %q, body %s", method, path, ct, res.raw)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &res.obj); err != nil {
		h.t.Fatalf("%s %s: answer is not a JSON object: %v: %s", method, path, err, res.raw)
	}
	return res
}

func (h *harness) must(want int, method, path, body string) response {
	h.t.Helper()
	r := h.call(method, path, body)
	if r.status != want {
		h.t.Fatalf("%s %s: status %d, want %d: %s", method, path, r.status, want, r.raw)
	}
	return r
}

func (h *harness) takeChanges() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.changes
	h.changes = nil
	return c
}

func (h *harness) takeResets() []int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.resets
	h.resets = nil
	return r
}

var routes = []struct{ method, path string }{
	{"GET", "/admin/api/keys"},
	{"POST", "/admin/api/keys"},
	{"GET", "/admin/api/keys/1"},
	{"PATCH", "/admin/api/keys/1"},
	{"DELETE", "/admin/api/keys/1"},
	{"POST", "/admin/api/keys/1/disable"},
	{"POST", "/admin/api/keys/1/enable"},
	{"GET", "/admin/api/channels"},
	{"POST", "/admin/api/channels"},
	{"GET", "/admin/api/channels/1"},
	{"PATCH", "/admin/api/channels/1"},
	{"DELETE", "/admin/api/channels/1"},
	{"POST", "/admin/api/channels/1/disable"},
	{"POST", "/admin/api/channels/1/enable"},
	{"POST", "/admin/api/channels/1/keys/0/enable"},
	{"GET", "/admin/api/health"},
	{"GET", "/admin/api/usage"},
	{"GET", "/admin/api/usage/summary"},
	{"GET", "/admin/api/nope"},
}

func TestAuth(t *testing.T) {
	h := newHarness(t)
	h.must(http.StatusCreated, "POST", "/admin/api/keys", `{"name":"k1"}`)
	h.takeChanges()
	cases := []struct {
		name, auth string
		want       int
	}{
		{"missing", "", http.StatusUnauthorized},
		{"empty bearer", "Bearer ", http.StatusUnauthorized},
		{"wrong token", "Bearer not-the-admin-token", http.StatusUnauthorized},
		{"token prefix", "Bearer " + adminToken[:10], http.StatusUnauthorized},
		{"basic scheme", "Basic " + adminToken, http.StatusUnauthorized},
		{"no scheme", adminToken, http.StatusUnauthorized},
		{"hash instead of token", "Bearer " + hashHex(adminToken), http.StatusUnauthorized},
		{"right", "Bearer " + adminToken, http.StatusOK},
		{"scheme case-insensitive", "bearer " + adminToken, http.StatusOK},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := h.callAs(c.auth, "GET", "/admin/api/keys", "")
			if r.status != c.want {
				t.Fatalf("status %d, want %d: %s", r.status, c.want, r.raw)
			}
			if c.want == http.StatusUnauthorized {
				if r.errType() != "authentication_error" || r.header.Get("WWW-Authenticate") == "" {
					t.Errorf("401 without error type or WWW-Authenticate: %v %s", r.header, r.raw)
				}
			}
		})
	}
	// Every route, including unknown ones, refuses without the token and
	// changes nothing.
	for _, rt := range routes {
		r := h.callAs("Bearer wrong", rt.method, rt.path, `{"name":"sneaky","enabled":false}`)
		if r.status != http.StatusUnauthorized {
			t.Errorf("%s %s without token: status %d", rt.method, rt.path, r.status)
		}
	}
	if c := h.takeChanges(); len(c) != 0 {
		t.Errorf("unauthorized requests caused changes: %v", c)
	}
	k, err := h.store.KeyByID(context.Background(), 1)
	if err != nil || !k.Enabled || k.Name != "k1" {
		t.Errorf("key after unauthorized requests: %+v, %v", k, err)
	}
}

func TestAuthRefusesEveryoneWithoutHash(t *testing.T) {
	for _, hash := range []string{"", "not-hex", hashHex(adminToken)[:32]} {
		h := newHarness(t, func(d *Deps) { d.AdminTokenHash = hash })
		for _, auth := range []string{"", "Bearer ", "Bearer " + adminToken} {
			if r := h.callAs(auth, "GET", "/admin/api/keys", ""); r.status != http.StatusUnauthorized {
				t.Errorf("hash %q, auth %q: status %d", hash, auth, r.status)
			}
		}
	}
}

var generatedKey = regexp.MustCompile(`^sk-sb-[0-9a-f]{48}$`)

func TestKeyLifecycle(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()

	r := h.must(http.StatusCreated, "POST", "/admin/api/keys",
		`{"name":"alice","models":["gpt-4o*"],"budget_usd":25.5,"rpm":60,"tpm":1000,"max_concurrent":2}`)
	sk := r.str("key")
	if !generatedKey.MatchString(sk) {
		t.Fatalf("generated key %q", sk)
	}
	if r.str("prefix") != sk[:10] || r.num("budget_nano_usd") != 25.5e9 || r.num("budget_usd") != 25.5 ||
		r.obj["enabled"] != true || r.num("rpm") != 60 || r.num("tpm") != 1000 || r.num("max_concurrent") != 2 {
		t.Errorf("create answer: %s", r.raw)
	}
	id := int64(r.num("id"))
	stored, err := h.store.KeyByHash(ctx, hashHex(sk))
	if err != nil || stored.ID != id {
		t.Fatalf("stored key by hash of returned secret: %+v, %v", stored, err)
	}
	if got := h.takeChanges(); !slices.Equal(got, []string{TopicKeys}) {
		t.Errorf("changes after create: %v", got)
	}

	// The secret and its hash never appear again.
	for _, path := range []string{"/admin/api/keys", "/admin/api/keys/1"} {
		r := h.must(http.StatusOK, "GET", path, "")
		if strings.Contains(r.raw, sk) || strings.Contains(r.raw, stored.Hash) || strings.Contains(r.raw, `"key":`) {
			t.Errorf("GET %s leaks the secret: %s", path, r.raw)
		}
	}
	if l := h.must(http.StatusOK, "GET", "/admin/api/keys", "").list(); len(l) != 1 || l[0]["name"] != "alice" {
		t.Errorf("list: %v", l)
	}

	// Fixed secret; defaults.
	r = h.must(http.StatusCreated, "POST", "/admin/api/keys", `{"name":"bob","key":"sk-bob-0123456789abcdef"}`)
	if r.str("key") != "sk-bob-0123456789abcdef" || r.str("prefix") != "sk-bo" {
		t.Errorf("fixed key answer: %s", r.raw)
	}
	if models := r.obj["models"].([]any); len(models) != 1 || models[0] != "*" || r.obj["enabled"] != true || r.num("budget_usd") != 0 {
		t.Errorf("defaults: %s", r.raw)
	}
	if _, err := h.store.KeyByHash(ctx, hashHex("sk-bob-0123456789abcdef")); err != nil {
		t.Errorf("fixed key not stored by hash: %v", err)
	}
	h.takeChanges()

	// PATCH changes only what is present; null is "unchanged".
	r = h.must(http.StatusOK, "PATCH", "/admin/api/keys/1", `{"rpm":5,"models":null}`)
	if r.num("rpm") != 5 || r.str("name") != "alice" || r.num("tpm") != 1000 || r.num("budget_nano_usd") != 25.5e9 ||
		r.obj["models"].([]any)[0] != "gpt-4o*" || r.obj["enabled"] != true {
		t.Errorf("partial patch: %s", r.raw)
	}
	r = h.must(http.StatusOK, "PATCH", "/admin/api/keys/1", `{"name":"alice2","budget_nano_usd":7,"models":["a","b","a"],"enabled":false}`)
	if r.str("name") != "alice2" || r.num("budget_nano_usd") != 7 || len(r.obj["models"].([]any)) != 2 || r.obj["enabled"] != false {
		t.Errorf("patch: %s", r.raw)
	}
	if _, err := h.store.KeyByHash(ctx, hashHex(sk)); err != nil {
		t.Errorf("patch lost the secret hash: %v", err)
	}
	if strings.Contains(r.raw, sk) {
		t.Errorf("patch answer leaks the secret")
	}

	r = h.must(http.StatusOK, "POST", "/admin/api/keys/1/enable", "")
	if r.obj["enabled"] != true {
		t.Errorf("enable: %s", r.raw)
	}
	r = h.must(http.StatusOK, "POST", "/admin/api/keys/1/disable", "")
	if k, _ := h.store.KeyByID(ctx, 1); r.obj["enabled"] != false || k.Enabled {
		t.Errorf("disable: %s, stored %+v", r.raw, k)
	}
	if got := h.takeChanges(); !slices.Equal(got, []string{TopicKeys, TopicKeys, TopicKeys, TopicKeys}) {
		t.Errorf("changes after updates: %v", got)
	}

	r = h.must(http.StatusOK, "DELETE", "/admin/api/keys/1", "")
	if r.obj["deleted"] != true {
		t.Errorf("delete: %s", r.raw)
	}
	if got := h.takeChanges(); !slices.Equal(got, []string{TopicKeys}) {
		t.Errorf("changes after delete: %v", got)
	}
	for _, rt := range []struct{ method, path, body string }{
		{"GET", "/admin/api/keys/1", ""},
		{"PATCH", "/admin/api/keys/1", `{"rpm":1}`},
		{"DELETE", "/admin/api/keys/1", ""},
		{"POST", "/admin/api/keys/1/enable", ""},
		{"GET", "/admin/api/keys/abc", ""},
		{"GET", "/admin/api/keys/-1", ""},
	} {
		if r := h.call(rt.method, rt.path, rt.body); r.status != http.StatusNotFound || r.errType() != "not_found_error" {
			t.Errorf("%s %s: %d %s", rt.method, rt.path, r.status, r.raw)
		}
	}
	if got := h.takeChanges(); len(got) != 0 {
		t.Errorf("failed mutations caused changes: %v", got)
	}
}

func TestKeyValidation(t *testing.T) {
	h := newHarness(t)
	h.must(http.StatusCreated, "POST", "/admin/api/keys", `{"name":"taken","key":"sk-taken-0123456789"}`)
	h.takeChanges()
	cases := []struct {
		name, method, body string
		want               int
		msg                string
	}{
		{"empty body", "POST", ``, 400, "empty"},
		{"not json", "POST", `{name:`, 400, "invalid JSON"},
		{"array", "POST", `[]`, 400, ""},
		{"trailing data", "POST", `{"name":"x"} {}`, 400, "after the object"},
		{"unknown field", "POST", `{"name":"x","budget":5}`, 400, "budget"},
		{"wrong type", "POST", `{"name":"x","rpm":"60"}`, 400, "rpm"},
		{"no name", "POST", `{"rpm":1}`, 400, "name"},
		{"empty name", "POST", `{"name":""}`, 400, "name"},
		{"bad name", "POST", `{"name":"has space"}`, 400, "name"},
		{"long name", "POST", `{"name":"` + strings.Repeat("n", 65) + `"}`, 400, "name"},
		{"negative budget", "POST", `{"name":"x","budget_usd":-1}`, 400, "budget_usd"},
		{"huge budget", "POST", `{"name":"x","budget_usd":1e300}`, 400, "budget_usd"},
		{"both budgets", "POST", `{"name":"x","budget_usd":1,"budget_nano_usd":1}`, 400, "both"},
		{"negative nano budget", "POST", `{"name":"x","budget_nano_usd":-5}`, 400, "budget_nano_usd"},
		{"negative rpm", "POST", `{"name":"x","rpm":-1}`, 400, "rpm"},
		{"huge tpm", "POST", `{"name":"x","tpm":99999999999}`, 400, "tpm"},
		{"negative concurrency", "POST", `{"name":"x","max_concurrent":-2}`, 400, "max_concurrent"},
		{"empty model", "POST", `{"name":"x","models":["gpt",""]}`, 400, "models[1]"},
		{"bad glob", "POST", `{"name":"x","models":["gpt-["]}`, 400, "glob"},
		{"short key", "POST", `{"name":"x","key":"short"}`, 400, "at least 16"},
		{"key with space", "POST", `{"name":"x","key":"sk-0123456789 abcdef"}`, 400, "whitespace"},
		{"duplicate name", "POST", `{"name":"taken"}`, 409, ""},
		{"duplicate secret", "POST", `{"name":"other","key":"sk-taken-0123456789"}`, 409, ""},
		{"patch secret", "PATCH", `{"key":"sk-new-0123456789abcdef"}`, 400, "cannot be changed"},
		{"patch bad rpm", "PATCH", `{"rpm":-1}`, 400, "rpm"},
		{"patch empty name", "PATCH", `{"name":""}`, 400, "name"},
		{"patch unknown", "PATCH", `{"enabeld":false}`, 400, "enabeld"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := "/admin/api/keys"
			if c.method == "PATCH" {
				path += "/1"
			}
			r := h.call(c.method, path, c.body)
			if r.status != c.want {
				t.Fatalf("status %d, want %d: %s", r.status, c.want, r.raw)
			}
			e, _ := r.obj["error"].(map[string]any)
			if msg, _ := e["message"].(string); !strings.Contains(msg, c.msg) {
				t.Errorf("message %q does not mention %q", msg, c.msg)
			}
			wantType := map[int]string{400: "invalid_request_error", 409: "conflict_error"}[c.want]
			if r.errType() != wantType {
				t.Errorf("error type %q, want %q", r.errType(), wantType)
			}
		})
	}
	if got := h.takeChanges(); len(got) != 0 {
		t.Errorf("refused requests caused changes: %v", got)
	}
	if keys, _ := h.store.ListKeys(context.Background()); len(keys) != 1 || keys[0].RPM != 0 || !keys[0].Enabled {
		t.Errorf("refused requests changed keys: %+v", keys)
	}
}

const openaiChannel = `{"name":"openai-main","type":"openai","api_keys":["sk-upstream-AAAA1111","sk-upstream-BBBB2222"],
	"models":["gpt-4o","gpt-4o-mini"],"model_map":{"gpt-4o":"gpt-4o-2024-11-20"},"priority":10,"weight":3,
	"headers":{"Authorization":"Bearer hdr-secret-123456","X-Team":"blue"},"timeout":"30s","settings":{"org":"o1"}}`

func TestChannelLifecycle(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()

	r := h.must(http.StatusCreated, "POST", "/admin/api/channels", openaiChannel)
	for _, secretText := range []string{"sk-upstream-AAAA1111", "sk-upstream-BBBB2222", "hdr-secret-123456"} {
		if strings.Contains(r.raw, secretText) {
			t.Errorf("create answer leaks %q: %s", secretText, r.raw)
		}
	}
	masked := r.obj["api_keys_masked"].([]any)
	hdr := r.obj["headers"].(map[string]any)
	if r.num("api_key_count") != 2 || masked[0] != "****1111" || masked[1] != "****2222" ||
		hdr["Authorization"] != "****3456" || hdr["X-Team"] != "blue" {
		t.Errorf("masking: %s", r.raw)
	}
	if r.str("base_url") != "https://api.openai.com" || r.str("timeout") != "30s" || r.num("priority") != 10 ||
		r.num("weight") != 3 || r.obj["enabled"] != true || r.str("source") != "admin" {
		t.Errorf("create answer: %s", r.raw)
	}
	id := int64(r.num("id"))
	if got := h.takeChanges(); !slices.Equal(got, []string{TopicChannels}) {
		t.Errorf("changes after create: %v", got)
	}
	h.takeResets()

	for _, path := range []string{"/admin/api/channels", "/admin/api/channels/1"} {
		r := h.must(http.StatusOK, "GET", path, "")
		if strings.Contains(r.raw, "sk-upstream") || strings.Contains(r.raw, "hdr-secret") || strings.Contains(r.raw, `"api_keys"`) {
			t.Errorf("GET %s leaks keys: %s", path, r.raw)
		}
	}

	// Partial PATCH: keys, headers and everything else survive; the
	// channel's health is reset.
	r = h.must(http.StatusOK, "PATCH", "/admin/api/channels/1", `{"priority":5,"model_map":null}`)
	c, err := h.store.ChannelByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if r.num("priority") != 5 || c.Priority != 5 || !slices.Equal(c.APIKeys, []string{"sk-upstream-AAAA1111", "sk-upstream-BBBB2222"}) ||
		c.Headers["Authorization"] != "Bearer hdr-secret-123456" || c.ModelMap["gpt-4o"] != "gpt-4o-2024-11-20" ||
		c.Timeout != 30*time.Second || c.Weight != 3 || c.Settings["org"] != "o1" {
		t.Errorf("after partial patch: %+v (answer %s)", c, r.raw)
	}
	if got := h.takeResets(); !slices.Equal(got, []int64{id}) {
		t.Errorf("resets after patch: %v", got)
	}
	if got := h.takeChanges(); !slices.Equal(got, []string{TopicChannels}) {
		t.Errorf("changes after patch: %v", got)
	}

	// Headers read back masked and sent back unchanged keep the credential;
	// api_keys replace the list.
	r = h.must(http.StatusOK, "PATCH", "/admin/api/channels/1",
		`{"headers":{"Authorization":"****3456","X-Extra":"1"},"api_keys":["sk-new-CCCC3333"],"timeout":"2m","enabled":false}`)
	c, _ = h.store.ChannelByID(ctx, id)
	if c.Headers["Authorization"] != "Bearer hdr-secret-123456" || c.Headers["X-Extra"] != "1" || c.Headers["X-Team"] != "" ||
		!slices.Equal(c.APIKeys, []string{"sk-new-CCCC3333"}) || c.Timeout != 2*time.Minute || c.Enabled {
		t.Errorf("after patch: %+v", c)
	}
	if r.num("api_key_count") != 1 || r.str("timeout") != "2m0s" {
		t.Errorf("patch answer: %s", r.raw)
	}

	h.must(http.StatusOK, "POST", "/admin/api/channels/1/enable", "")
	if c, _ := h.store.ChannelByID(ctx, id); !c.Enabled {
		t.Error("enable did not enable")
	}
	h.must(http.StatusOK, "POST", "/admin/api/channels/1/disable", "")
	if c, _ := h.store.ChannelByID(ctx, id); c.Enabled {
		t.Error("disable did not disable")
	}
	h.takeChanges()
	h.takeResets()

	// Simulator needs no keys; renaming onto a taken name conflicts.
	h.must(http.StatusCreated, "POST", "/admin/api/channels", `{"name":"sim","type":"simulator","models":["*"],"settings":{"latency":"5ms"}}`)
	if r := h.call("PATCH", "/admin/api/channels/2", `{"name":"openai-main"}`); r.status != http.StatusConflict {
		t.Errorf("rename onto a taken name: %d %s", r.status, r.raw)
	}
	if r := h.call("POST", "/admin/api/channels", openaiChannel); r.status != http.StatusConflict || r.errType() != "conflict_error" {
		t.Errorf("duplicate create: %d %s", r.status, r.raw)
	}
	if c, _ := h.store.ChannelByID(ctx, id); c.Enabled || len(c.APIKeys) != 1 {
		t.Errorf("duplicate create overwrote the channel: %+v", c)
	}
	h.takeChanges()

	r = h.must(http.StatusOK, "DELETE", "/admin/api/channels/1", "")
	if r.obj["deleted"] != true {
		t.Errorf("delete: %s", r.raw)
	}
	if got := h.takeResets(); !slices.Contains(got, id) {
		t.Errorf("delete did not reset health: %v", got)
	}
	if got := h.takeChanges(); !slices.Equal(got, []string{TopicChannels}) {
		t.Errorf("changes after delete: %v", got)
	}
	for _, rt := range []struct{ method, path, body string }{
		{"GET", "/admin/api/channels/1", ""},
		{"PATCH", "/admin/api/channels/1", `{"priority":1}`},
		{"DELETE", "/admin/api/channels/1", ""},
		{"POST", "/admin/api/channels/1/disable", ""},
		{"POST", "/admin/api/channels/1/keys/0/enable", ""},
		{"GET", "/admin/api/channels/x", ""},
	} {
		if r := h.call(rt.method, rt.path, rt.body); r.status != http.StatusNotFound {
			t.Errorf("%s %s: %d %s", rt.method, rt.path, r.status, r.raw)
		}
	}
	if got := h.takeChanges(); len(got) != 0 {
		t.Errorf("failed mutations caused changes: %v", got)
	}
}

func TestChannelValidation(t *testing.T) {
	h := newHarness(t)
	h.must(http.StatusCreated, "POST", "/admin/api/channels", `{"name":"c1","type":"anthropic","api_keys":["k-123"],"models":["claude-*"]}`)
	h.takeChanges()
	h.takeResets()
	base := `"name":"x","type":"openai","api_keys":["k"],"models":["m"]`
	cases := []struct {
		name, method, body, msg string
	}{
		{"empty body", "POST", ``, "empty"},
		{"unknown field", "POST", `{` + base + `,"api_key":"k"}`, "api_key"},
		{"no name", "POST", `{"type":"openai","api_keys":["k"],"models":["m"]}`, "name"},
		{"bad name", "POST", `{"name":"a/b","type":"openai","api_keys":["k"],"models":["m"]}`, "name"},
		{"no type", "POST", `{"name":"x","api_keys":["k"],"models":["m"]}`, "type"},
		{"unknown type", "POST", `{"name":"x","type":"bedrock","api_keys":["k"],"models":["m"]}`, "bedrock"},
		{"no models", "POST", `{"name":"x","type":"openai","api_keys":["k"]}`, "models"},
		{"empty models", "POST", `{"name":"x","type":"openai","api_keys":["k"],"models":[]}`, "models"},
		{"blank model", "POST", `{"name":"x","type":"openai","api_keys":["k"],"models":[" "]}`, "models[0]"},
		{"no keys", "POST", `{"name":"x","type":"openai","models":["m"]}`, "api_keys"},
		{"empty key", "POST", `{"name":"x","type":"openai","api_keys":[""],"models":["m"]}`, "api_keys[0]"},
		{"key with newline", "POST", `{"name":"x","type":"openai","api_keys":["a\nb"],"models":["m"]}`, "api_keys[0]"},
		{"azure without url", "POST", `{"name":"x","type":"azure","api_keys":["k"],"models":["m"]}`, "base_url"},
		{"bad url scheme", "POST", `{` + base + `,"base_url":"ftp://h"}`, "base_url"},
		{"url with credentials", "POST", `{` + base + `,"base_url":"https://u:p@h"}`, "base_url"},
		{"url with query", "POST", `{` + base + `,"base_url":"https://h/?a=1"}`, "base_url"},
		{"negative weight", "POST", `{` + base + `,"weight":-1}`, "weight"},
		{"huge priority", "POST", `{` + base + `,"priority":99999999999}`, "priority"},
		{"bad timeout", "POST", `{` + base + `,"timeout":"soon"}`, "timeout"},
		{"numeric timeout", "POST", `{` + base + `,"timeout":30}`, "timeout"},
		{"negative timeout", "POST", `{` + base + `,"timeout":"-1s"}`, "timeout"},
		{"bad header name", "POST", `{` + base + `,"headers":{"a b":"v"}}`, "header"},
		{"header line break", "POST", `{` + base + `,"headers":{"X-A":"v\r\nX-B: w"}}`, "line break"},
		{"empty model map", "POST", `{` + base + `,"model_map":{"a":""}}`, "model_map"},
		{"simulator latency", "POST", `{"name":"s","type":"simulator","models":["m"],"settings":{"latency":"fast"}}`, "latency"},
		{"simulator tps", "POST", `{"name":"s","type":"simulator","models":["m"],"settings":{"tokens_per_second":"0"}}`, "tokens_per_second"},
		{"empty api_version", "POST", `{` + base + `,"settings":{"api_version":" "}}`, "api_version"},
		{"duplicate name", "POST", `{"name":"c1","type":"openai","api_keys":["k"],"models":["m"]}`, "already exists"},
		{"patch empty models", "PATCH", `{"models":[]}`, "models"},
		{"patch drop keys", "PATCH", `{"api_keys":[]}`, "api_keys"},
		{"patch to azure without url", "PATCH", `{"type":"azure","base_url":""}`, "base_url"},
		{"patch bad timeout", "PATCH", `{"timeout":"25h"}`, "timeout"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := "/admin/api/channels"
			if c.method == "PATCH" {
				path += "/1"
			}
			r := h.call(c.method, path, c.body)
			if r.status != http.StatusBadRequest && r.status != http.StatusConflict {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			e, _ := r.obj["error"].(map[string]any)
			if msg, _ := e["message"].(string); !strings.Contains(msg, c.msg) {
				t.Errorf("message %q does not mention %q", msg, c.msg)
			}
		})
	}
	if got := h.takeChanges(); len(got) != 0 {
		t.Errorf("refused requests caused changes: %v", got)
	}
	if got := h.takeResets(); len(got) != 0 {
		t.Errorf("refused requests reset health: %v", got)
	}
	chs, _ := h.store.ListChannels(context.Background())
	if len(chs) != 1 || chs[0].Type != gateway.ChannelAnthropic || len(chs[0].Models) != 1 {
		t.Errorf("refused requests changed channels: %+v", chs)
	}
}

func TestHealth(t *testing.T) {
	h := newHarness(t)
	h.must(http.StatusCreated, "POST", "/admin/api/channels", `{"name":"a","type":"openai","api_keys":["sk-aaaa-00000001","sk-aaaa-00000002"],"models":["*"]}`)
	h.must(http.StatusCreated, "POST", "/admin/api/channels", `{"name":"b","type":"simulator","models":["*"],"enabled":false}`)
	until := h.now.Add(time.Minute)
	h.health.snap = []gateway.ChannelHealth{
		{ChannelID: 1, State: gateway.StateOpen, Failures: 3, OpenUntil: until, LastError: "upstream 502",
			Keys: []gateway.KeyHealth{
				{Index: 0, State: gateway.KeyStateOK},
				{Index: 1, State: gateway.KeyStateDisabled, Reason: "upstream answered 401"},
				{Index: 7, State: gateway.KeyStateDisabled}, // key since removed
			}},
		{ChannelID: 99, State: gateway.StateOpen}, // channel since deleted
	}
	l := h.must(http.StatusOK, "GET", "/admin/api/health", "").list()
	if len(l) != 2 {
		t.Fatalf("health entries: %v", l)
	}
	a, b := l[0], l[1]
	keys := a["keys"].([]any)
	k1 := keys[1].(map[string]any)
	if a["name"] != "a" || a["state"] != "open" || a["failures"] != 3.0 || a["open_until"] != until.Format(time.RFC3339) ||
		a["last_error"] != "upstream 502" || len(keys) != 2 ||
		k1["state"] != "disabled" || k1["reason"] != "upstream answered 401" || k1["key_masked"] != "****0002" ||
		keys[0].(map[string]any)["state"] != "ok" {
		t.Errorf("channel a: %v", a)
	}
	if b["name"] != "b" || b["state"] != "closed" || b["enabled"] != false || len(b["keys"].([]any)) != 0 || b["open_until"] != nil {
		t.Errorf("channel b: %v", b)
	}

	// Without a tracker every channel is healthy.
	h2 := newHarness(t, func(d *Deps) { d.Health = nil })
	h2.must(http.StatusCreated, "POST", "/admin/api/channels", `{"name":"a","type":"openai","api_keys":["k"],"models":["*"]}`)
	l = h2.must(http.StatusOK, "GET", "/admin/api/health", "").list()
	if len(l) != 1 || l[0]["state"] != "closed" {
		t.Errorf("no tracker: %v", l)
	}
}

func TestEnableUpstreamKey(t *testing.T) {
	h := newHarness(t)
	h.must(http.StatusCreated, "POST", "/admin/api/channels", `{"name":"a","type":"openai","api_keys":["sk-aaaa-00000001","sk-aaaa-00000002"],"models":["*"]}`)
	h.takeChanges()
	r := h.must(http.StatusOK, "POST", "/admin/api/channels/1/keys/1/enable", "")
	if r.str("state") != "ok" || r.num("index") != 1 || r.str("key_masked") != "****0002" {
		t.Errorf("answer: %s", r.raw)
	}
	if !slices.Equal(h.enabled, [][2]int64{{1, 1}}) {
		t.Errorf("EnableKey calls: %v", h.enabled)
	}
	for _, idx := range []string{"2", "-1", "x"} {
		if r := h.call("POST", "/admin/api/channels/1/keys/"+idx+"/enable", ""); r.status != http.StatusNotFound {
			t.Errorf("index %s: %d %s", idx, r.status, r.raw)
		}
	}
	h.enableErr = errors.New("redis down")
	if r := h.call("POST", "/admin/api/channels/1/keys/0/enable", ""); r.status != http.StatusInternalServerError ||
		strings.Contains(r.raw, "redis") {
		t.Errorf("EnableKey failure: %d %s", r.status, r.raw)
	}

	h2 := newHarness(t, func(d *Deps) { d.EnableKey = nil })
	h2.must(http.StatusCreated, "POST", "/admin/api/channels", `{"name":"a","type":"openai","api_keys":["k"],"models":["*"]}`)
	if r := h2.call("POST", "/admin/api/channels/1/keys/0/enable", ""); r.status != http.StatusNotImplemented {
		t.Errorf("without EnableKey: %d %s", r.status, r.raw)
	}
}

func TestUsage(t *testing.T) {
	h := newHarness(t)
	t0 := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
	recs := []gateway.UsageRecord{
		{RequestID: "r1", Time: t0, KeyID: 1, KeyName: "alice", Endpoint: "chat.completions", Model: "gpt-4o",
			ChannelID: 3, ChannelName: "openai", UpstreamModel: "gpt-4o-2024-11-20", Status: 200, Stream: true,
			Latency: 1500 * time.Millisecond, TTFT: 250 * time.Millisecond,
			Usage:       llm.Usage{InputTokens: 100, CachedInputTokens: 40, OutputTokens: 20, ReasoningTokens: 5},
			UsageSource: gateway.UsageFromUpstream, CostNanoUSD: 1_500_000, PriceNanoUSD: 1_500_000, Attempts: 2},
		{RequestID: "r2", Time: t0.Add(time.Hour), KeyID: 2, KeyName: "bob", Endpoint: "messages", Model: "claude",
			Status: 502, Usage: llm.Usage{InputTokens: 10}, UsageSource: gateway.UsageEstimated, CostNanoUSD: 3_000_000,
			PriceNanoUSD: 3_000_000, ErrorMessage: "upstream failed"},
		{RequestID: "r3", Time: t0.Add(2 * time.Hour), KeyID: 1, KeyName: "alice", Model: "gpt-4o", Status: 200,
			Usage: llm.Usage{InputTokens: 1, OutputTokens: 2}, CostNanoUSD: 500_000, PriceNanoUSD: 500_000},
	}
	if err := h.store.InsertUsage(context.Background(), recs); err != nil {
		t.Fatal(err)
	}

	l := h.must(http.StatusOK, "GET", "/admin/api/usage", "").list()
	if len(l) != 3 || l[0]["request_id"] != "r3" {
		t.Fatalf("all usage (newest first): %v", l)
	}
	r1 := l[2]
	u := r1["usage"].(map[string]any)
	if r1["time"] != "2025-05-01T00:00:00Z" || r1["key_name"] != "alice" || r1["endpoint"] != "chat.completions" ||
		r1["upstream_model"] != "gpt-4o-2024-11-20" || r1["channel_name"] != "openai" || r1["stream"] != true ||
		r1["latency_ms"] != 1500.0 || r1["ttft_ms"] != 250.0 || r1["usage_source"] != "upstream" ||
		r1["cost_nano_usd"] != 1.5e6 || r1["cost_usd"] != 0.0015 || r1["attempts"] != 2.0 ||
		u["input_tokens"] != 100.0 || u["cached_input_tokens"] != 40.0 || u["reasoning_tokens"] != 5.0 || u["total_tokens"] != 120.0 {
		t.Errorf("record r1: %v", r1)
	}
	if l[1]["error_message"] != "upstream failed" || l[1]["status"] != 502.0 {
		t.Errorf("record r2: %v", l[1])
	}

	for _, c := range []struct {
		query string
		want  []string
	}{
		{"?key_id=1", []string{"r3", "r1"}},
		{"?limit=1", []string{"r3"}},
		{"?since=2025-05-01T00:30:00Z", []string{"r3", "r2"}},
		{"?since=2025-05-01T00:30:00Z&until=2025-05-01T01:30:00Z", []string{"r2"}},
		{"?since=1h", nil}, // relative to Now, a month later
		{"?key_id=9", nil},
	} {
		var got []string
		for _, rec := range h.must(http.StatusOK, "GET", "/admin/api/usage"+c.query, "").list() {
			got = append(got, rec["request_id"].(string))
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.query, got, c.want)
		}
	}
	for _, q := range []string{"?key_id=x", "?key_id=0", "?since=yesterday", "?until=2025-13-01T00:00:00Z",
		"?limit=0", "?limit=100001", "?limit=x",
		"?since=2025-05-02T00:00:00Z&until=2025-05-01T00:00:00Z"} {
		for _, path := range []string{"/admin/api/usage", "/admin/api/usage/summary"} {
			if path == "/admin/api/usage/summary" && strings.HasPrefix(q, "?limit") {
				continue // the summary has no limit parameter
			}
			if r := h.call("GET", path+q, ""); r.status != http.StatusBadRequest {
				t.Errorf("%s%s: %d %s", path, q, r.status, r.raw)
			}
		}
	}

	s := h.must(http.StatusOK, "GET", "/admin/api/usage/summary", "")
	var sum summaryJSON
	if err := json.Unmarshal([]byte(s.raw), &sum); err != nil {
		t.Fatal(err)
	}
	tot := func(req, errs, in, out, cached, reason, nano, est int64) totals {
		return totals{Requests: req, Errors: errs, InputTokens: in, OutputTokens: out, CachedTokens: cached, Reasoning: reason,
			CostNanoUSD: nano, CostUSD: usd(nano), PriceNanoUSD: nano, PriceUSD: usd(nano), Estimated: est}
	}
	want := summaryJSON{
		Object: "usage_summary",
		Total:  tot(3, 1, 111, 22, 40, 5, 5_000_000, 1),
		ByKey: []keyTotals{
			{KeyID: 2, KeyName: "bob", totals: tot(1, 1, 10, 0, 0, 0, 3_000_000, 1)},
			{KeyID: 1, KeyName: "alice", totals: tot(2, 0, 101, 22, 40, 5, 2_000_000, 0)},
		},
		ByModel: []modelTotals{
			{Model: "claude", totals: tot(1, 1, 10, 0, 0, 0, 3_000_000, 1)},
			{Model: "gpt-4o", totals: tot(2, 0, 101, 22, 40, 5, 2_000_000, 0)},
		},
	}
	if got, _ := json.Marshal(sum); string(got) != mustJSON(t, want) {
		t.Errorf("summary:\n got %s\nwant %s", got, mustJSON(t, want))
	}

	s = h.must(http.StatusOK, "GET", "/admin/api/usage/summary?since=2025-05-01T00:30:00Z&key_id=1", "")
	if tot := s.obj["total"].(map[string]any); tot["requests"] != 1.0 || tot["cost_nano_usd"] != 5e5 ||
		s.obj["since"] != "2025-05-01T00:30:00Z" || s.obj["truncated"] != false {
		t.Errorf("filtered summary: %s", s.raw)
	}
	s = h.must(http.StatusOK, "GET", "/admin/api/usage/summary?since=1h", "")
	if tot := s.obj["total"].(map[string]any); tot["requests"] != 0.0 || len(s.obj["by_key"].([]any)) != 0 {
		t.Errorf("empty summary: %s", s.raw)
	}
}

// TestUsageReports: every filter filters, groups and margins are computed
// by the store, pages follow a cursor, CSV exports everything, and an
// unknown parameter is an error instead of a silently wrong report.
func TestUsageReports(t *testing.T) {
	h := newHarness(t)
	t0 := time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC)
	var recs []gateway.UsageRecord
	for i := range 30 {
		r := gateway.UsageRecord{
			RequestID: fmt.Sprintf("r%02d", i), Time: t0.Add(time.Duration(i) * 30 * time.Minute),
			KeyID: int64(1 + i%3), KeyName: fmt.Sprintf("k%d", 1+i%3), Model: []string{"gpt-4o", "claude"}[i%2],
			ChannelID: int64(1 + i%2), ChannelName: []string{"discounted", "list"}[i%2], Status: 200,
			Usage: llm.Usage{InputTokens: 10, OutputTokens: 5}, UsageSource: gateway.UsageFromUpstream,
			CostNanoUSD: 800, PriceNanoUSD: 1000,
		}
		if i%10 == 9 {
			r.Status = 429
		}
		if i == 7 {
			r.Unpriced, r.PriceNanoUSD = true, 0
			r.Units = []gateway.Metered{{Unit: "image:1024x1024:hd", Count: 2}}
		}
		recs = append(recs, r)
	}
	if err := h.store.InsertUsage(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	ids := func(path string) []string {
		t.Helper()
		var out []string
		for _, rec := range h.must(http.StatusOK, "GET", path, "").list() {
			out = append(out, rec["request_id"].(string))
		}
		return out
	}
	for _, c := range []struct {
		query string
		n     int
	}{
		{"?model=claude&limit=1000", 15},
		{"?channel_id=1&limit=1000", 15},
		{"?model=claude&channel_id=1&limit=1000", 0},
		{"?status=429&limit=1000", 3},
		{"?status=4xx&limit=1000", 3},
		{"?status=error&limit=1000", 3},
		{"?status=ok&limit=1000", 27},
		{"?key_id=2&model=gpt-4o&limit=1000", 5},
	} {
		if got := ids("/admin/api/usage" + c.query); len(got) != c.n {
			t.Errorf("%s: %d records, want %d", c.query, len(got), c.n)
		}
	}
	// Cursor pages.
	var all []string
	next := "/admin/api/usage?limit=7&model=gpt-4o"
	for pages := 0; next != ""; pages++ {
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		r := h.must(http.StatusOK, "GET", next, "")
		for _, rec := range r.list() {
			all = append(all, rec["request_id"].(string))
		}
		next = ""
		if c, _ := r.obj["next_cursor"].(string); c != "" {
			if r.obj["has_more"] != true {
				t.Fatal("a cursor without has_more")
			}
			next = "/admin/api/usage?limit=7&model=gpt-4o&cursor=" + c
		}
	}
	if len(all) != 15 || all[0] != "r28" || all[14] != "r00" {
		t.Fatalf("pages = %v", all)
	}
	// The record shows both sides of the money and the units.
	for _, rec := range h.must(http.StatusOK, "GET", "/admin/api/usage?limit=1000", "").list() {
		if rec["request_id"] == "r07" && (rec["unpriced"] != true || rec["price_nano_usd"] != 0.0 || rec["cost_nano_usd"] != 800.0 ||
			rec["units"].([]any)[0].(map[string]any)["count"] != 2.0) {
			t.Errorf("r07 = %v", rec)
		}
	}

	// Margins and counts, grouped by the store.
	s := h.must(http.StatusOK, "GET", "/admin/api/usage/summary?group_by=channel", "")
	groups := s.obj["groups"].([]any)
	if len(groups) != 2 {
		t.Fatalf("groups = %s", s.raw)
	}
	for _, g := range groups {
		g := g.(map[string]any)
		if g["requests"] != 15.0 || g["cost_nano_usd"] != 12000.0 || g["channel_name"] == nil {
			t.Errorf("channel group = %v", g)
		}
	}
	total := s.obj["total"].(map[string]any)
	if total["price_nano_usd"] != 29000.0 || total["margin_nano_usd"] != 5000.0 || total["unpriced"] != 1.0 || total["errors"] != 3.0 {
		t.Errorf("total = %v", total)
	}
	s = h.must(http.StatusOK, "GET", "/admin/api/usage/summary?group_by=day,model&key_id=1", "")
	if g := s.obj["groups"].([]any); len(g) != 2 || g[0].(map[string]any)["bucket"] != "2025-05-01T00:00:00Z" {
		t.Errorf("by day and model: %s", s.raw)
	}
	s = h.must(http.StatusOK, "GET", "/admin/api/usage/summary?group_by=hour&since=2025-05-01T10:00:00Z&until=2025-05-01T12:00:00Z", "")
	if g := s.obj["groups"].([]any); len(g) != 2 || g[1].(map[string]any)["bucket"] != "2025-05-01T11:00:00Z" || g[1].(map[string]any)["requests"] != 2.0 {
		t.Errorf("by hour: %s", s.raw)
	}

	// CSV: every matching record, past the JSON limit, with a header.
	r := h.call("GET", "/admin/api/usage?format=csv&model=claude", "")
	rows, err := csv.NewReader(strings.NewReader(r.raw)).ReadAll()
	if r.status != http.StatusOK || err != nil || len(rows) != 16 || rows[0][0] != "request_id" || !strings.HasPrefix(r.header.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv: %d %v %d rows", r.status, err, len(rows))
	}
	r = h.call("GET", "/admin/api/usage/summary?format=csv&group_by=key", "")
	rows, err = csv.NewReader(strings.NewReader(r.raw)).ReadAll()
	if err != nil || len(rows) != 4 || rows[0][0] != "key_id" || rows[0][1] != "key_name" {
		t.Fatalf("summary csv: %v %v", rows, err)
	}

	for _, q := range []string{
		"/admin/api/usage?group_by=model",        // a summary parameter on the list
		"/admin/api/usage?modle=gpt-4o",          // a typo
		"/admin/api/usage/summary?limit=5",       // a list parameter on the summary
		"/admin/api/usage/summary?group_by=week", // unknown dimension
		"/admin/api/usage/summary?group_by=day,hour",
		"/admin/api/usage?channel_id=x", "/admin/api/usage?status=teapot", "/admin/api/usage?status=700",
		"/admin/api/usage?model=", "/admin/api/usage?cursor=nope", "/admin/api/usage?format=xml",
		"/admin/api/usage?model=a&model=b",
	} {
		if r := h.call("GET", q, ""); r.status != http.StatusBadRequest || r.errType() != "invalid_request_error" {
			t.Errorf("%s: %d %s", q, r.status, r.raw)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestNoRoute(t *testing.T) {
	h := newHarness(t)
	r := h.call("GET", "/admin/api/nope", "")
	if r.status != http.StatusNotFound || r.errType() != "not_found_error" {
		t.Errorf("unknown path: %d %s", r.status, r.raw)
	}
	r = h.call("PUT", "/admin/api/keys/1", "{}")
	if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "GET, PATCH, DELETE" {
		t.Errorf("wrong method: %d %v %s", r.status, r.header.Get("Allow"), r.raw)
	}
	r = h.call("DELETE", "/admin/api/keys", "")
	if r.status != http.StatusMethodNotAllowed || r.header.Get("Allow") != "GET, POST" {
		t.Errorf("wrong method on collection: %d %v %s", r.status, r.header.Get("Allow"), r.raw)
	}
}

func TestBodyTooLarge(t *testing.T) {
	h := newHarness(t)
	body := `{"name":"x","models":["` + strings.Repeat("m", maxBody) + `"]}`
	if r := h.call("POST", "/admin/api/keys", body); r.status != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d: %.200s", r.status, r.raw)
	}
}

func TestKeyBudgetPeriodAndChannelMultiplier(t *testing.T) {
	h := newHarness(t)
	k := h.must(http.StatusCreated, "POST", "/admin/api/keys", `{"name":"p","budget_usd":5,"budget_period":"weekly"}`)
	if k.obj["budget_period"] != "weekly" {
		t.Fatalf("created: %s", k.raw)
	}
	k = h.must(http.StatusOK, "PATCH", "/admin/api/keys/1", `{"budget_period":"monthly"}`)
	if k.obj["budget_period"] != "monthly" || k.obj["period_start"] == nil {
		t.Fatalf("patched: %s", k.raw)
	}
	if r := h.call("PATCH", "/admin/api/keys/1", `{"budget_period":"hourly"}`); r.status != http.StatusBadRequest {
		t.Fatalf("bad period: %d %s", r.status, r.raw)
	}
	if d := h.must(http.StatusCreated, "POST", "/admin/api/keys", `{"name":"q"}`); d.obj["budget_period"] != "total" {
		t.Fatalf("default period: %s", d.raw)
	}
	base := `"name":"c","type":"openai","api_keys":["k"],"models":["*"]`
	h.must(http.StatusCreated, "POST", "/admin/api/channels", `{`+base+`,"settings":{"price_multiplier":"0.8"}}`)
	if r := h.call("POST", "/admin/api/channels", `{"name":"d","type":"openai","api_keys":["k"],"models":["*"],"settings":{"price_multiplier":"-1"}}`); r.status != http.StatusBadRequest {
		t.Fatalf("bad multiplier: %d %s", r.status, r.raw)
	}
}
