package adminmcp

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Tools are admin API calls made with the caller's own token; an API
// refusal is a tool error with the API's message.
func TestToolsCallTheAPIWithTheCallersToken(t *testing.T) {
	var got []string
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got = append(got, r.Method+" "+r.URL.RequestURI()+" "+r.Header.Get("Authorization")+" "+string(body))
		w.Header().Set("Content-Type", "application/json")
		if strings.HasSuffix(r.URL.Path, "/keys") && r.Method == http.MethodPost {
			w.WriteHeader(http.StatusConflict)
			_, _ = io.WriteString(w, `{"error":{"message":"name already in use","type":"conflict_error"}}`)
			return
		}
		_, _ = io.WriteString(w, `{"object":"list","data":[]}`)
	})
	srv := httptest.NewServer(Handler(Options{API: api, Writes: true, Version: "test"}))
	defer srv.Close()
	c := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil)
	hc := &http.Client{Transport: roundTripper(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer tok-123")
		return http.DefaultTransport.RoundTrip(r)
	})}
	s, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: srv.URL, HTTPClient: hc, MaxRetries: -1, DisableStandaloneSSE: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, tc := range []struct {
		tool    string
		args    map[string]any
		want    string
		isError bool
	}{
		{"list_channels", nil, "GET /admin/api/channels Bearer tok-123 ", false},
		{"usage_summary", map[string]any{"key_id": 3, "group_by": "model,day"}, "GET /admin/api/usage/summary?group_by=model%2Cday&key_id=3 Bearer tok-123 ", false},
		{"disable_key", map[string]any{"id": 7}, "POST /admin/api/keys/7/disable Bearer tok-123 ", false},
		{"create_key", map[string]any{"name": "x", "rpm": 5}, `POST /admin/api/keys Bearer tok-123 {"name":"x","rpm":5}`, true},
	} {
		got = nil
		res, err := s.CallTool(context.Background(), &mcp.CallToolParams{Name: tc.tool, Arguments: tc.args})
		if err != nil {
			t.Fatalf("%s: %v", tc.tool, err)
		}
		if len(got) != 1 || got[0] != tc.want {
			t.Errorf("%s sent %q, want %q", tc.tool, got, tc.want)
		}
		if res.IsError != tc.isError {
			t.Errorf("%s: isError %v", tc.tool, res.IsError)
		}
		if tc.isError {
			if text := res.Content[0].(*mcp.TextContent).Text; !strings.Contains(text, "409 name already in use") {
				t.Errorf("%s error text %q", tc.tool, text)
			}
		}
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
