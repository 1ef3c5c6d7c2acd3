package main

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"switchboard/internal/gateway"
	"switchboard/internal/gatewaytest"
)

const mcpConfig = `
admin:
  token: ` + e2eAdminToken + `
  mcp_writes: %t
channels:
  - name: oa
    type: openai
    base_url: %s
    api_keys: [sk-upstream-secret-1]
    models: [gpt-4o-mini]
keys:
  - name: alice
    key: ` + testKey + `
`

// bearer adds an Authorization header to every request.
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// mcpSession connects the official Go MCP SDK client to a node's /admin/mcp.
func mcpSession(t *testing.T, n *node, token string) (*mcp.ClientSession, error) {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "switchboard-test", Version: "1"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := c.Connect(ctx, &mcp.StreamableClientTransport{
		Endpoint: n.srv.URL + "/admin/mcp", HTTPClient: &http.Client{Transport: bearer{token, http.DefaultTransport}},
		MaxRetries: -1, DisableStandaloneSSE: true,
	}, nil)
	if err == nil {
		t.Cleanup(func() { s.Close() })
	}
	return s, err
}

// callTool calls a tool and returns its structured result as JSON.
func callTool(t *testing.T, s *mcp.ClientSession, name string, args map[string]any) (string, bool) {
	t.Helper()
	res, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("tool %s: %v", name, err)
	}
	if res.IsError {
		var text []string
		for _, c := range res.Content {
			if tc, ok := c.(*mcp.TextContent); ok {
				text = append(text, tc.Text)
			}
		}
		return strings.Join(text, "\n"), true
	}
	b, _ := json.Marshal(res.StructuredContent)
	return string(b), false
}

// An agent operates the gateway through the MCP server with the official
// SDK's client: it lists and tests channels, disables and enables one,
// creates a key, and reads usage and cost.
func TestAdminMCPWithWrites(t *testing.T) {
	t.Parallel()
	up := gatewaytest.NewUpstream(t, gatewaytest.OpenAIChat{Text: "OK", PromptTokens: 9, CompletionTokens: 1}.Handler())
	n := startNode(t, mcpConfig, true, up.URL)
	if _, err := mcpSession(t, n, "wrong-token-0123456789"); err == nil {
		t.Fatal("connected to /admin/mcp with a wrong token")
	}
	s, err := mcpSession(t, n, e2eAdminToken)
	if err != nil {
		t.Fatal(err)
	}
	tools, err := s.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range tools.Tools {
		names = append(names, tl.Name)
		if strings.HasPrefix(tl.Name, "list_") && (tl.Annotations == nil || !tl.Annotations.ReadOnlyHint) {
			t.Errorf("%s is not marked read-only", tl.Name)
		}
	}
	for _, want := range []string{"list_channels", "get_channel", "channel_health", "list_keys", "query_usage", "usage_summary", "list_prices",
		"enable_channel", "disable_channel", "enable_key", "disable_key", "create_key", "test_channel"} {
		if !slices.Contains(names, want) {
			t.Errorf("no tool %s among %v", want, names)
		}
	}

	out, isErr := callTool(t, s, "list_channels", nil)
	if isErr || !strings.Contains(out, `"name":"oa"`) || strings.Contains(out, "sk-upstream-secret-1") {
		t.Fatalf("list_channels: %s", out)
	}
	var chans struct {
		Data []struct{ ID int64 } `json:"data"`
	}
	_ = json.Unmarshal([]byte(out), &chans)
	id := chans.Data[0].ID

	// A real test call reaches the upstream and is in the ledger.
	before := up.Count()
	out, isErr = callTool(t, s, "test_channel", map[string]any{"id": id})
	if isErr || !strings.Contains(out, `"ok":true`) || !strings.Contains(out, `"answer":"OK"`) || up.Count() != before+1 {
		t.Errorf("test_channel: %s (upstream calls %d → %d)", out, before, up.Count())
	}
	n.usage(t, func(r gateway.UsageRecord) bool { return r.KeyName == "admin:test" && r.ChannelName == "oa" })

	if out, _ := callTool(t, s, "disable_channel", map[string]any{"id": id}); !strings.Contains(out, `"enabled":false`) {
		t.Errorf("disable_channel: %s", out)
	}
	// A disabled channel is not tested, and says why.
	if out, isErr := callTool(t, s, "test_channel", map[string]any{"id": id}); !isErr || !strings.Contains(out, "disabled") {
		t.Errorf("test of a disabled channel: %v %s", isErr, out)
	}
	if out, _ := callTool(t, s, "enable_channel", map[string]any{"id": id}); !strings.Contains(out, `"enabled":true`) {
		t.Errorf("enable_channel: %s", out)
	}

	out, isErr = callTool(t, s, "create_key", map[string]any{"name": "agent-made", "budget_usd": 1.5, "models": []string{"gpt-4o-mini"}})
	if isErr || !strings.Contains(out, `"key":"sk-`) || !strings.Contains(out, `"budget_usd":1.5`) {
		t.Fatalf("create_key: %s", out)
	}
	// The API's own validation answers through the tool.
	if out, isErr := callTool(t, s, "create_key", map[string]any{"name": "agent-made"}); !isErr || !strings.Contains(out, "409") {
		t.Errorf("duplicate create_key: %v %s", isErr, out)
	}

	out, _ = callTool(t, s, "usage_summary", map[string]any{"group_by": "key"})
	if !strings.Contains(out, `"key_name":"admin:test"`) || !strings.Contains(out, `"requests":1`) {
		t.Errorf("usage_summary: %s", out)
	}
	if out, _ := callTool(t, s, "query_usage", map[string]any{"limit": 5}); !strings.Contains(out, `"channel_name":"oa"`) {
		t.Errorf("query_usage: %s", out)
	}
	if out, _ := callTool(t, s, "list_prices", map[string]any{"model": "gpt-4o-mini"}); !strings.Contains(out, `"model":"gpt-4o-mini"`) {
		t.Errorf("list_prices: %s", out)
	}
}

// Without admin.mcp_writes the server is read-only: no tool that changes
// anything is offered, and calling one fails.
func TestAdminMCPReadOnly(t *testing.T) {
	t.Parallel()
	up := gatewaytest.NewUpstream(t, gatewaytest.OpenAIChat{Text: "OK"}.Handler())
	n := startNode(t, mcpConfig, false, up.URL)
	s, err := mcpSession(t, n, e2eAdminToken)
	if err != nil {
		t.Fatal(err)
	}
	tools, err := s.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tl := range tools.Tools {
		if tl.Annotations == nil || !tl.Annotations.ReadOnlyHint {
			t.Errorf("read-only server offers %s", tl.Name)
		}
	}
	if len(tools.Tools) != 7 {
		t.Errorf("%d tools, want the 7 read-only ones", len(tools.Tools))
	}
	res, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: "disable_channel", Arguments: map[string]any{"id": 1}})
	if err == nil && !res.IsError {
		t.Errorf("disable_channel ran on a read-only server")
	}
	if out, isErr := callTool(t, s, "list_keys", nil); isErr || !strings.Contains(out, `"name":"alice"`) {
		t.Errorf("list_keys: %s", out)
	}
}
