package openai

import (
	"errors"
	"testing"

	"switchboard/internal/gateway"
	"switchboard/internal/llm"
)

// The thinking controls chat UIs send for Gemini and Claude models through
// an OpenAI-format API map to the hub's reasoning.
func TestVendorThinkingExtensions(t *testing.T) {
	tests := []struct {
		name string
		body string
		want llm.Reasoning
	}{
		{"extra_body google", `"extra_body":{"google":{"thinking_config":{"thinking_budget":800,"include_thoughts":true}}}`,
			llm.Reasoning{Enabled: true, BudgetTokens: 800, IncludeThoughts: true}},
		{"flattened google", `"google":{"thinking_config":{"thinking_budget":1024,"include_thoughts":false}}`,
			llm.Reasoning{Enabled: true, BudgetTokens: 1024, HideThoughts: true}},
		{"camelCase", `"extra_body":{"google":{"thinkingConfig":{"thinkingBudget":-1,"thinkingLevel":"HIGH"}}}`,
			llm.Reasoning{Enabled: true, Effort: "high"}},
		{"budget 0 is off", `"extra_body":{"google":{"thinking_config":{"thinking_budget":0}}}`,
			llm.Reasoning{}},
		{"overrides reasoning_effort", `"reasoning_effort":"low","google":{"thinking_config":{"thinking_budget":4096}}`,
			llm.Reasoning{Enabled: true, Effort: "low", BudgetTokens: 4096}},
		{"extra_body thinking", `"extra_body":{"thinking":{"type":"enabled","budget_tokens":2048}}`,
			llm.Reasoning{Enabled: true, BudgetTokens: 2048}},
		{"top-level thinking wins", `"thinking":{"type":"enabled","budget_tokens":1024},"extra_body":{"thinking":{"type":"enabled","budget_tokens":9999}}`,
			llm.Reasoning{Enabled: true, BudgetTokens: 1024}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := DecodeRequest([]byte(`{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"hi"}],` + tt.body + `}`))
			if err != nil {
				t.Fatal(err)
			}
			if req.Reasoning == nil || *req.Reasoning != tt.want {
				t.Errorf("reasoning %+v, want %+v", req.Reasoning, tt.want)
			}
		})
	}
	for _, bad := range []struct{ body, param string }{
		{`"google":"yes"`, "google"},
		{`"extra_body":{"google":{"thinking_config":[]}}`, "google.thinking_config"},
		{`"google":{"thinking_config":{"thinking_budget":"lots"}}`, "google.thinking_config.thinking_budget"},
		{`"google":{"thinking_config":{"include_thoughts":"yes"}}`, "google.thinking_config.include_thoughts"},
	} {
		_, err := DecodeRequest([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}],` + bad.body + `}`))
		var ge *gateway.Error
		if !errors.As(err, &ge) || ge.Kind != gateway.KindInvalidRequest || ge.Param != bad.param {
			t.Errorf("%s: err %v, want a 400 naming %s", bad.body, err, bad.param)
		}
	}
}

// A request whose only messages are system/developer messages without
// content decodes to nothing to send: it is refused up front rather than
// re-encoded as messages: [] (which the decoder itself refuses).
func TestContentlessSystemOnlyRequestRefused(t *testing.T) {
	for _, body := range []string{
		`{"model":"m","messages":[{"role":"developer"}]}`,
		`{"model":"m","messages":[{"role":"system","content":""},{"role":"developer","content":[]}]}`,
	} {
		_, err := DecodeRequest([]byte(body))
		var ge *gateway.Error
		if !errors.As(err, &ge) || ge.Param != "messages" {
			t.Errorf("%s: err %v", body, err)
		}
	}
	if _, err := DecodeRequest([]byte(`{"model":"m","messages":[{"role":"system","content":"Say hi."}]}`)); err != nil {
		t.Errorf("a system prompt alone is a request: %v", err)
	}
}
