package gatewaytest

import (
	"strings"
	"testing"
)

// The fakes' history checks must refuse what the providers refuse, or the
// end-to-end tests that rely on them prove nothing.
func TestHistoryChecks(t *testing.T) {
	sigs := Signatures{"sig-ok": "I think.", "blob-ok": ""}
	tests := []struct {
		name, body string
		check      func([]byte) string
		bad        string // substring of the problem; "" means accepted
	}{
		{"openai paired", `{"messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"a"}]},{"role":"tool","tool_call_id":"a"},{"role":"user","content":"y"}]}`, openAIHistoryError, ""},
		{"openai unanswered", `{"messages":[{"role":"assistant","tool_calls":[{"id":"a"},{"id":"b"}]},{"role":"tool","tool_call_id":"a"},{"role":"user","content":"y"}]}`, openAIHistoryError, "did not have response messages: b"},
		{"openai stray result", `{"messages":[{"role":"assistant","tool_calls":[{"id":"a"}]},{"role":"tool","tool_call_id":"call_x"}]}`, openAIHistoryError, "must be a response"},
		{"anthropic paired", `{"thinking":{"type":"enabled"},"messages":[{"role":"assistant","content":[{"type":"thinking","thinking":"I think.","signature":"sig-ok"},{"type":"tool_use","id":"t1"}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1"}]}]}`, func(b []byte) string { return anthropicHistoryError(b, sigs) }, ""},
		{"anthropic mismatched ids", `{"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t1"}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t2"}]}]}`, func(b []byte) string { return anthropicHistoryError(b, nil) }, "without `tool_result`"},
		{"anthropic thinking missing", `{"thinking":{"type":"enabled"},"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t1"}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1"}]}]}`, func(b []byte) string { return anthropicHistoryError(b, nil) }, "Expected `thinking`"},
		{"anthropic foreign signature", `{"messages":[{"role":"assistant","content":[{"type":"thinking","thinking":"I think.","signature":"Q2lRQjBl"}]}]}`, func(b []byte) string { return anthropicHistoryError(b, sigs) }, "Invalid `signature`"},
		{"anthropic signature of other text", `{"messages":[{"role":"assistant","content":[{"type":"thinking","thinking":"I","signature":"sig-ok"}]}]}`, func(b []byte) string { return anthropicHistoryError(b, sigs) }, "Invalid `signature`"},
		{"gemini paired", `{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f"},"thoughtSignature":"sig-ok"}]},{"role":"user","parts":[{"functionResponse":{"name":"f"}}]}]}`, func(b []byte) string { return geminiHistoryError(b, sigs) }, ""},
		{"gemini unanswered", `{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f"}},{"functionCall":{"name":"g"}}]},{"role":"user","parts":[{"functionResponse":{"name":"f"}}]}]}`, func(b []byte) string { return geminiHistoryError(b, nil) }, "number of function response parts"},
		{"gemini foreign signature", `{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f"},"thoughtSignature":"RXFvQ0Nr"}]}]}`, func(b []byte) string { return geminiHistoryError(b, sigs) }, "not valid"},
		{"gemini skip value", `{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f"},"thoughtSignature":"skip_thought_signature_validator"}]}]}`, func(b []byte) string { return geminiHistoryError(b, sigs) }, ""},
	}
	for _, tt := range tests {
		got := tt.check([]byte(tt.body))
		switch {
		case tt.bad == "" && got != "":
			t.Errorf("%s: refused: %s", tt.name, got)
		case tt.bad != "" && !strings.Contains(got, tt.bad):
			t.Errorf("%s: problem %q, want one containing %q", tt.name, got, tt.bad)
		}
	}
}
