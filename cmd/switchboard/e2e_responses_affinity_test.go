package main

// A conversation stays on one OpenAI account while it is healthy, and a
// call that must fail over to another account leaves behind the
// encrypted items only the first could decrypt.

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tidwall/gjson"

	"switchboard/internal/gatewaytest"
)

const affinityConfig = `
channels:
  - name: acct-a
    type: openai
    base_url: %s
    api_keys: [sk-a1, sk-a2]
    models: [gpt-5-codex]
  - name: acct-b
    type: openai
    base_url: %s
    api_keys: [sk-b1, sk-b2]
    models: [gpt-5-codex]
keys:
  - name: alice
    key: ` + testKey + `
    models: ["*"]
`

func TestResponsesAffinityAndFailover(t *testing.T) {
	t.Parallel()
	ok := gatewaytest.OpenAIResponses{Text: "ok", InputTokens: 3, OutputTokens: 1}.Handler()
	a, b := gatewaytest.NewUpstream(t, ok), gatewaytest.NewUpstream(t, ok)
	n := startNode(t, affinityConfig, a.URL, b.URL)
	body := `{"model":"gpt-5-codex","prompt_cache_key":"%s","input":[{"role":"user","content":"hi"},` +
		`{"type":"reasoning","id":"rs_1","summary":[],"encrypted_content":"gAAAA-account-a"},{"role":"user","content":"more"}]}`

	t.Run("one conversation, one account and key", func(t *testing.T) {
		for _, thread := range []string{"thread-1", "thread-2", "thread-3"} {
			keys := map[string]int{}
			for range 6 {
				status, out := n.do(t, http.MethodPost, "/v1/responses", testKey, sprintfBody(body, thread))
				if status != 200 {
					t.Fatalf("%d %s", status, out)
				}
			}
			for _, up := range []*gatewaytest.Upstream{a, b} {
				for _, r := range up.Requests() {
					if gjson.GetBytes(r.Body, "prompt_cache_key").Str == thread {
						keys[r.Header.Get("Authorization")]++
					}
				}
			}
			if len(keys) != 1 {
				t.Errorf("%s went to %v", thread, keys)
			}
		}
	})

	t.Run("failover strips encrypted items", func(t *testing.T) {
		var calls atomic.Int32
		fail := func(w http.ResponseWriter, r *http.Request) {
			if calls.Add(1) == 1 {
				gatewaytest.OpenAIError(http.StatusInternalServerError, "boom", nil)(w, r)
				return
			}
			ok(w, r)
		}
		a.SetHandler(fail)
		b.SetHandler(fail)
		before := a.Count() + b.Count()
		status, out := n.do(t, http.MethodPost, "/v1/responses", testKey, sprintfBody(body, "thread-failover"))
		if status != 200 || a.Count()+b.Count() != before+2 {
			t.Fatalf("%d %s (%d calls)", status, out, a.Count()+b.Count()-before)
		}
		var first, second []byte
		for _, up := range []*gatewaytest.Upstream{a, b} {
			for _, r := range up.Requests() {
				if gjson.GetBytes(r.Body, "prompt_cache_key").Str != "thread-failover" {
					continue
				}
				if gjson.GetBytes(r.Body, "input.#").Int() == 3 {
					first = r.Body
				} else {
					second = r.Body
				}
			}
		}
		if first == nil || second == nil || gjson.GetBytes(second, "input.#").Int() != 2 || gjson.GetBytes(second, `input.#(type=="reasoning")`).Exists() {
			t.Errorf("first attempt %s\nsecond attempt %s", first, second)
		}
	})
}

func sprintfBody(tmpl, thread string) string { return strings.Replace(tmpl, "%s", thread, 1) }
