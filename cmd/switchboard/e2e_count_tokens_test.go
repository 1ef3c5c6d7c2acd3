package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/tidwall/gjson"

	"switchboard/internal/gateway"
	"switchboard/internal/gatewaytest"
)

const ctConfig = `
channels:
  - name: up-openai
    type: openai
    base_url: %s
    api_keys: [sk-upstream-openai]
    models: [gpt-4o-mini]
  - name: up-anthropic
    type: anthropic
    base_url: %s
    api_keys: [sk-ant-upstream]
    models: [claude-sonnet-4-20250514]
  - name: up-gemini
    type: gemini
    base_url: %s
    api_keys: [gemini-upstream-key]
    models: [gemini-2.5-flash]
keys:
  - name: alice
    key: ` + testKey + `
    models: ["*"]
`

// Token counting is the provider's exact count where a channel of the
// client's format serves the model, and the gateway's estimate only
// otherwise; it never generates a message, and costs nothing.
func TestCountTokens(t *testing.T) {
	t.Parallel()
	oa := gatewaytest.NewUpstream(t, gatewaytest.OpenAIChat{Text: "never"}.Handler())
	an := gatewaytest.NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"input_tokens":1234}`)
	})
	ge := gatewaytest.NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"totalTokens":4321}`)
	})
	n := startNode(t, ctConfig, oa.URL, an.URL, ge.URL)
	ac := mxAnthropicClient(n, http.DefaultTransport)
	params := func(model string) anthropic.MessageCountTokensParams {
		return anthropic.MessageCountTokensParams{
			Model:    anthropic.Model(model),
			System:   anthropic.MessageCountTokensParamsSystemUnion{OfString: anthropic.String("be brief")},
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("How many tokens is this question?"))},
		}
	}

	got, err := ac.Messages.CountTokens(context.Background(), params("claude-sonnet-4-20250514"))
	if err != nil {
		t.Fatal(err)
	}
	if got.InputTokens != 1234 {
		t.Errorf("count %d, want the upstream's 1234", got.InputTokens)
	}
	rec := an.Last(t)
	if rec.Path != "/v1/messages/count_tokens" || rec.Header.Get("X-Api-Key") != "sk-ant-upstream" || rec.Header.Get("Anthropic-Version") == "" ||
		!strings.Contains(string(rec.Body), "How many tokens") {
		t.Errorf("anthropic got %s %v %s", rec.Path, rec.Header, rec.Body)
	}

	got, err = ac.Messages.CountTokens(context.Background(), params("gpt-4o-mini"))
	if err != nil {
		t.Fatal(err)
	}
	if got.InputTokens < 8 || got.InputTokens > 40 {
		t.Errorf("estimated count %d", got.InputTokens)
	}
	if oa.Count() != 0 {
		t.Errorf("an OpenAI upstream was called %d times to count tokens", oa.Count())
	}

	for model, want := range map[string]int64{"gemini-2.5-flash": 4321, "gpt-4o-mini": -1} {
		resp := n.post(t, "/v1beta/models/"+model+":countTokens?key="+testKey, "", `{"contents":[{"role":"user","parts":[{"text":"How many tokens is this question?"}]}]}`, nil)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		total := gjson.GetBytes(body, "totalTokens").Int()
		if resp.StatusCode != 200 || (want > 0 && total != want) || (want < 0 && (total < 5 || total > 30)) {
			t.Errorf("%s: %d %s", model, resp.StatusCode, body)
		}
	}
	if p := ge.Last(t).Path; p != "/v1beta/models/gemini-2.5-flash:countTokens" {
		t.Errorf("gemini path %s", p)
	}
	if oa.Count() != 0 {
		t.Errorf("an OpenAI upstream was called to count tokens")
	}
	// Counting is free: no ledger rows. A chat call after the counts is
	// recorded; once it is, the ledger holds it alone.
	resp := n.post(t, "/v1/chat/completions", testKey, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`, nil)
	resp.Body.Close()
	n.usage(t, func(r gateway.UsageRecord) bool { return r.Endpoint == "chat.completions" })
	if recs, err := n.app.store.ListUsage(context.Background(), gatewayLedgerAll); err != nil || len(recs) != 1 {
		t.Errorf("%d ledger rows, want only the chat call's (%v)", len(recs), err)
	}
}
