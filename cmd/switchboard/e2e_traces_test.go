package main

import (
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"switchboard/internal/gatewaytest"
)

// fakeCollector is an OTLP/HTTP trace receiver: it decodes what the
// gateway exports, as a real collector would.
type fakeCollector struct {
	*httptest.Server
	mu    sync.Mutex
	spans []*tracepb.Span
	res   []*commonpb.KeyValue
}

func newFakeCollector(t *testing.T) *fakeCollector {
	c := &fakeCollector{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "want POST /v1/traces application/x-protobuf", http.StatusBadRequest)
			return
		}
		b, _ := io.ReadAll(r.Body)
		var req coltrace.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		for _, rs := range req.GetResourceSpans() {
			c.res = rs.GetResource().GetAttributes()
			for _, ss := range rs.GetScopeSpans() {
				c.spans = append(c.spans, ss.GetSpans()...)
			}
		}
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
		_, _ = w.Write(out)
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *fakeCollector) all() []*tracepb.Span {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*tracepb.Span(nil), c.spans...)
}

// await flushes the node's spans until want SERVER spans arrived: a call's
// span ends when its handler returns, just after the client read the end.
func (c *fakeCollector) await(t *testing.T, n *node, want int) []*tracepb.Span {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := n.app.telemetry.tracer.ForceFlush(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		spans := c.all()
		got := 0
		for _, s := range spans {
			if s.GetKind() == tracepb.Span_SPAN_KIND_SERVER {
				got++
			}
		}
		if got >= want {
			return spans
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d call spans after 10s, want %d", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// attr reads a span attribute as a string, int, float, bool or string list.
func attr(kvs []*commonpb.KeyValue, key string) any {
	for _, kv := range kvs {
		if kv.GetKey() != key {
			continue
		}
		v := kv.GetValue()
		switch x := v.GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			return x.StringValue
		case *commonpb.AnyValue_IntValue:
			return x.IntValue
		case *commonpb.AnyValue_DoubleValue:
			return x.DoubleValue
		case *commonpb.AnyValue_BoolValue:
			return x.BoolValue
		case *commonpb.AnyValue_ArrayValue:
			var out []string
			for _, e := range x.ArrayValue.GetValues() {
				out = append(out, e.GetStringValue())
			}
			return strings.Join(out, ",")
		}
	}
	return nil
}

const tracesConfig = `
telemetry:
  trace_content: %t
channels:
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
  - name: claude
    type: anthropic
    base_url: %s
    api_keys: [sk-ant-secret]
    models: [claude-sonnet-4-5]
keys:
  - name: alice
    key: ` + testKey + `
`

const (
	clientTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	clientSpanID  = "00f067aa0ba902b7"
)

// One call from a client that sends a W3C traceparent: the collector gets
// the call's span as the client span's child, with the GenAI attributes,
// and one child per upstream attempt; the upstream that answered received
// the trace context of its attempt's span.
func TestTracesOverOTLP(t *testing.T) {
	t.Parallel()
	col := newFakeCollector(t)
	spare := gatewaytest.NewUpstream(t, gatewaytest.OpenAIChat{Text: "hello there friend", PromptTokens: 12, CompletionTokens: 5, CachedTokens: 3, ReasoningTokens: 2}.Handler())
	broken := gatewaytest.NewUpstream(t, func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"error":{"message":"overloaded","type":"server_error"}}`, http.StatusServiceUnavailable)
	})
	claude := gatewaytest.NewUpstream(t, gatewaytest.Anthropic{Text: "bonjour"}.Handler())
	n := startNodeEnv(t, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": col.URL, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"},
		tracesConfig, true, broken.URL, spare.URL, claude.URL)
	ctx := context.Background()
	c := openai.NewClient(option.WithBaseURL(n.srv.URL+"/v1"), option.WithAPIKey(testKey), option.WithMaxRetries(0),
		option.WithHeader("traceparent", "00-"+clientTraceID+"-"+clientSpanID+"-01"))
	if _, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model: "gpt-4o", Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("be brief"), openai.UserMessage("say hello")},
		MaxTokens: openai.Int(64), Temperature: openai.Float(0.5), Seed: openai.Int(7),
	}); err != nil {
		t.Fatal(err)
	}
	// A stream translated to Anthropic, without a client trace.
	plainClient := n.client(testKey, "/v1")
	st := plainClient.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model: "claude-sonnet-4-5", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}})
	for st.Next() {
	}
	if err := st.Err(); err != nil {
		t.Fatal(err)
	}

	spans := col.await(t, n, 2)
	byName := map[string][]*tracepb.Span{}
	for _, s := range spans {
		byName[s.GetName()] = append(byName[s.GetName()], s)
	}
	if attr(col.res, "service.name") != "switchboard" {
		t.Errorf("resource service.name %v", attr(col.res, "service.name"))
	}
	var call *tracepb.Span
	for _, s := range spans {
		if s.GetKind() == tracepb.Span_SPAN_KIND_SERVER && s.GetName() == "chat gpt-4o" {
			call = s
		}
	}
	if call == nil {
		t.Fatalf("no SERVER span \"chat gpt-4o\" among %d spans: %v", len(spans), byName)
	}
	if hex.EncodeToString(call.GetTraceId()) != clientTraceID || hex.EncodeToString(call.GetParentSpanId()) != clientSpanID {
		t.Errorf("call span trace %x parent %x: not the client's traceparent", call.GetTraceId(), call.GetParentSpanId())
	}
	for key, want := range map[string]any{
		"gen_ai.operation.name":                "chat",
		"gen_ai.provider.name":                 "openai",
		"gen_ai.request.model":                 "gpt-4o",
		"gen_ai.response.model":                "gpt-4o",
		"gen_ai.request.max_tokens":            int64(64),
		"gen_ai.request.temperature":           0.5,
		"gen_ai.request.seed":                  int64(7),
		"gen_ai.request.stream":                false,
		"gen_ai.response.id":                   "chatcmpl-fake",
		"gen_ai.response.finish_reasons":       "stop",
		"gen_ai.usage.input_tokens":            int64(12),
		"gen_ai.usage.output_tokens":           int64(5),
		"gen_ai.usage.cache_read.input_tokens": int64(3),
		"gen_ai.usage.reasoning.output_tokens": int64(2),
		"switchboard.channel":                  "spare",
		"switchboard.attempts":                 int64(2),
		"switchboard.key.name":                 "alice",
		"http.response.status_code":            int64(200),
	} {
		if got := attr(call.GetAttributes(), key); got != want {
			t.Errorf("call span %s = %v (%T), want %v", key, got, got, want)
		}
	}
	if ttft, _ := attr(call.GetAttributes(), "gen_ai.response.time_to_first_chunk").(float64); ttft <= 0 {
		t.Errorf("no time_to_first_chunk")
	}
	if in, _ := attr(call.GetAttributes(), "gen_ai.input.messages").(string); !strings.Contains(in, "say hello") {
		t.Errorf("input messages %q (content is opted in)", in)
	}
	if out, _ := attr(call.GetAttributes(), "gen_ai.output.messages").(string); !strings.Contains(out, "hello there friend") {
		t.Errorf("output messages %q (content is opted in)", out)
	}

	// Attempts: children of the call span, one per channel tried.
	var attempts []*tracepb.Span
	for _, s := range spans {
		if s.GetKind() == tracepb.Span_SPAN_KIND_CLIENT && string(s.GetParentSpanId()) == string(call.GetSpanId()) {
			attempts = append(attempts, s)
		}
	}
	if len(attempts) != 2 {
		t.Fatalf("%d attempt spans under the call, want 2", len(attempts))
	}
	status := map[string]any{}
	var spareSpan *tracepb.Span
	for _, a := range attempts {
		ch := attr(a.GetAttributes(), "switchboard.channel").(string)
		status[ch] = attr(a.GetAttributes(), "http.response.status_code")
		if ch == "spare" {
			spareSpan = a
		}
		if ch == "broken" && a.GetStatus().GetCode() != tracepb.Status_STATUS_CODE_ERROR {
			t.Errorf("the failed attempt's span is not an error: %v", a.GetStatus())
		}
	}
	if status["broken"] != int64(503) || status["spare"] != int64(200) {
		t.Errorf("attempt statuses %v", status)
	}
	// Propagated upstream: the answering upstream saw its attempt's span.
	tp := spare.Last(t).Header.Get("traceparent")
	if want := "00-" + clientTraceID + "-" + hex.EncodeToString(spareSpan.GetSpanId()) + "-01"; tp != want {
		t.Errorf("upstream traceparent %q, want %q", tp, want)
	}

	// The translated stream: its own trace, with the Anthropic answer's
	// id and stop reason, and the provider of its channel.
	var stream *tracepb.Span
	for _, s := range spans {
		if s.GetName() == "chat claude-sonnet-4-5" && s.GetKind() == tracepb.Span_SPAN_KIND_SERVER {
			stream = s
		}
	}
	if stream == nil {
		t.Fatalf("no span for the translated stream: %v", byName)
	}
	for key, want := range map[string]any{
		"gen_ai.provider.name": "anthropic", "gen_ai.request.stream": true, "gen_ai.response.id": "msg_fake", "gen_ai.response.finish_reasons": "end",
	} {
		if got := attr(stream.GetAttributes(), key); got != want {
			t.Errorf("stream span %s = %v, want %v", key, got, want)
		}
	}
}

// Without the opt-in, spans carry no message content; without the
// environment, there is no tracer at all.
func TestTracesWithoutContent(t *testing.T) {
	t.Parallel()
	col := newFakeCollector(t)
	up := gatewaytest.NewUpstream(t, gatewaytest.OpenAIChat{Text: "secret answer", PromptTokens: 3, CompletionTokens: 2}.Handler())
	n := startNodeEnv(t, map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": col.URL + "/v1/traces"}, tracesConfig, false, up.URL, up.URL, up.URL)
	resp := n.post(t, "/v1/chat/completions", testKey, `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"secret prompt"}]}`, nil)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	spans := col.await(t, n, 1)
	for _, s := range spans {
		for _, kv := range s.GetAttributes() {
			if v := kv.GetValue().GetStringValue(); strings.Contains(v, "secret") {
				t.Errorf("span %s attribute %s holds content: %q", s.GetName(), kv.GetKey(), v)
			}
		}
		if s.GetKind() == tracepb.Span_SPAN_KIND_SERVER {
			// A pass-through stream: id and finish reason read from its events.
			if attr(s.GetAttributes(), "gen_ai.response.id") != "chatcmpl-fake" || attr(s.GetAttributes(), "gen_ai.response.finish_reasons") != "stop" {
				t.Errorf("stream span lacks the answer's id or finish reason: %v", s.GetAttributes())
			}
		}
	}
	plain := startNode(t, tracesConfig, false, up.URL, up.URL, up.URL)
	if plain.app.telemetry.tracer != nil {
		t.Errorf("a tracer without OTEL_EXPORTER_OTLP_ENDPOINT")
	}
}
