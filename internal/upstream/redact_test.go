package upstream

import (
	"errors"
	"strings"
	"testing"

	"switchboard/internal/gateway"
)

func TestRedact(t *testing.T) {
	ch := &gateway.Channel{
		Type: gateway.ChannelOpenAICompatible, BaseURL: "https://LLM.internal.example:8443/v1",
		APIKeys: []string{"sk-live-0123456789abcdef", "sk-live-0123456789abcdef-long", "abc"},
		Headers: map[string]string{"X-Org-Token": "org-secret-token-42", "X-Flag": "1"},
	}
	cases := []struct{ in, want string }{
		{"Incorrect API key provided: sk-live-0123456789abcdef.", "Incorrect API key provided: [redacted]."},
		{"key sk-live-0123456789abcdef-long rejected", "key [redacted] rejected"},
		{"Incorrect API key provided: sk-proj-abcd****************************wxyz. See docs", "Incorrect API key provided: [redacted]. See docs"},
		{"POST https://llm.internal.example:8443/v1/chat/completions failed", "POST [redacted]/chat/completions failed"},
		{"connect to llm.internal.example refused", "connect to [redacted] refused"},
		{"upstream LLM.INTERNAL.EXAMPLE:8443 is down", "upstream [redacted] is down"},
		{"token org-secret-token-42 invalid", "token [redacted] invalid"},
		{"flag 1 and abc stay", "flag 1 and abc stay"},
		{"nothing to hide", "nothing to hide"},
		{"", ""},
	}
	for _, tc := range cases {
		if got := Redact(ch, tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// A channel on a provider's default base URL: its host goes too.
	oa := &gateway.Channel{Type: gateway.ChannelOpenAI, APIKeys: []string{"sk-xyz-123456"}}
	if got := Redact(oa, "see https://api.openai.com/v1/x or platform.openai.com"); got != "see [redacted]/v1/x or platform.openai.com" {
		t.Errorf("default base: %q", got)
	}
}

func TestRedactError(t *testing.T) {
	ch := &gateway.Channel{Type: gateway.ChannelAnthropic, BaseURL: "https://proxy.corp", APIKeys: []string{"sk-ant-secret-1"}}
	e := &gateway.Error{Message: "bad key sk-ant-secret-1 for https://proxy.corp", Type: "x", Code: "sk-ant-secret-1", Param: "proxy.corp", Err: errors.New("body: sk-ant-secret-1")}
	RedactError(ch, e)
	for _, s := range []string{e.Message, e.Code, e.Param, e.Err.Error()} {
		if strings.Contains(s, "sk-ant-secret-1") || strings.Contains(s, "proxy.corp") {
			t.Errorf("left in %q", s)
		}
	}
	if RedactError(ch, nil) != nil {
		t.Error("nil error")
	}
}

func FuzzRedact(f *testing.F) {
	f.Add("key sk-live-0123456789 at https://h.example/v1 ****", "sk-live-0123456789")
	f.Fuzz(func(t *testing.T, s, key string) {
		ch := &gateway.Channel{Type: gateway.ChannelOpenAICompatible, BaseURL: "https://h.example/v1", APIKeys: []string{key}}
		got := Redact(ch, s)
		if len(key) >= minRedactKey && !strings.Contains(Redacted, key) && strings.Contains(got, key) {
			t.Fatalf("Redact(%q) = %q still holds the key %q", s, got, key)
		}
		if strings.Contains(strings.ToLower(got), "h.example") {
			t.Fatalf("Redact(%q) = %q still holds the host", s, got)
		}
	})
}
