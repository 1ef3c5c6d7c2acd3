package telemetry

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"switchboard/internal/gateway"
	"switchboard/internal/relay"
)

// TraceOptions configure the tracer.
type TraceOptions struct {
	// Getenv reads the OTEL_* environment (os.LookupEnv in production).
	Getenv func(string) (string, bool)
	// Content records message content in spans (telemetry.trace_content).
	Content bool
	// Version is the service.version resource attribute.
	Version string
	// ChannelType finds a channel's type by id, for gen_ai.provider.name.
	ChannelType func(id int64) (gateway.ChannelType, bool)
}

// Tracer is the engine's relay.Tracer over the OpenTelemetry SDK: a
// SERVER span per call carrying the GenAI attributes, a CLIENT span per
// upstream attempt, and W3C trace context in and out.
type Tracer struct {
	tp      *sdktrace.TracerProvider
	tr      trace.Tracer
	prop    propagation.TextMapPropagator
	content bool
	chType  func(id int64) (gateway.ChannelType, bool)
}

var _ relay.Tracer = (*Tracer)(nil)

// maxContent bounds message content put on a span.
const maxContent = 16 << 10

// NewTracerFromEnv builds a tracer exporting over OTLP as the standard
// environment says: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
// OTEL_EXPORTER_OTLP_ENDPOINT (unset: no tracer, nil), and
// OTEL_EXPORTER_OTLP_TRACES_PROTOCOL or OTEL_EXPORTER_OTLP_PROTOCOL
// (http/protobuf, the default, or grpc). OTEL_SDK_DISABLED=true or
// OTEL_TRACES_EXPORTER=none turn tracing off. The exporter and SDK read
// the rest of the OTEL_* variables (headers, timeouts, sampler, batching,
// service name and resource attributes) themselves.
func NewTracerFromEnv(ctx context.Context, o TraceOptions) (*Tracer, error) {
	env := func(k string) string {
		if o.Getenv == nil {
			return ""
		}
		v, ok := o.Getenv(k)
		if !ok {
			return ""
		}
		return strings.TrimSpace(v)
	}
	if strings.EqualFold(env("OTEL_SDK_DISABLED"), "true") || env("OTEL_TRACES_EXPORTER") == "none" {
		return nil, nil
	}
	endpoint, signal := env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), true
	if endpoint == "" {
		endpoint, signal = env("OTEL_EXPORTER_OTLP_ENDPOINT"), false
	}
	if endpoint == "" {
		return nil, nil
	}
	protocol := env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if protocol == "" {
		protocol = env("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	var exp sdktrace.SpanExporter
	var err error
	switch protocol {
	case "", "http/protobuf":
		url := endpoint
		if !signal {
			// The base endpoint gets the signal's path (OTLP exporter spec).
			url = strings.TrimRight(endpoint, "/") + "/v1/traces"
		}
		exp, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(url))
	case "grpc":
		exp, err = otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(endpoint))
	default:
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL %q is not supported: use http/protobuf or grpc", protocol)
	}
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", "switchboard"), attribute.String("service.version", o.Version)),
		resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	return NewTracer(sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)), o), nil
}

// NewTracer wraps a tracer provider (tests give one with their own exporter).
func NewTracer(tp *sdktrace.TracerProvider, o TraceOptions) *Tracer {
	return &Tracer{
		tp: tp, tr: tp.Tracer("switchboard"), content: o.Content, chType: o.ChannelType,
		prop: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	}
}

// ForceFlush exports the spans ended so far.
func (t *Tracer) ForceFlush(ctx context.Context) error { return t.tp.ForceFlush(ctx) }

// Shutdown flushes and stops the exporter.
func (t *Tracer) Shutdown(ctx context.Context) error { return t.tp.Shutdown(ctx) }

// Content implements relay.Tracer.
func (t *Tracer) Content() bool { return t.content }

// TraceCall implements relay.Tracer.
func (t *Tracer) TraceCall(ctx context.Context, c *relay.Call) (context.Context, func(*gateway.UsageRecord)) {
	if c.Header != nil {
		ctx = t.prop.Extract(ctx, propagation.HeaderCarrier(c.Header))
	}
	op := OperationName(c.Spec.Endpoint())
	// A copy: the peeked name shares the request body's memory, and the
	// span outlives the call in the export queue.
	model := strings.Clone(c.Peek.Model)
	attrs := []attribute.KeyValue{
		attribute.String("gen_ai.operation.name", op),
		attribute.String("gen_ai.request.model", model),
		attribute.Bool("gen_ai.request.stream", c.Peek.Stream),
		attribute.String("switchboard.request_id", c.RequestID),
		attribute.String("switchboard.endpoint", c.Spec.Endpoint()),
	}
	if c.Key != nil {
		attrs = append(attrs, attribute.String("switchboard.key.name", c.Key.Name))
	}
	attrs = append(attrs, requestParams(c.Body.JSON)...)
	if t.content {
		attrs = append(attrs, requestContent(c.Body.JSON)...)
	}
	ctx, span := t.tr.Start(ctx, strings.TrimSpace(op+" "+model), trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
	return ctx, func(rec *gateway.UsageRecord) { t.endCall(span, c, rec) }
}

func (t *Tracer) endCall(span trace.Span, c *relay.Call, rec *gateway.UsageRecord) {
	u := rec.Usage
	attrs := []attribute.KeyValue{
		attribute.Int("http.response.status_code", rec.Status),
		attribute.Int("switchboard.attempts", rec.Attempts),
	}
	if rec.UpstreamModel != "" {
		attrs = append(attrs, attribute.String("gen_ai.response.model", strings.Clone(rec.UpstreamModel)))
	}
	if rec.ChannelName != "" {
		attrs = append(attrs, attribute.String("switchboard.channel", rec.ChannelName))
	}
	if p := t.provider(rec.ChannelID); p != "" {
		attrs = append(attrs, attribute.String("gen_ai.provider.name", p))
	}
	if rec.UsageSource != gateway.UsageMissing && !u.IsZero() {
		attrs = append(attrs,
			attribute.Int64("gen_ai.usage.input_tokens", u.InputTokens),
			attribute.Int64("gen_ai.usage.output_tokens", u.OutputTokens),
			attribute.Int64("gen_ai.usage.cache_read.input_tokens", u.CachedInputTokens),
			attribute.Int64("gen_ai.usage.cache_creation.input_tokens", u.CacheWriteTokens),
			attribute.Int64("gen_ai.usage.reasoning.output_tokens", u.ReasoningTokens),
			attribute.String("switchboard.usage_source", string(rec.UsageSource)),
		)
	}
	if rec.CostNanoUSD > 0 || rec.PriceNanoUSD > 0 {
		attrs = append(attrs, attribute.Int64("switchboard.cost_nano_usd", rec.CostNanoUSD), attribute.Int64("switchboard.price_nano_usd", rec.PriceNanoUSD))
	}
	if rec.TTFT > 0 {
		attrs = append(attrs, attribute.Float64("gen_ai.response.time_to_first_chunk", rec.TTFT.Seconds()))
	}
	if d, ok := c.Overhead(); ok {
		attrs = append(attrs, attribute.Float64("switchboard.overhead_ms", float64(d.Microseconds())/1000))
	}
	a := c.Answer()
	if a.ID != "" {
		attrs = append(attrs, attribute.String("gen_ai.response.id", a.ID))
	}
	if len(a.FinishReasons) > 0 {
		attrs = append(attrs, attribute.StringSlice("gen_ai.response.finish_reasons", a.FinishReasons))
	}
	if t.content && len(a.Text) > 0 {
		attrs = append(attrs, attribute.String("gen_ai.output.messages", outputMessages(a)))
	}
	if rec.Status >= 400 {
		attrs = append(attrs, attribute.String("error.type", strconv.Itoa(rec.Status)))
		span.SetStatus(codes.Error, rec.ErrorMessage)
	}
	span.SetAttributes(attrs...)
	span.End()
}

func (t *Tracer) provider(channelID int64) string {
	if channelID == 0 || t.chType == nil {
		return ""
	}
	typ, ok := t.chType(channelID)
	if !ok {
		return ""
	}
	return ProviderName(typ)
}

// TraceAttempt implements relay.Tracer.
func (t *Tracer) TraceAttempt(req *http.Request, c *relay.Call, a relay.Attempt) (*http.Request, func(relay.Attempt)) {
	attrs := []attribute.KeyValue{
		attribute.String("gen_ai.operation.name", OperationName(c.Spec.Endpoint())),
		attribute.String("gen_ai.request.model", strings.Clone(a.UpstreamModel)),
		attribute.String("gen_ai.provider.name", ProviderName(a.Channel.Type)),
		attribute.String("switchboard.channel", a.Channel.Name),
		attribute.Int("switchboard.upstream_key_index", a.KeyIndex),
		attribute.Bool("switchboard.pass_through", a.PassThrough),
		attribute.String("server.address", req.URL.Hostname()),
		attribute.String("http.request.method", req.Method),
	}
	if p := req.URL.Port(); p != "" {
		if n, err := strconv.Atoi(p); err == nil {
			attrs = append(attrs, attribute.Int("server.port", n))
		}
	}
	ctx, span := t.tr.Start(req.Context(), strings.TrimSpace(OperationName(c.Spec.Endpoint())+" "+a.UpstreamModel),
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	req = req.WithContext(ctx)
	t.prop.Inject(ctx, propagation.HeaderCarrier(req.Header))
	return req, func(a relay.Attempt) {
		if a.Status > 0 {
			span.SetAttributes(attribute.Int("http.response.status_code", a.Status))
		}
		span.SetAttributes(attribute.Float64("switchboard.time_to_headers_ms", float64(a.Duration.Microseconds())/1000))
		if a.Err != nil {
			typ := "no_response"
			if a.Status > 0 {
				typ = strconv.Itoa(a.Status)
			} else if a.Err.Kind == gateway.KindTimeout {
				typ = "timeout"
			}
			span.SetAttributes(attribute.String("error.type", typ))
			span.SetStatus(codes.Error, a.Err.Message)
		}
		span.End()
	}
}

// requestParams are the gen_ai.request.* attributes of a JSON body in any
// of the client formats (OpenAI, Anthropic, Gemini's generationConfig).
func requestParams(body []byte) []attribute.KeyValue {
	if len(body) == 0 {
		return nil
	}
	r := gjson.GetManyBytes(body,
		"max_tokens", "max_completion_tokens", "generationConfig.maxOutputTokens",
		"temperature", "generationConfig.temperature",
		"top_p", "generationConfig.topP",
		"top_k", "generationConfig.topK",
		"seed", "generationConfig.seed",
		"frequency_penalty", "generationConfig.frequencyPenalty",
		"presence_penalty", "generationConfig.presencePenalty",
		"n", "generationConfig.candidateCount",
		"stop", "stop_sequences", "generationConfig.stopSequences",
		"encoding_format",
	)
	first := func(rs ...gjson.Result) gjson.Result {
		for _, x := range rs {
			if x.Exists() && x.Type != gjson.Null {
				return x
			}
		}
		return gjson.Result{}
	}
	var out []attribute.KeyValue
	num := func(name string, v gjson.Result, integer bool) {
		if v.Type != gjson.Number {
			return
		}
		if integer {
			out = append(out, attribute.Int64(name, v.Int()))
		} else {
			out = append(out, attribute.Float64(name, v.Float()))
		}
	}
	num("gen_ai.request.max_tokens", first(r[0], r[1], r[2]), true)
	num("gen_ai.request.temperature", first(r[3], r[4]), false)
	num("gen_ai.request.top_p", first(r[5], r[6]), false)
	num("gen_ai.request.top_k", first(r[7], r[8]), false)
	num("gen_ai.request.seed", first(r[9], r[10]), true)
	num("gen_ai.request.frequency_penalty", first(r[11], r[12]), false)
	num("gen_ai.request.presence_penalty", first(r[13], r[14]), false)
	num("gen_ai.request.choice.count", first(r[15], r[16]), true)
	if stop := first(r[17], r[18], r[19]); stop.Exists() {
		var seqs []string
		if stop.IsArray() {
			for _, s := range stop.Array() {
				seqs = append(seqs, s.String())
			}
		} else if stop.Type == gjson.String {
			seqs = []string{stop.String()}
		}
		if len(seqs) > 0 {
			out = append(out, attribute.StringSlice("gen_ai.request.stop_sequences", seqs))
		}
	}
	if f := r[20]; f.Type == gjson.String {
		out = append(out, attribute.StringSlice("gen_ai.request.encoding_formats", []string{f.String()}))
	}
	return out
}

// requestContent is the opt-in content of a request: its messages
// (OpenAI and Anthropic messages, Gemini contents, embeddings input) and
// system instructions, as the client sent them, each bounded.
func requestContent(body []byte) []attribute.KeyValue {
	if len(body) == 0 {
		return nil
	}
	r := gjson.GetManyBytes(body, "messages", "contents", "input", "system", "systemInstruction")
	var out []attribute.KeyValue
	for _, in := range r[:3] {
		if in.Exists() {
			out = append(out, attribute.String("gen_ai.input.messages", bounded(in.Raw)))
			break
		}
	}
	for _, sys := range r[3:] {
		if sys.Exists() {
			out = append(out, attribute.String("gen_ai.system_instructions", bounded(sys.Raw)))
			break
		}
	}
	return out
}

func bounded(s string) string {
	if len(s) <= maxContent {
		return s
	}
	return s[:maxContent] + "…"
}

// outputMessages renders the answer text as the conventions' output
// messages: one assistant message with a text part.
func outputMessages(a *relay.Answer) string {
	type part struct {
		Type    string `json:"type"`
		Content string `json:"content"`
	}
	type message struct {
		Role         string `json:"role"`
		Parts        []part `json:"parts"`
		FinishReason string `json:"finish_reason,omitempty"`
	}
	m := message{Role: "assistant", Parts: []part{{Type: "text", Content: string(a.Text)}}}
	if len(a.FinishReasons) > 0 {
		m.FinishReason = a.FinishReasons[0]
	}
	b, _ := json.Marshal([]message{m})
	return string(b)
}
