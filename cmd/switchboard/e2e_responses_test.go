package main

// The OpenAI Responses API end to end with openai-go's Responses client:
// passed through to OpenAI, Azure and flagged OpenAI-compatible channels
// (unknown items, tools and fields travel raw), translated to chat
// completions, Anthropic and Gemini elsewhere.

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/tidwall/gjson"

	"switchboard/internal/gateway"
	"switchboard/internal/gatewaytest"
)

const respConfig = `
channels:
  - name: up-openai
    type: openai
    base_url: %s
    api_keys: [sk-upstream-openai]
    models: [gpt-5]
  - name: up-azure
    type: azure
    base_url: %s
    api_keys: [azure-upstream-key]
    models: [azure-gpt]
    model_map: {azure-gpt: gpt-deploy}
  - name: up-xai
    type: openai-compatible
    base_url: %s
    api_keys: [sk-upstream-xai]
    models: [grok-4]
    settings: {responses: native}
keys:
  - name: alice
    key: ` + testKey + `
    models: ["*"]
prices:
  gpt-5: {input_per_mtok: 1, output_per_mtok: 10}
`

type respEnv struct {
	n               *node
	openai, az, xai *gatewaytest.Upstream
	script          gatewaytest.OpenAIResponses
}

func startResponses(t *testing.T) *respEnv {
	t.Helper()
	script := gatewaytest.OpenAIResponses{Text: "Hello from the upstream.", Summary: "Thought briefly.", EncryptedContent: "gAAAA-opaque",
		InputTokens: 12, OutputTokens: 7, CachedTokens: 4, ReasoningTokens: 3}
	e := &respEnv{script: script,
		openai: gatewaytest.NewUpstream(t, script.Handler()),
		az:     gatewaytest.NewUpstream(t, script.Handler()),
		xai:    gatewaytest.NewUpstream(t, script.Handler()),
	}
	e.n = startNode(t, respConfig, e.openai.URL, e.az.URL, e.xai.URL)
	return e
}

func TestResponsesPassThrough(t *testing.T) {
	t.Parallel()
	e := startResponses(t)
	c := e.n.client(testKey, "/v1")
	cases := []struct {
		name, model string
		up          *gatewaytest.Upstream
		path, auth  string
		upModel     string
	}{
		{"openai", "gpt-5", e.openai, "/v1/responses", "Bearer sk-upstream-openai", "gpt-5"},
		{"azure", "azure-gpt", e.az, "/openai/responses", "", "gpt-deploy"},
		{"openai-compatible flagged native", "grok-4", e.xai, "/v1/responses", "Bearer sk-upstream-xai", "grok-4"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := c.Responses.New(context.Background(), responses.ResponseNewParams{
				Model:        tc.model,
				Instructions: openai.String("Be brief."),
				Input:        responses.ResponseNewParamsInputUnion{OfString: openai.String("Say hello")},
			}, option.WithJSONSet("x_vendor_field", map[string]any{"keep": true}))
			if err != nil {
				t.Fatal(err)
			}
			if resp.OutputText() != e.script.Text || resp.Usage.InputTokens != 12 || resp.Usage.OutputTokensDetails.ReasoningTokens != 3 {
				t.Errorf("answer %q usage %+v", resp.OutputText(), resp.Usage)
			}
			got := tc.up.Last(t)
			if got.Path != tc.path || gjson.GetBytes(got.Body, "model").Str != tc.upModel {
				t.Errorf("upstream got %s %s", got.Path, got.Body)
			}
			if tc.auth != "" && got.Header.Get("Authorization") != tc.auth {
				t.Errorf("upstream auth %q", got.Header.Get("Authorization"))
			}
			if tc.name == "azure" && (got.Header.Get("Api-Key") != "azure-upstream-key" || !strings.Contains(got.RawQuery, "api-version=2025-04-01-preview")) {
				t.Errorf("azure request %v %s", got.Header, got.RawQuery)
			}
			if !gjson.GetBytes(got.Body, "x_vendor_field.keep").Bool() || gjson.GetBytes(got.Body, "instructions").Str != "Be brief." {
				t.Errorf("fields did not travel raw: %s", got.Body)
			}
		})
	}

	t.Run("stream", func(t *testing.T) {
		stream := c.Responses.NewStreaming(context.Background(), responses.ResponseNewParams{
			Model: "gpt-5",
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Say hello")},
		})
		var text strings.Builder
		var types []string
		var completed responses.Response
		for stream.Next() {
			ev := stream.Current()
			types = append(types, ev.Type)
			switch ev.Type {
			case "response.output_text.delta":
				text.WriteString(ev.Delta)
			case "response.completed":
				completed = ev.Response
			}
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if text.String() != e.script.Text || completed.OutputText() != e.script.Text || completed.Usage.TotalTokens != 19 {
			t.Errorf("text %q completed %q usage %+v (events %v)", text.String(), completed.OutputText(), completed.Usage, types)
		}
		rec := e.n.usage(t, func(r gateway.UsageRecord) bool { return r.Endpoint == "responses" && r.Stream })
		if rec.Usage.InputTokens != 12 || rec.Usage.OutputTokens != 7 || rec.Usage.CachedInputTokens != 4 || rec.UsageSource != gateway.UsageFromUpstream {
			t.Errorf("ledger %+v", rec)
		}
	})

	t.Run("unknown items and tools travel raw", func(t *testing.T) {
		body := `{"model":"gpt-5","stream":false,"input":[
			{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}]},
			{"type":"additional_tools","id":"at_1","tools":[{"type":"function","name":"exec"}]},
			{"type":"compaction","id":"cmp_1","encrypted_content":"gAAA-compacted"}],
			"tools":[{"type":"custom","name":"apply_patch","format":{"type":"grammar","syntax":"lark","definition":"start: /.+/"}},{"type":"tool_search","execution":"server"}],
			"include":["reasoning.encrypted_content"],"client_metadata":{"a":"b"}}`
		resp := e.n.post(t, "/v1/responses", testKey, body, map[string]string{"Session-Id": "sess-1", "X-Codex-Turn-Metadata": `{"turn_id":"t1"}`, "Originator": "codex_exec"})
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
		got := e.openai.Last(t)
		if gjson.GetBytes(got.Body, "input.1.type").Str != "additional_tools" || gjson.GetBytes(got.Body, "input.2.encrypted_content").Str != "gAAA-compacted" ||
			gjson.GetBytes(got.Body, "tools.0.format.definition").Str != "start: /.+/" || gjson.GetBytes(got.Body, "client_metadata.a").Str != "b" {
			t.Errorf("upstream body changed: %s", got.Body)
		}
		for _, h := range []string{"Session-Id", "X-Codex-Turn-Metadata", "Originator"} {
			if got.Header.Get(h) == "" {
				t.Errorf("header %s not forwarded", h)
			}
		}
	})

	t.Run("errors in the OpenAI shape", func(t *testing.T) {
		resp := e.n.post(t, "/v1/responses", testKey, `{"input":"hi"}`, nil)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || gjson.GetBytes(b, "error.param").Str != "model" {
			t.Errorf("%d %s", resp.StatusCode, b)
		}
	})
}
