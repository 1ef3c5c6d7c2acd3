package main

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"switchboard/internal/gateway"
	"switchboard/internal/gatewaytest"
)

const metricsConfig = `
admin:
  token: ` + e2eAdminToken + `
telemetry:
  metrics_key_labels: %t
channels:
  - name: oa
    type: openai
    base_url: %s
    api_keys: [sk-upstream-secret-1]
    models: [gpt-4o-mini]
  - name: broken
    type: openai
    base_url: %s
    api_keys: [sk-upstream-secret-2]
    models: [gpt-4o]
    priority: 10
  - name: spare
    type: openai
    base_url: %s
    api_keys: [sk-upstream-secret-3]
    models: [gpt-4o]
keys:
  - name: alice
    key: ` + testKey + `
    budget_usd: 5
`

// scrape fetches /metrics with the given bearer token and parses it with
// Prometheus' own text parser.
func scrape(t *testing.T, url, token string) map[string]*dto.MetricFamily {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse exposition: %v", err)
	}
	return fams
}

// series finds the metric of family name whose labels include want.
func series(fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		return m
	}
	return nil
}

func labelNames(f *dto.MetricFamily) map[string]bool {
	out := map[string]bool{}
	for _, m := range f.GetMetric() {
		for _, l := range m.GetLabel() {
			out[l.GetName()] = true
		}
	}
	return out
}

func TestMetricsAfterRealCalls(t *testing.T) {
	t.Parallel()
	good := gatewaytest.NewUpstream(t, gatewaytest.OpenAIChat{Text: "hello there friend", PromptTokens: 12, CompletionTokens: 5, CachedTokens: 3, ReasoningTokens: 2}.Handler())
	bad := gatewaytest.NewUpstream(t, func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"error":{"message":"overloaded","type":"server_error"}}`, http.StatusServiceUnavailable)
	})
	n := startNode(t, metricsConfig, true, good.URL, bad.URL, good.URL)
	ctx := context.Background()
	c := n.client(testKey, "/v1")

	// One plain call, one stream, one call that fails over from "broken"
	// to "spare", one refused by the upstream's mistake-free 404 path.
	if _, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o-mini", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}); err != nil {
		t.Fatal(err)
	}
	st := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o-mini", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}})
	for st.Next() {
	}
	if err := st.Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}); err != nil {
		t.Fatal(err)
	}
	// The ledger has all three (its flusher has run) before we scrape.
	for _, id := range []string{"gpt-4o-mini", "gpt-4o"} {
		n.usage(t, func(r gateway.UsageRecord) bool { return r.Model == id })
	}

	// No token, no metrics; a client key is not the admin token either.
	for _, tok := range []string{"", testKey} {
		req, _ := http.NewRequest(http.MethodGet, n.srv.URL+"/metrics", nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET /metrics with token %q: %d, want 401", tok, resp.StatusCode)
		}
	}

	fams := scrape(t, n.srv.URL+"/metrics", e2eAdminToken)
	genai := map[string]string{"gen_ai_operation_name": "chat", "gen_ai_provider_name": "openai", "gen_ai_request_model": "gpt-4o-mini", "gen_ai_response_model": "gpt-4o-mini"}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range genai {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		count  uint64
		sum    float64 // checked when > 0
	}{
		{"gen_ai_client_token_usage", with(map[string]string{"gen_ai_token_type": "input"}), 2, 24},
		{"gen_ai_client_token_usage", with(map[string]string{"gen_ai_token_type": "output"}), 2, 10},
		{"gen_ai_server_request_duration_seconds", with(map[string]string{"error_type": ""}), 2, 0},
		{"gen_ai_server_time_to_first_token_seconds", genai, 2, 0},
		{"gen_ai_server_time_per_output_token_seconds", genai, 1, 0},
		{"switchboard_overhead_seconds", map[string]string{"endpoint": "chat.completions"}, 3, 0},
	} {
		m := series(fams, tc.name, tc.labels)
		if m == nil || m.GetHistogram() == nil {
			t.Errorf("%s%v: no histogram series", tc.name, tc.labels)
			continue
		}
		h := m.GetHistogram()
		if h.GetSampleCount() != tc.count {
			t.Errorf("%s%v: count %d, want %d", tc.name, tc.labels, h.GetSampleCount(), tc.count)
		}
		if tc.sum > 0 && h.GetSampleSum() != tc.sum {
			t.Errorf("%s%v: sum %v, want %v", tc.name, tc.labels, h.GetSampleSum(), tc.sum)
		}
	}
	counter := func(name string, labels map[string]string) float64 {
		t.Helper()
		m := series(fams, name, labels)
		if m == nil {
			t.Errorf("%s%v: no series", name, labels)
			return -1
		}
		if m.GetCounter() != nil {
			return m.GetCounter().GetValue()
		}
		return m.GetGauge().GetValue()
	}
	if v := counter("switchboard_requests_total", map[string]string{"endpoint": "chat.completions", "status": "200"}); v != 3 {
		t.Errorf("requests_total = %v, want 3", v)
	}
	if v := counter("switchboard_upstream_attempts_total", map[string]string{"channel": "broken", "status": "503"}); v != 1 {
		t.Errorf("attempts on broken = %v, want 1", v)
	}
	if v := counter("switchboard_upstream_attempts_total", map[string]string{"channel": "spare", "status": "200"}); v != 1 {
		t.Errorf("attempts on spare = %v, want 1", v)
	}
	if v := counter("switchboard_failovers_total", map[string]string{"endpoint": "chat.completions"}); v != 1 {
		t.Errorf("failovers = %v, want 1", v)
	}
	if v := counter("switchboard_tokens_total", map[string]string{"model": "gpt-4o-mini", "channel": "oa", "key": "alice", "type": "cached_input"}); v != 6 {
		t.Errorf("cached tokens = %v, want 6", v)
	}
	if v := counter("switchboard_tokens_total", map[string]string{"model": "gpt-4o-mini", "channel": "oa", "key": "alice", "type": "reasoning"}); v != 4 {
		t.Errorf("reasoning tokens = %v, want 4", v)
	}
	// Money: the metric agrees with the ledger to the nano-dollar's float.
	var ledgerPrice, ledgerCost int64
	recs, err := n.app.store.ListUsage(ctx, gatewayLedgerAll)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Model == "gpt-4o-mini" {
			ledgerPrice += r.PriceNanoUSD
			ledgerCost += r.CostNanoUSD
		}
	}
	if ledgerPrice <= 0 {
		t.Fatalf("ledger price %d: the model should be priced", ledgerPrice)
	}
	if v := counter("switchboard_price_usd_total", map[string]string{"model": "gpt-4o-mini", "channel": "oa", "key": "alice"}); !near(v, float64(ledgerPrice)/1e9) {
		t.Errorf("price_usd_total = %v, ledger says %v", v, float64(ledgerPrice)/1e9)
	}
	if v := counter("switchboard_cost_usd_total", map[string]string{"model": "gpt-4o-mini", "channel": "oa", "key": "alice"}); !near(v, float64(ledgerCost)/1e9) {
		t.Errorf("cost_usd_total = %v, ledger says %v", v, float64(ledgerCost)/1e9)
	}
	// State gauges, read at scrape time.
	if v := counter("switchboard_channel_health_state", map[string]string{"channel": "oa"}); v != 0 {
		t.Errorf("oa health state %v, want 0 (closed)", v)
	}
	if v := counter("switchboard_channel_enabled", map[string]string{"channel": "broken", "type": "openai"}); v != 1 {
		t.Errorf("broken enabled %v, want 1", v)
	}
	if v := counter("switchboard_upstream_key_state", map[string]string{"channel": "oa", "key_index": "0"}); v != 0 {
		t.Errorf("oa key 0 state %v, want 0", v)
	}
	if v := counter("switchboard_streams_in_flight", nil); v != 0 {
		t.Errorf("streams in flight %v after all calls ended", v)
	}
	if v := counter("switchboard_ledger_queue_depth", nil); v < 0 {
		t.Errorf("ledger queue depth %v", v)
	}
	if f := fams["switchboard_ledger_flush_duration_seconds"]; f == nil || f.GetMetric()[0].GetHistogram().GetSampleCount() == 0 {
		t.Errorf("no ledger flush observed")
	}
	keys, err := n.app.store.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range keys {
		if key.Name != "alice" {
			continue
		}
		left := float64(key.BudgetNanoUSD-key.SpentNanoUSD-key.ReservedNanoUSD) / 1e9
		if v := counter("switchboard_key_budget_remaining_usd", map[string]string{"key": "alice"}); !near(v, left) || v >= 5 {
			t.Errorf("budget remaining %v, store says %v", v, left)
		}
	}
	if fams["go_goroutines"] == nil {
		t.Errorf("no Go runtime metrics")
	}
}

// Without the opt-in, no metric carries a key label; with
// telemetry.metrics_public anyone may scrape the main listener, and with
// telemetry.metrics_addr anyone who reaches that listener.
func TestMetricsLabelsBoundedAndPublic(t *testing.T) {
	t.Parallel()
	good := gatewaytest.NewUpstream(t, gatewaytest.OpenAIChat{Text: "hi", PromptTokens: 1, CompletionTokens: 1}.Handler())
	n := startNode(t, strings.Replace(metricsConfig, "telemetry:\n", "telemetry:\n  metrics_public: true\n", 1), false, good.URL, good.URL, good.URL)
	sep := startNode(t, strings.Replace(metricsConfig, "telemetry:\n", "telemetry:\n  metrics_addr: 127.0.0.1:0\n", 1), false, good.URL, good.URL, good.URL)
	if f := scrape(t, "http://"+sep.app.telemetry.metricsLn.Addr().String()+"/metrics", ""); f["switchboard_requests_in_flight"] == nil {
		t.Errorf("metrics_addr listener: no switchboard metrics")
	}
	if resp, err := http.Get(sep.srv.URL + "/metrics"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("main listener of a node with metrics_addr still needs the admin token: %v %v", resp.StatusCode, err)
	}
	resp := n.post(t, "/v1/chat/completions", testKey, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`, nil)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("call: %d", resp.StatusCode)
	}
	fams := scrape(t, n.srv.URL+"/metrics", "")
	for name, f := range fams {
		if labelNames(f)["key"] {
			t.Errorf("%s has a key label without telemetry.metrics_key_labels", name)
		}
	}
	if fams["switchboard_key_budget_remaining_usd"] != nil {
		t.Errorf("budget per key exported without the opt-in")
	}
	if series(fams, "switchboard_requests_total", map[string]string{"status": "200"}) == nil {
		t.Errorf("no request counted")
	}
}

func near(a, b float64) bool {
	d := a - b
	if d < 0 {
		d = -d
	}
	return d <= 1e-9*max(1, b)
}

// Answers through the whole server carry the overhead headers: success,
// stream, and a refusal before any upstream call.
func TestOverheadHeadersOnAnswers(t *testing.T) {
	t.Parallel()
	good := gatewaytest.NewUpstream(t, gatewaytest.OpenAIChat{Text: "hi there", PromptTokens: 3, CompletionTokens: 2}.Handler())
	n := startNode(t, metricsConfig, false, good.URL, good.URL, good.URL)
	for _, tc := range []struct{ name, body string }{
		{"plain", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`},
		{"stream", `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`},
		{"unknown model", `{"model":"nope","messages":[{"role":"user","content":"hi"}]}`},
	} {
		resp := n.post(t, "/v1/chat/completions", testKey, tc.body, nil)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		ms, err := strconv.ParseFloat(resp.Header.Get("X-Switchboard-Overhead-Ms"), 64)
		if err != nil || ms < 0 {
			t.Errorf("%s (%d): X-Switchboard-Overhead-Ms %q", tc.name, resp.StatusCode, resp.Header.Get("X-Switchboard-Overhead-Ms"))
		}
		if st := resp.Header.Get("Server-Timing"); !strings.Contains(st, "gateway;") || !strings.Contains(st, "upstream;dur=") {
			t.Errorf("%s: Server-Timing %q", tc.name, st)
		}
	}
}
