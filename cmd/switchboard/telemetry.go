package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"switchboard/internal/admin"
	"switchboard/internal/gateway"
	"switchboard/internal/telemetry"
)

// telemetryState is the node's metrics, their optional listener of their
// own (telemetry.metrics_addr) and its tracer.
type telemetryState struct {
	metrics   *telemetry.Metrics
	metricsLn net.Listener
	metricsSv *http.Server
}

func (a *app) newMetrics() {
	a.telemetry.metrics = telemetry.NewMetrics(telemetry.MetricsOptions{
		KeyLabels: a.cfg.Telemetry.MetricsKeyLabels,
		ChannelType: func(id int64) (gateway.ChannelType, bool) {
			ch, ok := a.router.Channel(id)
			if !ok {
				return "", false
			}
			return ch.Type, true
		},
		Channels: a.store.ListChannels,
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

func (a *app) closeTelemetry(ctx context.Context) error {
	if a.telemetry.metricsSv != nil {
		return a.telemetry.metricsSv.Shutdown(ctx)
	}
	return nil
}
