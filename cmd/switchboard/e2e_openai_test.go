package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/tidwall/gjson"

	"switchboard/internal/gateway"
	"switchboard/internal/gatewaytest"
)

const openAIConfig = `
channels:
  - name: oa
    type: openai
    base_url: %s
    api_keys: [sk-upstream-secret-1]
    models: [gpt-4o, gpt-4o-mini, dall-e-3]
    model_map: {gpt-4o: gpt-4o-2024-11-20}
  - name: compat
    type: openai-compatible
    base_url: %s/v1
    api_keys: [sk-compat-secret]
    models: [deepseek-chat]
  - name: az
    type: azure
    base_url: %s
    api_keys: [azure-secret-key]
    models: [gpt-4.1]
    model_map: {gpt-4.1: my-deployment}
    settings: {api_version: "2025-01-01-preview"}
keys:
  - name: alice
    key: ` + testKey + `
    models: ["*"]
  - name: bob
    key: ` + testKeyLimit + `
    models: ["gpt-4o-mini", "deepseek-*"]
  - name: carol
    key: ` + testKeyBudget + `
    budget_usd: 0.000001
  - name: dave
    key: ` + testKeyDave + `
`

const testKeyDave = "sk-test-dave-0123456789ab"

func newOpenAIFixture(t *testing.T, o gatewaytest.OpenAIChat) (*node, *gatewaytest.Upstream, *gatewaytest.Upstream) {
	t.Helper()
	up := gatewaytest.NewUpstream(t, o.Handler())
	az := gatewaytest.NewUpstream(t, o.Handler())
	n := startNode(t, openAIConfig, up.URL, up.URL, az.URL)
	return n, up, az
}

func TestModelsListsWhatTheKeyMayUse(t *testing.T) {
	t.Parallel()
	n, _, _ := newOpenAIFixture(t, gatewaytest.OpenAIChat{Text: "hi"})
	ctx := context.Background()
	for _, tc := range []struct {
		key  string
		want []string
	}{
		{testKey, []string{"dall-e-3", "deepseek-chat", "gpt-4.1", "gpt-4o", "gpt-4o-mini"}},
		{testKeyLimit, []string{"deepseek-chat", "gpt-4o-mini"}},
	} {
		c := n.client(tc.key, "/v1")
		page, err := c.Models.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, m := range page.Data {
			got = append(got, m.ID)
		}
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("key %s: models %v, want %v", tc.key[:12], got, tc.want)
		}
	}
}

func TestChatNonStreamingPassThrough(t *testing.T) {
	t.Parallel()
	n, up, _ := newOpenAIFixture(t, gatewaytest.OpenAIChat{Text: "Hello from upstream", PromptTokens: 1000, CompletionTokens: 200, CachedTokens: 400, ReasoningTokens: 50})
	// Both base URL spellings work.
	for _, base := range []string{"/v1", ""} {
		c := n.client(testKey, base)
		resp, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
			Model:    "gpt-4o",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("be brief"), openai.UserMessage("hi")},
			Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{
				Name: "lookup", Parameters: openai.FunctionParameters{"type": "object", "properties": map[string]any{"q": map[string]any{"type": "string"}}},
			})},
			Modalities: []string{"text"},
			N:          openai.Int(1),
		}, option.WithJSONSet("x_unknown_field", map[string]any{"kept": true}), option.WithHeader("X-Client-Request-Id", "trace-1"), option.WithHeader("X-Client-Trace", "not-allowed"))
		if err != nil {
			t.Fatalf("base %q: %v", base, err)
		}
		if resp.Choices[0].Message.Content != "Hello from upstream" {
			t.Fatalf("content %q", resp.Choices[0].Message.Content)
		}
		if resp.Usage.PromptTokens != 1000 || resp.Usage.PromptTokensDetails.CachedTokens != 400 {
			t.Fatalf("usage not relayed: %+v", resp.Usage)
		}
		got := up.Last(t)
		if got.Path != "/v1/chat/completions" {
			t.Errorf("upstream path %q", got.Path)
		}
		if m := gjson.GetBytes(got.Body, "model").String(); m != "gpt-4o-2024-11-20" {
			t.Errorf("model not mapped: %q", m)
		}
		if !gjson.GetBytes(got.Body, "x_unknown_field.kept").Bool() {
			t.Errorf("unknown field lost: %s", got.Body)
		}
		if !gjson.GetBytes(got.Body, "tools.0.function.parameters.properties.q").Exists() || gjson.GetBytes(got.Body, "modalities.0").String() != "text" {
			t.Errorf("tools/modalities not passed through: %s", got.Body)
		}
		if h := got.Header.Get("Authorization"); h != "Bearer sk-upstream-secret-1" {
			t.Errorf("upstream auth %q", h)
		}
		// Pass-through headers are an allow-list (upstream/passthrough.go).
		if got.Header.Get("X-Client-Request-Id") != "trace-1" || got.Header.Get("X-Client-Trace") != "" {
			t.Errorf("client headers: X-Client-Request-Id %q, X-Client-Trace %q", got.Header.Get("X-Client-Request-Id"), got.Header.Get("X-Client-Trace"))
		}
		if gjson.GetBytes(got.Body, "stream_options").Exists() {
			t.Errorf("non-stream request got stream_options: %s", got.Body)
		}
	}
	rec := n.usage(t, func(r gateway.UsageRecord) bool { return r.Model == "gpt-4o" })
	if rec.Usage.InputTokens != 1000 || rec.Usage.CachedInputTokens != 400 || rec.Usage.OutputTokens != 200 || rec.Usage.ReasoningTokens != 50 {
		t.Errorf("ledger usage %+v", rec.Usage)
	}
	if rec.UpstreamModel != "gpt-4o-2024-11-20" || rec.ChannelName != "oa" || rec.KeyName != "alice" || rec.Status != 200 {
		t.Errorf("ledger record %+v", rec)
	}
	if rec.UsageSource != gateway.UsageFromUpstream {
		t.Errorf("usage source %q", rec.UsageSource)
	}
	// gpt-4o at $2.50 in / $1.25 cached / $10 out per Mtok:
	// 600*2500 + 400*1250 + 200*10000 nano-USD... per token prices are per
	// million, so cost = (600*2.5 + 400*1.25 + 200*10) / 1e6 USD.
	want := int64((600*2.5 + 400*1.25 + 200*10) * 1000)
	if rec.CostNanoUSD != want {
		t.Errorf("cost %d nano-USD, want %d", rec.CostNanoUSD, want)
	}
	if !strings.HasPrefix(rec.RequestID, "req_") {
		t.Errorf("request id %q", rec.RequestID)
	}
}

func TestChatStreamStripsInjectedUsage(t *testing.T) {
	t.Parallel()
	n, up, _ := newOpenAIFixture(t, gatewaytest.OpenAIChat{Text: "one two three four", PromptTokens: 12, CompletionTokens: 4})
	c := n.client(testKey, "/v1")
	for _, askUsage := range []bool{false, true} {
		params := openai.ChatCompletionNewParams{Model: "gpt-4o-mini", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("count")}}
		if askUsage {
			params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		}
		stream := c.Chat.Completions.NewStreaming(context.Background(), params)
		var text strings.Builder
		chunks, emptyChoices := 0, 0
		var usage openai.CompletionUsage
		for stream.Next() {
			ch := stream.Current()
			chunks++
			if len(ch.Choices) == 0 {
				emptyChoices++
				usage = ch.Usage
				continue
			}
			text.WriteString(ch.Choices[0].Delta.Content)
		}
		if err := stream.Err(); err != nil {
			t.Fatal(err)
		}
		if text.String() != "one two three four" {
			t.Errorf("streamed text %q", text.String())
		}
		if !gjson.GetBytes(up.Last(t).Body, "stream_options.include_usage").Bool() {
			t.Errorf("gateway did not ask the upstream for usage")
		}
		if askUsage && (emptyChoices != 1 || usage.CompletionTokens != 4) {
			t.Errorf("asked for usage: %d usage chunks, usage %+v", emptyChoices, usage)
		}
		if !askUsage && emptyChoices != 0 {
			t.Errorf("client that did not ask got %d usage chunks", emptyChoices)
		}
	}
	recs := 0
	n.usage(t, func(r gateway.UsageRecord) bool {
		if r.Stream && r.Usage.OutputTokens == 4 && r.Usage.InputTokens == 12 && r.UsageSource == gateway.UsageFromUpstream {
			recs++
		}
		return recs == 2
	})
}

func TestStreamIsFlushedPerEvent(t *testing.T) {
	t.Parallel()
	n, _, _ := newOpenAIFixture(t, gatewaytest.OpenAIChat{Text: "a b c d e", PromptTokens: 1, CompletionTokens: 5, ChunkDelay: 150 * time.Millisecond})
	resp := n.post(t, "/v1/chat/completions", testKey, `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"x"}]}`, nil)
	defer resp.Body.Close()
	start := time.Now()
	buf := make([]byte, 4096)
	var firstContent time.Duration
	var all strings.Builder
	for {
		nr, err := resp.Body.Read(buf)
		all.Write(buf[:nr])
		if firstContent == 0 && strings.Contains(all.String(), `"content":"a "`) {
			firstContent = time.Since(start)
		}
		if err != nil {
			break
		}
	}
	total := time.Since(start)
	if firstContent == 0 || firstContent > total/2 {
		t.Fatalf("first content after %s of %s: the stream was buffered", firstContent, total)
	}
}

func TestClientDisconnectCancelsUpstreamAndBills(t *testing.T) {
	t.Parallel()
	words := strings.Repeat("token ", 400)
	n, up, _ := newOpenAIFixture(t, gatewaytest.OpenAIChat{Text: words, PromptTokens: 9, CompletionTokens: 400, ChunkDelay: 5 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := n.client(testKey, "/v1")
	stream := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o-mini", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("go on")}})
	got := 0
	for stream.Next() {
		if len(stream.Current().Choices) > 0 && stream.Current().Choices[0].Delta.Content != "" {
			got++
		}
		if got == 10 {
			cancel()
			break
		}
	}
	_ = stream.Close()
	gatewaytest.WaitFor(t, 3*time.Second, "upstream request canceled", func() bool { return up.Canceled() == 1 })
	rec := n.usage(t, func(r gateway.UsageRecord) bool { return r.Status == 499 })
	if rec.UsageSource != gateway.UsageEstimated || rec.Usage.OutputTokens < 10 || rec.Usage.OutputTokens > 200 {
		t.Errorf("billed %+v (source %s) for ~10 streamed tokens", rec.Usage, rec.UsageSource)
	}
	if rec.CostNanoUSD == 0 {
		t.Error("a disconnected stream was billed nothing")
	}
}

func TestUpstreamWithoutUsageIsCounted(t *testing.T) {
	t.Parallel()
	n, _, _ := newOpenAIFixture(t, gatewaytest.OpenAIChat{Text: "The quick brown fox jumps over the lazy dog", NoUsage: true})
	c := n.client(testKey, "/v1")
	if _, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "deepseek-chat", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("tell me about foxes please")}}); err != nil {
		t.Fatal(err)
	}
	stream := c.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{Model: "deepseek-chat", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("tell me about foxes please")}})
	for stream.Next() {
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	for _, streamed := range []bool{false, true} {
		rec := n.usage(t, func(r gateway.UsageRecord) bool { return r.Model == "deepseek-chat" && r.Stream == streamed })
		if rec.UsageSource != gateway.UsageEstimated || rec.Usage.OutputTokens < 8 || rec.Usage.OutputTokens > 12 || rec.Usage.InputTokens < 5 {
			t.Errorf("stream=%v: estimated usage %+v source %s", streamed, rec.Usage, rec.UsageSource)
		}
	}
}

func TestAzureChannel(t *testing.T) {
	t.Parallel()
	n, _, az := newOpenAIFixture(t, gatewaytest.OpenAIChat{Text: "azure says hi", PromptTokens: 3, CompletionTokens: 3})
	c := n.client(testKey, "/v1")
	resp, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "gpt-4.1", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Message.Content != "azure says hi" {
		t.Fatalf("content %q", resp.Choices[0].Message.Content)
	}
	got := az.Last(t)
	if got.Path != "/openai/deployments/my-deployment/chat/completions" || got.RawQuery != "api-version=2025-01-01-preview" {
		t.Errorf("azure URL %s?%s", got.Path, got.RawQuery)
	}
	if got.Header.Get("Api-Key") != "azure-secret-key" || got.Header.Get("Authorization") != "" {
		t.Errorf("azure auth headers %v", got.Header)
	}
}

func TestOpenAICompatibleBaseWithV1(t *testing.T) {
	t.Parallel()
	n, up, _ := newOpenAIFixture(t, gatewaytest.OpenAIChat{Text: "ok", PromptTokens: 1, CompletionTokens: 1})
	c := n.client(testKeyLimit, "/v1")
	if _, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "deepseek-chat", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}); err != nil {
		t.Fatal(err)
	}
	if p := up.Last(t).Path; p != "/v1/chat/completions" {
		t.Errorf("path %q (base_url with /v1 must not double it)", p)
	}
}

func TestErrorsInOpenAIShape(t *testing.T) {
	t.Parallel()
	n, up, _ := newOpenAIFixture(t, gatewaytest.OpenAIChat{Text: "ok", PromptTokens: 1, CompletionTokens: 1})
	big := `{"model":"gpt-4o","messages":[{"role":"user","content":"` + strings.Repeat("x", 33<<20) + `"}]}`
	cases := []struct {
		name, key, body string
		status          int
		typ, code       string
	}{
		{"missing key", "", `{"model":"gpt-4o","messages":[]}`, 401, "authentication_error", "invalid_api_key"},
		{"invalid key", "sk-nope-000000000000", `{"model":"gpt-4o","messages":[]}`, 401, "authentication_error", "invalid_api_key"},
		{"model not allowed", testKeyLimit, `{"model":"gpt-4o","messages":[]}`, 403, "permission_error", "model_not_allowed"},
		{"unknown model", testKey, `{"model":"gpt-9","messages":[]}`, 404, "invalid_request_error", "model_not_found"},
		{"malformed json", testKey, `{"model":`, 400, "invalid_request_error", "invalid_json"},
		{"missing model", testKey, `{"messages":[]}`, 400, "invalid_request_error", "missing_required_parameter"},
		{"missing messages", testKey, `{"model":"gpt-4o"}`, 400, "invalid_request_error", "missing_required_parameter"},
		{"too large", testKey, big, 413, "invalid_request_error", "request_too_large"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := n.post(t, "/v1/chat/completions", tc.key, tc.body, nil)
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			id := resp.Header.Get("X-Request-Id")
			e := gjson.GetBytes(body, "error")
			if !e.IsObject() || e.Get("type").String() != tc.typ || e.Get("code").String() != tc.code {
				t.Fatalf("error body %s", body)
			}
			if id == "" || !strings.Contains(e.Get("message").String(), id) {
				t.Fatalf("request id %q not in error %s", id, body)
			}
		})
	}
	if up.Count() != 0 {
		t.Fatalf("rejected calls reached the upstream %d times", up.Count())
	}
}

func TestBudgetExhausted(t *testing.T) {
	t.Parallel()
	n, up, _ := newOpenAIFixture(t, gatewaytest.OpenAIChat{Text: "ok", PromptTokens: 1000, CompletionTokens: 1000})
	c := n.client(testKeyBudget, "/v1")
	// A budget of $0.000001 cannot cover even a minimal answer of gpt-4o
	// (pricing.min_output_tokens of output): the call is refused before
	// any upstream call rather than overdrawing the budget.
	_, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "gpt-4o", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || apiErr.Code != "insufficient_quota" {
		t.Fatalf("want 429 insufficient_quota, got %v", err)
	}
	if up.Count() != 0 {
		t.Errorf("a refused call reached the upstream")
	}
	k, err := n.app.store.KeyByHash(context.Background(), hashOf(testKeyBudget))
	if err != nil || k.SpentNanoUSD != 0 || k.ReservedNanoUSD != 0 {
		t.Errorf("key %+v (%v): want nothing spent or reserved", k, err)
	}
}

func TestUpstreamErrorsRelayedWithoutLeaks(t *testing.T) {
	t.Parallel()
	n, up, _ := newOpenAIFixture(t, gatewaytest.OpenAIChat{})
	up.SetHandler(gatewaytest.OpenAIError(400, "Invalid 'messages': too short", nil))
	resp := n.post(t, "/v1/chat/completions", testKey, `{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}`, nil)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || gjson.GetBytes(body, "error.message").String() == "" {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}
	if strings.Contains(string(body), up.URL) || strings.Contains(string(body), "sk-upstream") || strings.Contains(string(body), "127.0.0.1") {
		t.Fatalf("error leaks upstream details: %s", body)
	}
	if up.Count() != 1 {
		t.Fatalf("a caller error was retried: %d upstream calls", up.Count())
	}

	// A dead upstream: every channel fails → 503/502 in OpenAI shape, no leak.
	up.Close()
	resp = n.post(t, "/v1/chat/completions", testKey, `{"model":"gpt-4o","messages":[{"role":"user","content":"x"}]}`, nil)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode < 500 || !gjson.GetBytes(body, "error.message").Exists() {
		t.Fatalf("dead upstream: status %d body %s", resp.StatusCode, body)
	}
	if strings.Contains(string(body), "127.0.0.1") || strings.Contains(string(body), "dial") {
		t.Fatalf("error leaks transport details: %s", body)
	}
}

func TestNoHealthyChannel503(t *testing.T) {
	t.Parallel()
	n, up, _ := newOpenAIFixture(t, gatewaytest.OpenAIChat{})
	up.SetHandler(gatewaytest.OpenAIError(500, "boom", nil))
	// Open the breaker with failures of three callers (one caller's count
	// once), then expect 503 without an upstream call.
	for _, key := range []string{testKey, testKeyLimit, testKeyDave} {
		resp := n.post(t, "/v1/chat/completions", key, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}]}`, nil)
		resp.Body.Close()
	}
	before := up.Count()
	resp := n.post(t, "/v1/chat/completions", testKey, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}]}`, nil)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d body %s", resp.StatusCode, body)
	}
	if up.Count() != before {
		t.Fatalf("an open breaker still sent traffic")
	}
	var env struct {
		Error struct{ Type, Code string }
	}
	if err := json.Unmarshal(body, &env); err != nil || env.Error.Code != "no_available_channel" {
		t.Fatalf("body %s", body)
	}
}
