package config

import "net"

// Telemetry is the `telemetry` section (extension of issue 12): who may
// scrape /metrics, which labels it carries, and what traces may hold.
// Traces themselves are configured by the standard OTEL_EXPORTER_OTLP_*
// environment.
type Telemetry struct {
	// MetricsPublic serves /metrics on the main listener without the
	// admin token.
	MetricsPublic bool
	// MetricsAddr, when set, serves /metrics without a token on a listener
	// of its own (host:port), typically loopback or a private network.
	MetricsAddr string
	// MetricsKeyLabels adds the client key's name as a label to the cost,
	// price and token counters and exports each key's remaining budget.
	MetricsKeyLabels bool
	// TraceContent records request and answer messages in spans
	// (gen_ai.input.messages, gen_ai.output.messages): off by default.
	TraceContent bool
}

type rawTelemetry struct {
	MetricsPublic    scalar `yaml:"metrics_public"`
	MetricsAddr      scalar `yaml:"metrics_addr"`
	MetricsKeyLabels scalar `yaml:"metrics_key_labels"`
	TraceContent     scalar `yaml:"trace_content"`
}

// operator converts the extensions of issue 12: the telemetry section and
// admin.mcp_writes.
func (c *converter) operator(raw *rawConfig, cfg *Config) {
	cfg.Admin.MCPWrites = c.boolean(raw.Admin.MCPWrites, "admin.mcp_writes", false)
	c.telemetry(&raw.Telemetry, &cfg.Telemetry)
}

func (c *converter) telemetry(r *rawTelemetry, t *Telemetry) {
	t.MetricsPublic = c.boolean(r.MetricsPublic, "telemetry.metrics_public", false)
	t.MetricsKeyLabels = c.boolean(r.MetricsKeyLabels, "telemetry.metrics_key_labels", false)
	t.TraceContent = c.boolean(r.TraceContent, "telemetry.trace_content", false)
	t.MetricsAddr = c.str(r.MetricsAddr, "")
	if t.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(t.MetricsAddr); err != nil {
			c.fail("telemetry.metrics_addr", r.MetricsAddr.line(), "want host:port, got %q", t.MetricsAddr)
		}
	}
}
