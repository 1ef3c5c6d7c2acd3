package config

import (
	"strings"
	"testing"
)

func TestTelemetrySection(t *testing.T) {
	none := func(string) (string, bool) { return "", false }
	cfg, err := Parse("f.yaml", []byte("admin:\n  mcp_writes: true\ntelemetry:\n  metrics_public: true\n  metrics_addr: 127.0.0.1:9464\n  metrics_key_labels: true\n  trace_content: true\n"), none)
	if err != nil {
		t.Fatal(err)
	}
	if tl := cfg.Telemetry; !tl.MetricsPublic || tl.MetricsAddr != "127.0.0.1:9464" || !tl.MetricsKeyLabels || !tl.TraceContent || !cfg.Admin.MCPWrites {
		t.Errorf("parsed %+v, mcp_writes %v", cfg.Telemetry, cfg.Admin.MCPWrites)
	}
	def, err := Parse("f.yaml", []byte("server:\n  addr: 127.0.0.1:8080\n"), none)
	if err != nil {
		t.Fatal(err)
	}
	if def.Telemetry != (Telemetry{}) || def.Admin.MCPWrites {
		t.Errorf("defaults %+v, mcp_writes %v: everything is off unless asked", def.Telemetry, def.Admin.MCPWrites)
	}
	for _, tc := range []struct{ src, want string }{
		{"telemetry:\n  metrics_addr: 9464\n", "telemetry.metrics_addr"},
		{"telemetry:\n  metrics_public: yes please\n", "telemetry.metrics_public"},
		{"telemetry:\n  trace_contents: true\n", "trace_contents"},
		{"admin:\n  mcp_writes: 1x\n", "admin.mcp_writes"},
	} {
		_, err := Parse("f.yaml", []byte(tc.src), none)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one naming %s", tc.src, err, tc.want)
		}
	}
}
