// Package adminmcp serves the admin API as a Model Context Protocol server
// (streamable HTTP, the official Go SDK): tools to list, inspect, test and
// enable channels, create and disable keys, and query usage, cost and
// prices. Every tool is a call to the admin REST API with the caller's own
// admin token, so the MCP server validates and refuses exactly as the API
// does. Tools that change anything exist only when the operator enables
// writes.
package adminmcp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Options configure the server.
type Options struct {
	// API serves /admin/api/ (the gateway's handler).
	API http.Handler
	// Writes adds the tools that change state (admin.mcp_writes).
	Writes bool
	// Version is the server's advertised version.
	Version string
}

// Handler is the MCP endpoint. The caller puts the admin-token check in
// front of it; the tools forward the caller's Authorization header to the
// admin API.
func Handler(o Options) http.Handler {
	s := newServer(o)
	return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{
		// The admin token already binds a request to its operator; a
		// gateway behind a proxy sees non-localhost Host headers.
		DisableLocalhostProtection: true,
	})
}

// Result is what every tool returns: the admin API's JSON answer.
type Result = map[string]any

type idArgs struct {
	ID int64 `json:"id" jsonschema:"the object's id"`
}

type usageArgs struct {
	KeyID     int64  `json:"key_id,omitempty" jsonschema:"only this client key"`
	ChannelID int64  `json:"channel_id,omitempty" jsonschema:"only this channel"`
	Model     string `json:"model,omitempty" jsonschema:"only this client-facing model"`
	Status    string `json:"status,omitempty" jsonschema:"200, 4xx, 5xx or error"`
	Since     string `json:"since,omitempty" jsonschema:"from this time, RFC 3339"`
	Until     string `json:"until,omitempty" jsonschema:"until this time, RFC 3339"`
}

func (u usageArgs) query() url.Values {
	q := url.Values{}
	if u.KeyID > 0 {
		q.Set("key_id", strconv.FormatInt(u.KeyID, 10))
	}
	if u.ChannelID > 0 {
		q.Set("channel_id", strconv.FormatInt(u.ChannelID, 10))
	}
	for k, v := range map[string]string{"model": u.Model, "status": u.Status, "since": u.Since, "until": u.Until} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

type listUsageArgs struct {
	usageArgs
	Limit  int    `json:"limit,omitempty" jsonschema:"records per page, default 100"`
	Cursor string `json:"cursor,omitempty" jsonschema:"next_cursor of the previous page"`
}

type summaryArgs struct {
	usageArgs
	GroupBy string `json:"group_by,omitempty" jsonschema:"comma-separated: key, model, channel, day, hour"`
}

type pricesArgs struct {
	Model    string `json:"model,omitempty" jsonschema:"only models whose name contains this"`
	Operator bool   `json:"operator,omitempty" jsonschema:"only the operator's own prices"`
}

type createKeyArgs struct {
	Name         string   `json:"name" jsonschema:"the key's unique name"`
	Models       []string `json:"models,omitempty" jsonschema:"allowed models, globs; default all"`
	BudgetUSD    *float64 `json:"budget_usd,omitempty" jsonschema:"hard spend limit in USD"`
	BudgetPeriod string   `json:"budget_period,omitempty" jsonschema:"total, daily, weekly or monthly"`
	RPM          *int     `json:"rpm,omitempty" jsonschema:"requests per minute"`
	TPM          *int     `json:"tpm,omitempty" jsonschema:"tokens per minute"`
}

type testArgs struct {
	ID    int64  `json:"id" jsonschema:"the channel's id"`
	Model string `json:"model,omitempty" jsonschema:"the model to ask; default the channel's first"`
}

type noArgs struct{}

func newServer(o Options) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "switchboard-admin", Title: "Switchboard admin", Version: o.Version}, &mcp.ServerOptions{
		Instructions: "Operate a Switchboard AI gateway: channels (upstream accounts), client keys, usage and cost. " +
			"Money fields ending in _nano_usd are exact (1e-9 USD); _usd fields are for display.",
	})
	c := client{api: o.API}
	read := &mcp.ToolAnnotations{ReadOnlyHint: true}
	no := false
	write := &mcp.ToolAnnotations{DestructiveHint: &no, IdempotentHint: true}

	mcp.AddTool(s, &mcp.Tool{Name: "list_channels", Description: "List the upstream channels: type, models, priority, weight, enabled (upstream keys masked).", Annotations: read},
		func(ctx context.Context, r *mcp.CallToolRequest, _ noArgs) (*mcp.CallToolResult, Result, error) {
			return c.call(ctx, r, http.MethodGet, "/admin/api/channels", nil, nil)
		})
	mcp.AddTool(s, &mcp.Tool{Name: "get_channel", Description: "One channel by id.", Annotations: read},
		func(ctx context.Context, r *mcp.CallToolRequest, a idArgs) (*mcp.CallToolResult, Result, error) {
			return c.call(ctx, r, http.MethodGet, "/admin/api/channels/"+id(a.ID), nil, nil)
		})
	mcp.AddTool(s, &mcp.Tool{Name: "channel_health", Description: "Circuit breaker state of every channel and the state of each upstream key (ok, cooling, disabled).", Annotations: read},
		func(ctx context.Context, r *mcp.CallToolRequest, _ noArgs) (*mcp.CallToolResult, Result, error) {
			return c.call(ctx, r, http.MethodGet, "/admin/api/health", nil, nil)
		})
	mcp.AddTool(s, &mcp.Tool{Name: "list_keys", Description: "List the client API keys: models, budgets and spend so far, limits, enabled (never their secrets).", Annotations: read},
		func(ctx context.Context, r *mcp.CallToolRequest, _ noArgs) (*mcp.CallToolResult, Result, error) {
			return c.call(ctx, r, http.MethodGet, "/admin/api/keys", nil, nil)
		})
	mcp.AddTool(s, &mcp.Tool{Name: "query_usage", Description: "Ledger records of calls, newest first: key, model, channel, status, tokens, cost and price, latency, TTFT. Page with cursor.", Annotations: read},
		func(ctx context.Context, r *mcp.CallToolRequest, a listUsageArgs) (*mcp.CallToolResult, Result, error) {
			q := a.query()
			if a.Limit > 0 {
				q.Set("limit", strconv.Itoa(a.Limit))
			}
			if a.Cursor != "" {
				q.Set("cursor", a.Cursor)
			}
			return c.call(ctx, r, http.MethodGet, "/admin/api/usage", q, nil)
		})
	mcp.AddTool(s, &mcp.Tool{Name: "usage_summary", Description: "Totals of requests, errors, tokens, cost, price and margin, by key and by model, or grouped by key, model, channel, day or hour.", Annotations: read},
		func(ctx context.Context, r *mcp.CallToolRequest, a summaryArgs) (*mcp.CallToolResult, Result, error) {
			q := a.query()
			if a.GroupBy != "" {
				q.Set("group_by", a.GroupBy)
			}
			return c.call(ctx, r, http.MethodGet, "/admin/api/usage/summary", q, nil)
		})
	mcp.AddTool(s, &mcp.Tool{Name: "list_prices", Description: "The price table in effect (USD per million tokens) and the models routed today without a price.", Annotations: read},
		func(ctx context.Context, r *mcp.CallToolRequest, a pricesArgs) (*mcp.CallToolResult, Result, error) {
			q := url.Values{}
			if a.Model != "" {
				q.Set("model", a.Model)
			}
			if a.Operator {
				q.Set("operator", "true")
			}
			return c.call(ctx, r, http.MethodGet, "/admin/api/prices", q, nil)
		})
	if !o.Writes {
		return s
	}
	for _, t := range []struct{ name, desc, path string }{
		{"enable_channel", "Enable a channel for routing.", "/admin/api/channels/%s/enable"},
		{"disable_channel", "Disable a channel: no call is routed to it until it is enabled.", "/admin/api/channels/%s/disable"},
		{"enable_key", "Enable a client key.", "/admin/api/keys/%s/enable"},
		{"disable_key", "Disable a client key: its calls are refused at once, on every node.", "/admin/api/keys/%s/disable"},
	} {
		mcp.AddTool(s, &mcp.Tool{Name: t.name, Description: t.desc, Annotations: write},
			func(ctx context.Context, r *mcp.CallToolRequest, a idArgs) (*mcp.CallToolResult, Result, error) {
				return c.call(ctx, r, http.MethodPost, fmt.Sprintf(t.path, id(a.ID)), nil, nil)
			})
	}
	mcp.AddTool(s, &mcp.Tool{Name: "create_key", Description: "Create a client API key. The answer's key field is the secret, shown this once.",
		Annotations: &mcp.ToolAnnotations{DestructiveHint: &no}},
		func(ctx context.Context, r *mcp.CallToolRequest, a createKeyArgs) (*mcp.CallToolResult, Result, error) {
			return c.call(ctx, r, http.MethodPost, "/admin/api/keys", nil, a)
		})
	mcp.AddTool(s, &mcp.Tool{Name: "test_channel", Description: "Send a real minimal chat call (a few tokens, billed to the ledger as the admin test) to one channel and report latency, status and the answer.",
		Annotations: &mcp.ToolAnnotations{DestructiveHint: &no, OpenWorldHint: new(true)}},
		func(ctx context.Context, r *mcp.CallToolRequest, a testArgs) (*mcp.CallToolResult, Result, error) {
			body := map[string]any{}
			if a.Model != "" {
				body["model"] = a.Model
			}
			return c.call(ctx, r, http.MethodPost, "/admin/api/channels/"+id(a.ID)+"/test", nil, body)
		})
	return s
}

func id(n int64) string { return strconv.FormatInt(n, 10) }

// client calls the admin API in-process.
type client struct{ api http.Handler }

// call runs one admin API request with the MCP caller's Authorization
// header. An API error becomes a tool error the model can read (isError),
// not a protocol error.
func (c client) call(ctx context.Context, r *mcp.CallToolRequest, method, path string, q url.Values, body any) (*mcp.CallToolResult, Result, error) {
	// A server-side request always has a body (http.NoBody when empty).
	var rd io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, nil, err
		}
		rd = bytes.NewReader(b)
	}
	u := "http://switchboard.internal" + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, nil, err
	}
	if r.Extra != nil && r.Extra.Header != nil {
		req.Header.Set("Authorization", r.Extra.Header.Get("Authorization"))
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	w := &buffer{header: http.Header{}}
	c.api.ServeHTTP(w, req)
	var out Result
	if err := json.Unmarshal(w.body.Bytes(), &out); err != nil {
		return nil, nil, fmt.Errorf("%s %s: the admin API answered %d with no JSON object", method, path, w.status)
	}
	if w.status/100 != 2 {
		msg, _ := out["error"].(map[string]any)["message"].(string)
		res := &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf("%s %s: %d %s", method, path, w.status, strings.TrimSpace(msg))}}}
		return res, nil, nil
	}
	return nil, out, nil
}

// buffer is the response writer of an in-process admin API call.
type buffer struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *buffer) Header() http.Header { return b.header }

func (b *buffer) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *buffer) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}
