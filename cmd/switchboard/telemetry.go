package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"switchboard/internal/admin"
	"switchboard/internal/adminmcp"
	"switchboard/internal/config"
	"switchboard/internal/gateway"
	"switchboard/internal/llm"
	"switchboard/internal/relay"
	"switchboard/internal/telemetry"
)

// telemetryState is the node's metrics, their optional listener of their
// own (telemetry.metrics_addr) and its tracer.
type telemetryState struct {
	metrics   *telemetry.Metrics
	metricsLn net.Listener
	metricsSv *http.Server
	tracer    *telemetry.Tracer
	engine    *relay.Engine
}

// newTracer gives the engine a tracer when the OTEL_EXPORTER_OTLP_*
// environment names a collector.
func (a *app) newTracer(ctx context.Context, rl *relay.Engine, getenv config.Getenv) error {
	tr, err := telemetry.NewTracerFromEnv(ctx, telemetry.TraceOptions{
		Getenv: getenv, Content: a.cfg.Telemetry.TraceContent, Version: version,
		ChannelType: a.channelType,
	})
	if err != nil {
		// Telemetry never keeps the gateway from serving.
		a.log.Error("tracing is off: the OTEL_EXPORTER_OTLP_* environment is not usable", "err", err)
		tr = nil
	}
	// The engine runs the admin API's channel tests too.
	a.telemetry.engine = rl
	if tr != nil {
		a.telemetry.tracer = tr
		rl.Tracer = tr
		a.log.Info("tracing over OTLP", "content", a.cfg.Telemetry.TraceContent)
	}
	return nil
}

func (a *app) channelType(id int64) (gateway.ChannelType, bool) {
	ch, ok := a.router.Channel(id)
	if !ok {
		return "", false
	}
	return ch.Type, true
}

func (a *app) newMetrics() {
	a.telemetry.metrics = telemetry.NewMetrics(telemetry.MetricsOptions{
		KeyLabels:   a.cfg.Telemetry.MetricsKeyLabels,
		ChannelType: a.channelType,
		Channels:    a.store.ListChannels,
		Health: func() []gateway.ChannelHealth {
			if h, ok := a.health.(admin.Health); ok {
				return h.Snapshot()
			}
			return nil
		},
		Keys: a.store.ListKeys,
		LedgerQueue: func() int {
			if a.ledger == nil {
				return 0
			}
			return a.ledger.QueueLen()
		},
	})
}

// withOperatorRoutes serves the operator's routes of issue 12 (/metrics,
// the admin MCP server at /admin/mcp) in front of the gateway's handler.
func (a *app) withOperatorRoutes(next http.Handler, adminAPI *admin.API) http.Handler {
	mux := http.NewServeMux()
	a.mountTelemetry(mux, adminAPI)
	mux.Handle("/admin/mcp", adminAPI.Protect(adminmcp.Handler(adminmcp.Options{API: next, Writes: a.cfg.Admin.MCPWrites, Version: version})))
	mux.Handle("/", next)
	return mux
}

// mountTelemetry serves GET /metrics on the main listener: with the admin
// token, unless telemetry.metrics_public says anyone may scrape.
func (a *app) mountTelemetry(mux *http.ServeMux, adminAPI *admin.API) {
	h := a.telemetry.metrics.Handler()
	if !a.cfg.Telemetry.MetricsPublic {
		h = adminAPI.Protect(h)
	}
	mux.Handle("GET /metrics", h)
}

// startMetricsListener serves /metrics without a token on
// telemetry.metrics_addr, when set.
func (a *app) startMetricsListener() error {
	addr := a.cfg.Telemetry.MetricsAddr
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("telemetry.metrics_addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.telemetry.metrics.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: time.Minute}
	a.telemetry.metricsLn, a.telemetry.metricsSv = ln, srv
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Warn("metrics listener stopped", "err", err)
		}
	}()
	a.log.Info("metrics listening", "addr", "http://"+ln.Addr().String()+"/metrics")
	return nil
}

// closeTelemetry stops the metrics listener and flushes the spans.
func (a *app) closeTelemetry(ctx context.Context) error {
	var errs []error
	if a.telemetry.metricsSv != nil {
		errs = append(errs, a.telemetry.metricsSv.Shutdown(ctx))
	}
	if a.telemetry.tracer != nil {
		errs = append(errs, a.telemetry.tracer.Shutdown(ctx))
	}
	return errors.Join(errs...)
}

// testChannel sends one real minimal chat call through the engine, pinned
// to the channel, for the admin API's channel test. It is billed to the
// ledger under the key name "admin:test" (key id 0).
func (a *app) testChannel(ctx context.Context, id int64, model string) (admin.ChannelTest, error) {
	ch, ok := a.router.Channel(id)
	if !ok {
		return admin.ChannelTest{}, gateway.ErrNotFound
	}
	res := admin.ChannelTest{ChannelID: id, Channel: ch.Name, Model: model}
	if !ch.Enabled {
		return res, fmt.Errorf("%w: channel %q is disabled: enable it to test it", admin.ErrChannelTest, ch.Name)
	}
	if res.Model == "" {
		for _, m := range ch.Models {
			if !strings.ContainsAny(m, "*?[") {
				res.Model = m
				break
			}
		}
	}
	if res.Model == "" {
		return res, fmt.Errorf("%w: channel %q lists no model by name: say which model to ask", admin.ErrChannelTest, ch.Name)
	}
	if !slices.Contains(ch.Models, res.Model) && ch.ModelMap[res.Model] == "" {
		return res, fmt.Errorf("%w: channel %q does not serve %q", admin.ErrChannelTest, ch.Name, res.Model)
	}
	maxTokens := 16
	req := &llm.Request{Model: res.Model, MaxTokens: &maxTokens, Messages: []llm.Message{
		{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartText, Text: "Reply with the single word OK."}}},
	}}
	key := &gateway.Key{Name: "admin:test", Models: []string{"*"}, Enabled: true}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	start := time.Now()
	var answer strings.Builder
	for ev, err := range a.telemetry.engine.Generate(ctx, relay.HubCall{Key: key, Request: req, Endpoint: "admin.test", ChannelID: id}) {
		if err != nil {
			res.Error = gateway.AsError(err).Message
			break
		}
		switch ev.Type {
		case llm.EventTextDelta:
			if res.TTFTMS == 0 {
				res.TTFTMS = ms(time.Since(start))
			}
			if answer.Len() < 4096 {
				answer.WriteString(ev.Text)
			}
		case llm.EventUsage:
			if ev.Usage != nil {
				res.InputTokens, res.OutputTokens = ev.Usage.InputTokens, ev.Usage.OutputTokens
			}
		case llm.EventError:
			res.Error = ev.Text
		}
	}
	res.LatencyMS = ms(time.Since(start))
	res.Answer = answer.String()
	res.OK = res.Error == ""
	return res, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
