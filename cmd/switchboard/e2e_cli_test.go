package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"switchboard/internal/gateway"
	"switchboard/internal/gatewaytest"
)

const cliConfig = `
admin:
  token: ` + e2eAdminToken + `
channels:
  - name: oa
    type: openai
    base_url: %s
    api_keys: [sk-upstream-secret-1]
    models: [gpt-4o-mini, my-unpriced-model]
keys:
  - name: alice
    key: ` + testKey + `
prices:
  gpt-4o-mini: {input_per_mtok: 1, output_per_mtok: 2}
`

// runCLI runs the switchboard command line in-process and returns what it
// printed, or its error.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := rootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(io.Discard)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

// The CLI drives a running gateway through its admin API: keys, channels,
// usage and prices, as tables and as JSON.
func TestCLIAgainstGateway(t *testing.T) {
	t.Parallel()
	up := gatewaytest.NewUpstream(t, gatewaytest.OpenAIChat{Text: "hi", PromptTokens: 1000, CompletionTokens: 500}.Handler())
	n := startNode(t, cliConfig, up.URL)
	api := []string{"--url", n.srv.URL, "--token", e2eAdminToken}
	cli := func(args ...string) string {
		t.Helper()
		out, err := runCLI(t, append(args, api...)...)
		if err != nil {
			t.Fatalf("switchboard %s: %v", strings.Join(args, " "), err)
		}
		return out
	}

	// keys create prints the secret once; the key works at once.
	out := cli("keys", "create", "bob", "--models", "gpt-4o-mini", "--budget-usd", "2.5")
	secret := strings.TrimSpace(out[strings.LastIndex(out, ":")+1:])
	if !strings.HasPrefix(out, `Created key "bob"`) || !strings.HasPrefix(secret, "sk-") {
		t.Fatalf("keys create: %q", out)
	}
	resp := n.post(t, "/v1/chat/completions", secret, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`, nil)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("call with the new key: %d", resp.StatusCode)
	}

	out = cli("keys", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(out, "bob") || !strings.Contains(out, "2.5") {
		t.Errorf("keys list table:\n%s", out)
	}
	js := cli("keys", "list", "-o", "json")
	var bobID int64
	for _, k := range gjson.Get(js, "data").Array() {
		if k.Get("name").String() == "bob" {
			bobID = k.Get("id").Int()
		}
		if k.Get("key").Exists() {
			t.Errorf("keys list shows a secret: %s", k.Raw)
		}
	}
	if bobID == 0 || !json.Valid([]byte(js)) {
		t.Fatalf("keys list -o json: %s", js)
	}
	id := gjson.Get(js, `data.#(name=="bob").id`).String()
	if out := cli("keys", "disable", id); !strings.Contains(out, "false") {
		t.Errorf("keys disable: %s", out)
	}
	if got := gjson.Get(cli("keys", "get", id, "-o", "json"), "enabled"); got.Bool() {
		t.Errorf("bob still enabled after keys disable")
	}

	// channels
	out = cli("channels", "list")
	if !strings.Contains(out, "oa") || !strings.Contains(out, "openai") || strings.Contains(out, "sk-upstream-secret-1") {
		t.Errorf("channels list:\n%s", out)
	}
	chID := gjson.Get(cli("channels", "list", "-o", "json"), "data.0.id").String()
	if out := cli("channels", "disable", chID, "-o", "json"); gjson.Get(out, "enabled").Bool() {
		t.Errorf("channels disable: %s", out)
	}
	cli("channels", "enable", chID)
	if out := cli("channels", "test", chID); !strings.Contains(out, "gpt-4o-mini") || !strings.Contains(out, "true") {
		t.Errorf("channels test:\n%s", out)
	}
	if out := cli("channels", "health"); !strings.Contains(out, "STATE") {
		t.Errorf("channels health:\n%s", out)
	}

	// usage: the call made above, then the totals.
	n.usage(t, func(r gateway.UsageRecord) bool { return r.KeyName == "bob" })
	out = cli("usage", "list", "--model", "gpt-4o-mini")
	if !strings.Contains(out, "bob") || !strings.Contains(out, "1000") {
		t.Errorf("usage list:\n%s", out)
	}
	sum := cli("usage", "summary", "--key-id", id, "-o", "json")
	// 1000 input at $1/M + 500 output at $2/M = $0.002
	if got := gjson.Get(sum, "total.price_nano_usd").Int(); got != 2_000_000 {
		t.Errorf("usage summary price %d nano-USD, want 2000000: %s", got, sum)
	}
	if out := cli("usage", "summary", "--group-by", "key"); !strings.Contains(out, "bob") || !strings.Contains(out, "0.002") {
		t.Errorf("usage summary --group-by key:\n%s", out)
	}

	// prices: the operator's entry, and the model routed without a price.
	out = cli("prices", "list", "--operator", "-o", "json")
	if gjson.Get(out, `data.#(model=="gpt-4o-mini").input_per_mtok`).Float() != 1 || gjson.Get(out, `data.#(operator==false)`).Exists() {
		t.Errorf("prices list --operator:\n%s", out)
	}
	if out := cli("prices", "list", "--model", "gpt-4o-mini"); !strings.Contains(out, "OUTPUT") || !strings.Contains(out, "gpt-4o-mini") {
		t.Errorf("prices list table:\n%s", out)
	}
	if out := cli("prices", "unpriced"); !strings.Contains(out, "my-unpriced-model") {
		t.Errorf("prices unpriced:\n%s", out)
	}

	// The API's description, public, through the whole server.
	oa, err := http.Get(n.srv.URL + "/admin/api/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := io.ReadAll(oa.Body)
	oa.Body.Close()
	if oa.StatusCode != 200 || !gjson.GetBytes(doc, `paths./admin/api/prices.get`).Exists() {
		t.Errorf("GET /admin/api/openapi.json: %d %.200s", oa.StatusCode, doc)
	}

	// Errors: a wrong token, no URL.
	if _, err := runCLI(t, "channels", "list", "--url", n.srv.URL, "--token", "wrong-token-0123456789"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong token: %v", err)
	}
	if _, err := runCLI(t, "usage", "list", "--token", e2eAdminToken); err == nil || !strings.Contains(err.Error(), "SWITCHBOARD_ADMIN_URL") {
		t.Errorf("no URL: %v", err)
	}
}

// The environment names the gateway when no flag does.
func TestCLIFromEnvironment(t *testing.T) {
	up := gatewaytest.NewUpstream(t, gatewaytest.OpenAIChat{Text: "hi"}.Handler())
	n := startNode(t, cliConfig, up.URL)
	t.Setenv("SWITCHBOARD_ADMIN_URL", n.srv.URL)
	t.Setenv("SWITCHBOARD_ADMIN_TOKEN", e2eAdminToken)
	out, err := runCLI(t, "keys", "list", "-o", "json")
	if err != nil || gjson.Get(out, `data.#(name=="alice").name`).String() != "alice" {
		t.Errorf("keys list from the environment: %v %s", err, out)
	}
}
