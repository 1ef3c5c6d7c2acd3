package telemetry

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"switchboard/internal/endpoint"
	"switchboard/internal/gateway"
	"switchboard/internal/llm"
	"switchboard/internal/relay"
)

func TestBoundedLabel(t *testing.T) {
	b := newBoundedLabel(3)
	for _, tc := range []struct{ in, want string }{
		{"a", "a"}, {"b", "b"}, {"a", "a"}, {"c", "c"}, {"d", OtherLabel}, {"b", "b"}, {"e", OtherLabel},
	} {
		if got := b.value(tc.in); got != tc.want {
			t.Errorf("value(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestOperationAndProviderNames(t *testing.T) {
	for _, tc := range []struct{ endpoint, want string }{
		{"chat.completions", "chat"}, {"messages", "chat"}, {"generateContent", "generate_content"},
		{"streamGenerateContent", "generate_content"}, {"embeddings", "embeddings"}, {"batchEmbedContents", "embeddings"},
		{"hub.playground", "chat"}, {"countTokens", "countTokens"},
	} {
		if got := OperationName(tc.endpoint); got != tc.want {
			t.Errorf("OperationName(%q) = %q, want %q", tc.endpoint, got, tc.want)
		}
	}
	for _, tc := range []struct {
		t    gateway.ChannelType
		want string
	}{
		{gateway.ChannelOpenAI, "openai"}, {gateway.ChannelAzure, "azure.ai.openai"}, {gateway.ChannelAnthropic, "anthropic"},
		{gateway.ChannelGemini, "gcp.gemini"}, {gateway.ChannelOpenAICompatible, "openai-compatible"},
	} {
		if got := ProviderName(tc.t); got != tc.want {
			t.Errorf("ProviderName(%q) = %q, want %q", tc.t, got, tc.want)
		}
	}
}

// A client that sends a thousand model names cannot make a thousand series.
func TestModelLabelsAreCapped(t *testing.T) {
	m := NewMetrics(MetricsOptions{MaxModels: 5})
	c := &relay.Call{Peek: endpoint.Peek{}}
	for i := range 1000 {
		rec := &gateway.UsageRecord{Endpoint: "chat.completions", Model: fmt.Sprintf("m%d", i), UpstreamModel: "u", ChannelName: "ch", Status: 200}
		m.Started(c)
		m.Finished(c, rec)
	}
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	var n int
	for _, line := range strings.Split(w.Body.String(), "\n") {
		if strings.HasPrefix(line, "gen_ai_server_request_duration_seconds_count{") {
			n++
		}
	}
	if n != 5 {
		t.Errorf("%d request-duration series for 1000 models, want 5 (4 names and %s)", n, OtherLabel)
	}
	if !strings.Contains(w.Body.String(), `gen_ai_request_model="_other"`) {
		t.Errorf("no %s series", OtherLabel)
	}
}

// BenchmarkObserver is what the metrics add to one call (Started, one
// attempt, Finished); compare with BenchmarkRelay's ns/op of a call.
func BenchmarkObserver(b *testing.B) {
	m := NewMetrics(MetricsOptions{ChannelType: func(int64) (gateway.ChannelType, bool) { return gateway.ChannelOpenAI, true }})
	ch := &gateway.Channel{ID: 1, Name: "oa", Type: gateway.ChannelOpenAI}
	c := &relay.Call{Peek: endpoint.Peek{Model: "gpt-4o-mini", Stream: true}}
	rec := &gateway.UsageRecord{Endpoint: "chat.completions", Model: "gpt-4o-mini", UpstreamModel: "gpt-4o-mini", ChannelID: 1, ChannelName: "oa",
		KeyName: "k", Status: 200, Stream: true, Latency: 300 * time.Millisecond, TTFT: 100 * time.Millisecond, Attempts: 1,
		Usage: llm.Usage{InputTokens: 12, OutputTokens: 20}, UsageSource: gateway.UsageFromUpstream, CostNanoUSD: 5000, PriceNanoUSD: 5000}
	b.ReportAllocs()
	for b.Loop() {
		m.Started(c)
		m.Attempted(c, relay.Attempt{Channel: ch, Status: 200})
		m.Finished(c, rec)
	}
}

func TestTracerFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     map[string]string
		want    bool
		wantErr bool
	}{
		{"unset", nil, false, false},
		{"endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, true, false},
		{"traces endpoint, grpc", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, true, false},
		{"disabled", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"}, false, false},
		{"exporter none", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"}, false, false},
		{"http/json", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := NewTracerFromEnv(context.Background(), TraceOptions{Getenv: func(k string) (string, bool) {
				v, ok := tc.env[k]
				return v, ok
			}})
			if (err != nil) != tc.wantErr || (tr != nil) != tc.want {
				t.Fatalf("tracer %v, err %v", tr != nil, err)
			}
			if tr != nil {
				_ = tr.Shutdown(context.Background())
			}
		})
	}
}

// Health and budget gauges are read at scrape time from the node's state.
func TestStateGauges(t *testing.T) {
	m := NewMetrics(MetricsOptions{
		KeyLabels: true,
		Channels: func(context.Context) ([]gateway.Channel, error) {
			return []gateway.Channel{
				{ID: 1, Name: "a", Type: gateway.ChannelOpenAI, Enabled: true, APIKeys: []string{"k0", "k1", "k2"}},
				{ID: 2, Name: "b", Type: gateway.ChannelAnthropic, Enabled: false, APIKeys: []string{"k0"}},
			}, nil
		},
		Health: func() []gateway.ChannelHealth {
			return []gateway.ChannelHealth{{ChannelID: 1, State: gateway.StateOpen, Keys: []gateway.KeyHealth{
				{Index: 1, State: gateway.KeyStateCooling}, {Index: 2, State: gateway.KeyStateDisabled},
			}}}
		},
		Keys: func(context.Context) ([]gateway.Key, error) {
			return []gateway.Key{{Name: "alice", BudgetNanoUSD: 5e9, SpentNanoUSD: 1e9, ReservedNanoUSD: 5e8}, {Name: "free"}}, nil
		},
		LedgerQueue: func() int { return 7 },
	})
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := w.Body.String()
	for _, want := range []string{
		`switchboard_channel_health_state{channel="a"} 2`,
		`switchboard_channel_health_state{channel="b"} 0`,
		`switchboard_channel_enabled{channel="b",type="anthropic"} 0`,
		`switchboard_upstream_key_state{channel="a",key_index="0"} 0`,
		`switchboard_upstream_key_state{channel="a",key_index="1"} 1`,
		`switchboard_upstream_key_state{channel="a",key_index="2"} 2`,
		`switchboard_key_budget_remaining_usd{key="alice"} 3.5`,
		`switchboard_key_budget_usd{key="alice"} 5`,
		`switchboard_ledger_queue_depth 7`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("no line %q", want)
		}
	}
	if strings.Contains(body, `key="free"`) {
		t.Errorf("a key without a budget has budget gauges")
	}
}
