package upstream

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"switchboard/internal/gateway"
)

// TestClientPassThroughAllowList: what real clients send reaches their
// format's upstream; what steers the operator's account does not.
func TestClientPassThroughAllowList(t *testing.T) {
	openai := &gateway.Channel{Type: gateway.ChannelOpenAI}
	azure := &gateway.Channel{Type: gateway.ChannelAzure}
	compat := &gateway.Channel{Type: gateway.ChannelOpenAICompatible}
	anthropic := &gateway.Channel{Type: gateway.ChannelAnthropic}
	gemini := &gateway.Channel{Type: gateway.ChannelGemini}
	extended := &gateway.Channel{Type: gateway.ChannelOpenAI, Settings: map[string]string{
		SettingPassHeaders: "OpenAI-Organization, x-tenant-*", SettingPassQuery: "trace,debug_*",
	}}
	headers := []struct {
		ch   *gateway.Channel
		name string
		want bool
	}{
		// What clients need.
		{openai, "User-Agent", true},
		{gemini, "User-Agent", true},
		{openai, "X-Stainless-Lang", true},
		{anthropic, "X-Stainless-Retry-Count", true},
		{openai, "Openai-Beta", true},
		{azure, "Openai-Beta", true},
		{compat, "X-Client-Request-Id", true},
		{openai, "Originator", true},
		{openai, "Version", true},
		{openai, "Session-Id", true},
		{openai, "Thread-Id", true},
		{openai, "Session_id", true},
		{openai, "X-Codex-Turn-Metadata", true},
		{openai, "X-Codex-Beta-Features", true},
		{openai, "X-Openai-Subagent", true},
		{anthropic, "Anthropic-Version", true},
		{anthropic, "Anthropic-Beta", true},
		{anthropic, "X-App", true},
		{anthropic, "X-Claude-Code-Session-Id", true},
		{gemini, "X-Goog-Api-Client", true},
		// What steers the upstream or the operator's account.
		{openai, "Openai-Organization", false},
		{openai, "Openai-Project", false},
		{openai, "Chatgpt-Account-Id", false},
		{openai, "Idempotency-Key", false},
		{gemini, "X-Goog-User-Project", false},
		{openai, "X-Forwarded-Host", false},
		{anthropic, "X-Original-Url", false},
		{gemini, "X-Http-Method-Override", false},
		{openai, "Cookie2", false},
		{openai, "X-Portkey-Custom-Host", false},
		{anthropic, "Anthropic-Beta-Foo", false},
		{openai, "Anthropic-Beta", false}, // another format's header
		{gemini, "Openai-Beta", false},
		// Credentials and hop-by-hop: never.
		{openai, "Authorization", false},
		{anthropic, "X-Api-Key", false},
		{gemini, "X-Goog-Api-Key", false},
		{azure, "Api-Key", false},
		{openai, "Cookie", false},
		{openai, "Host", false},
		{openai, "Connection", false},
		{openai, "Transfer-Encoding", false},
		{openai, "X-Forwarded-For", false},
		// The operator's extensions.
		{extended, "Openai-Organization", true},
		{extended, "X-Tenant-Id", true},
		{extended, "X-Tenantid", false},
		{&gateway.Channel{Type: gateway.ChannelOpenAI, Settings: map[string]string{SettingPassHeaders: "Authorization,*"}}, "Authorization", false},
	}
	for _, tc := range headers {
		if got := ForwardHeader(tc.ch, tc.name); got != tc.want {
			t.Errorf("ForwardHeader(%s, %s) = %v, want %v", tc.ch.Type, tc.name, got, tc.want)
		}
	}
	query := []struct {
		ch   *gateway.Channel
		name string
		want bool
	}{
		{anthropic, "beta", true},
		{anthropic, "Beta", false},
		{gemini, "alt", false}, // the gateway frames the stream itself
		{gemini, "key", false},
		{gemini, "$key", false},
		{gemini, "access_token", false},
		{gemini, "quotaUser", false},
		{gemini, "$fields", false},
		{gemini, "fields", false},
		{openai, "api-version", false},
		{azure, "api-version", false},
		{openai, "beta", false},
		{extended, "trace", true},
		{extended, "debug_level", true},
		{extended, "key", false},
	}
	for _, tc := range query {
		if got := ForwardQuery(tc.ch, tc.name); got != tc.want {
			t.Errorf("ForwardQuery(%s, %s) = %v, want %v", tc.ch.Type, tc.name, got, tc.want)
		}
	}
}

// The allow-lists apply where requests are built: a client's steering
// headers and query parameters never reach the upstream.
func TestNewRequestAppliesAllowLists(t *testing.T) {
	ch := &gateway.Channel{Name: "g", Type: gateway.ChannelGemini, BaseURL: "https://g.example"}
	hdr := http.Header{"X-Goog-User-Project": {"victim"}, "X-Goog-Api-Client": {"genai-go/1"}, "X-Http-Method-Override": {"DELETE"}}
	q := url.Values{"access_token": {"t"}, "$key": {"k"}, "quotaUser": {"u"}, "alt": {"json"}}
	req, err := NewRequest(context.Background(), &Call{Channel: ch, APIKey: "up", Model: "gemini-x", Op: OpChat, Stream: true, Body: JSON([]byte("{}")), ClientHeader: hdr, ClientQuery: q})
	if err != nil {
		t.Fatal(err)
	}
	if req.URL.RawQuery != "alt=sse" {
		t.Errorf("query %q", req.URL.RawQuery)
	}
	if req.Header.Get("X-Goog-User-Project") != "" || req.Header.Get("X-Http-Method-Override") != "" || req.Header.Get("X-Goog-Api-Client") != "genai-go/1" {
		t.Errorf("headers %v", req.Header)
	}
}

func BenchmarkForwardHeader(b *testing.B) {
	ch := &gateway.Channel{Type: gateway.ChannelOpenAI, Settings: map[string]string{SettingPassHeaders: "X-A,X-B-*"}}
	b.ReportAllocs()
	for b.Loop() {
		ForwardHeader(ch, "X-Stainless-Package-Version")
		ForwardHeader(ch, "Openai-Organization")
	}
}
