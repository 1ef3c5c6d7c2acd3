package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"switchboard/internal/config"
	"switchboard/internal/gateway"
	"switchboard/internal/rules"
)

// TestKeyAndChannelRulesAgree feeds the same bad key or channel to the
// config file, the admin API and the CLI, and checks that each refuses it
// with the words of the one rule in internal/rules.
func TestKeyAndChannelRulesAgree(t *testing.T) {
	t.Parallel()
	const adminToken = "admin-token-0123456789"
	const fixed = "sk-fixed-0123456789abcdef"
	n := startNode(t, "admin: {token: %s}\nchannels:\n  - {name: sim, type: simulator, models: ['*']}\nkeys:\n  - {name: fixed, key: %s}\n", adminToken, fixed)
	admin := func(path, body string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, n.srv.URL+"/admin/api/"+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+adminToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}

	// A fixed secret shows the same prefix whether the config file seeded
	// it or the admin API created it: at most a quarter of it.
	resp := admin("keys", `{"name":"fixed-api","key":"sk-fixed-0123456789abcdeg"}`)
	var created struct{ Prefix string }
	_ = json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	keys, err := n.app.store.ListKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	seeded := false
	for _, k := range keys {
		seeded = seeded || k.Name == "fixed"
		if k.Name == "fixed" && (k.Prefix != rules.DisplayPrefix(fixed) || k.Prefix != created.Prefix) {
			t.Errorf("prefix of the seeded key %q, of the same-shaped key the admin API made %q, want %q",
				k.Prefix, created.Prefix, rules.DisplayPrefix(fixed))
		}
	}
	if !seeded || created.Prefix == "" {
		t.Fatalf("the seeded key (%t) or the created one (%q) is missing", seeded, created.Prefix)
	}

	must := func(_ string, err error) error { return err }
	sim := gateway.ChannelSimulator
	for _, c := range []struct {
		name string
		rule error
		yaml string   // a config file with the bad value
		api  string   // path under /admin/api/ and its JSON body
		body string   //
		cli  []string // `keys create` arguments; nil: the CLI has no such input
	}{
		{"key name", rules.Name("has space"),
			"keys:\n  - {name: 'has space'}\n",
			"keys", `{"name":"has space"}`, []string{"has space"}},
		{"key model glob", must(rules.ModelPattern("[x")),
			"keys:\n  - {name: a, models: ['[x']}\n",
			"keys", `{"name":"a","models":["[x"]}`, []string{"a", "--models", "[x"}},
		{"key empty model", must(rules.ModelPattern(" ")),
			"keys:\n  - {name: a, models: [' ']}\n",
			"keys", `{"name":"a","models":[" "]}`, []string{"a", "--models", " "}},
		{"budget too large", rules.BudgetUSD(1e12),
			"keys:\n  - {name: a, budget_usd: 1e12}\n",
			"keys", `{"name":"a","budget_usd":1e12}`, []string{"a", "--budget-usd", "1e12"}},
		{"negative budget", rules.BudgetUSD(-1),
			"keys:\n  - {name: a, budget_usd: -1}\n",
			"keys", `{"name":"a","budget_usd":-1}`, []string{"a", "--budget-usd", "-1"}},
		{"negative rpm", rules.Limit(-5),
			"keys:\n  - {name: a, rpm: -5}\n",
			"keys", `{"name":"a","rpm":-5}`, []string{"a", "--rpm", "-5"}},
		{"short secret", rules.Secret("short"),
			"keys:\n  - {name: a, key: short}\n",
			"keys", `{"name":"a","key":"short"}`, nil},
		{"secret with a control character", rules.Secret("sk-0123456789\x01abcdef"),
			"keys:\n  - {name: a, key: \"sk-0123456789\\x01abcdef\"}\n",
			"keys", `{"name":"a","key":"sk-0123456789\u0001abcdef"}`, nil},
		{"channel name", rules.Name("a/b"),
			"channels:\n  - {name: 'a/b', type: simulator, models: [m]}\n",
			"channels", `{"name":"a/b","type":"simulator","models":["m"]}`, nil},
		{"channel type", rules.ChannelType("opneai"),
			"channels:\n  - {name: c, type: opneai, api_keys: [k], models: [m]}\n",
			"channels", `{"name":"c","type":"opneai","api_keys":["k"],"models":["m"]}`, nil},
		{"base url scheme", must(rules.BaseURL(gateway.ChannelOpenAICompatible, "ftp://x")),
			"channels:\n  - {name: c, type: openai-compatible, base_url: 'ftp://x', api_keys: [k], models: [m]}\n",
			"channels", `{"name":"c","type":"openai-compatible","base_url":"ftp://x","api_keys":["k"],"models":["m"]}`, nil},
		{"base url required", must(rules.BaseURL(gateway.ChannelAzure, "")),
			"channels:\n  - {name: c, type: azure, api_keys: [k], models: [m]}\n",
			"channels", `{"name":"c","type":"azure","api_keys":["k"],"models":["m"]}`, nil},
		{"upstream key", rules.UpstreamKey("a b"),
			"channels:\n  - {name: c, type: openai, api_keys: ['a b'], models: [m]}\n",
			"channels", `{"name":"c","type":"openai","api_keys":["a b"],"models":["m"]}`, nil},
		{"header name", rules.HeaderName("Bad Header"),
			"channels:\n  - {name: c, type: openai, api_keys: [k], models: [m], headers: {'Bad Header': x}}\n",
			"channels", `{"name":"c","type":"openai","api_keys":["k"],"models":["m"],"headers":{"Bad Header":"x"}}`, nil},
		{"simulator latency", rules.Setting(sim, "latency", "fast"),
			"channels:\n  - {name: c, type: simulator, models: [m], settings: {latency: fast}}\n",
			"channels", `{"name":"c","type":"simulator","models":["m"],"settings":{"latency":"fast"}}`, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.rule == nil {
				t.Fatal("the rule accepts the input the test calls bad")
			}
			want := c.rule.Error()

			_, err := config.Parse("switchboard.yaml", []byte(c.yaml), nil)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("config file: %v\nwant it to contain %q", err, want)
			}

			resp := admin(c.api, c.body)
			var answer struct {
				Error struct{ Message string }
			}
			err = json.NewDecoder(resp.Body).Decode(&answer)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusBadRequest || !strings.Contains(answer.Error.Message, want) {
				t.Errorf("admin API: %d %q (%v)\nwant 400 containing %q", resp.StatusCode, answer.Error.Message, err, want)
			}

			if c.cli == nil {
				return
			}
			cmd := keysCmd()
			cmd.SetOut(io.Discard)
			cmd.SetErr(io.Discard)
			// The flags are checked before any store is opened: the
			// config path points nowhere on purpose.
			cmd.SetArgs(append(append([]string{"create"}, c.cli...), "--config", t.TempDir()+"/absent.yaml"))
			err = cmd.ExecuteContext(context.Background())
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("CLI: %v\nwant it to contain %q", err, want)
			}
		})
	}
}
