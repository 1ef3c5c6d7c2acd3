package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"switchboard/internal/admin"
	"switchboard/internal/config"
	"switchboard/internal/gateway"
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
}

// newTracer gives the engine a tracer when the OTEL_EXPORTER_OTLP_*
// environment names a collector.
func (a *app) newTracer(ctx context.Context, rl *relay.Engine, getenv config.Getenv) error {
	tr, err := telemetry.NewTracerFromEnv(ctx, telemetry.TraceOptions{
		Getenv: getenv, Content: a.cfg.Telemetry.TraceContent, Version: version,
		ChannelType: a.channelType,
	})
	if err != nil {
		return err
	}
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

// withOperatorRoutes serves the operator's routes of issue 12 (/metrics)
// in front of the gateway's handler.
func (a *app) withOperatorRoutes(next http.Handler, adminAPI *admin.API) http.Handler {
	mux := http.NewServeMux()
	a.mountTelemetry(mux, adminAPI)
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
