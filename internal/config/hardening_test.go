package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

// The channel extensions of issue 7 travel in Settings, like the timeouts.
func TestHardeningChannelFields(t *testing.T) {
	cfg := mustParse(t, `
channels:
  - name: c
    type: openai
    api_keys: [sk-1]
    models: [gpt-4o]
    pass_headers: [OpenAI-Organization, X-Tenant-*]
    pass_query: [trace]
    max_stream_duration: 10m
    max_output_tokens: 4096
`, env())
	got := cfg.Channels()[0].Settings
	want := map[string]string{"connect_timeout": "10s", "pass_headers": "OpenAI-Organization,X-Tenant-*", "pass_query": "trace",
		"max_stream_duration": "10m0s", "max_output_tokens": "4096"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("settings %v, want %v", got, want)
	}
	_, err := Parse("s.yaml", []byte(`
channels:
  - name: c
    type: openai
    api_keys: [sk-1]
    models: [gpt-4o]
    pass_headers: ["bad header", "*"]
    pass_query: ["a=b"]
    max_stream_duration: -1s
    max_output_tokens: -5
`), env())
	for _, msg := range []string{
		`channels[0].pass_headers[0]: invalid name "bad header"`,
		`channels[0].pass_headers[1]: invalid name "*"`,
		`channels[0].pass_query[0]: invalid name "a=b"`,
		`channels[0].max_stream_duration: must be positive`,
		`channels[0].max_output_tokens: must be at least 0`,
	} {
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("error %v lacks %q", err, msg)
		}
	}
}

func TestHardeningServerFields(t *testing.T) {
	d := Default().Server
	if d.MaxInflightBodyMB != 256 || d.MaxInflightBodyBytes() != 256<<20 || d.OverloadWait != time.Second || d.MaxJSONDepth != 512 || d.WriteStallTimeout != 2*time.Minute {
		t.Errorf("defaults %+v", d)
	}
	_, err := Parse("s.yaml", []byte("server:\n  max_body_mb: 64\n  max_inflight_body_mb: 32\n  max_json_depth: 0\n  tls_cert_file: /c.pem\n"), env())
	for _, msg := range []string{
		"server.max_inflight_body_mb: must be at least max_body_mb (64), or 0 for no bound",
		"server.max_json_depth: must be between 1 and 10000",
		"server.tls_cert_file: tls_cert_file and tls_key_file go together",
	} {
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("error %v lacks %q", err, msg)
		}
	}
	cfg := mustParse(t, "server:\n  max_inflight_body_mb: 0\n", env())
	if cfg.Server.MaxInflightBodyBytes() != 0 {
		t.Error("0 must mean no bound")
	}
}

// settings.responses marks an OpenAI-compatible server that speaks the
// Responses API; nothing else takes it.
func TestResponsesSetting(t *testing.T) {
	cfg := mustParse(t, "channels:\n  - name: x\n    type: openai-compatible\n    base_url: https://api.x.ai\n    api_keys: [k]\n    models: [grok-4]\n    settings: {responses: native}\n", env())
	if got := cfg.Channels()[0].Settings["responses"]; got != "native" {
		t.Errorf("setting %q", got)
	}
	for _, typ := range []string{"openai", "azure", "openai-compatible"} {
		cfg := mustParse(t, "channels:\n  - name: x\n    type: "+typ+"\n    base_url: https://h\n    api_keys: [k]\n    models: [gpt-5-codex]\n    settings: {responses: only}\n", env())
		if got := cfg.Channels()[0].Settings["responses"]; got != "only" {
			t.Errorf("%s: setting %q", typ, got)
		}
	}
	for _, tc := range []struct{ typ, val string }{{"openai-compatible", "yes"}, {"anthropic", "native"}, {"openai", "native"}, {"gemini", "only"}} {
		_, err := Parse("s.yaml", []byte("channels:\n  - name: x\n    type: "+tc.typ+"\n    base_url: https://h\n    api_keys: [k]\n    models: [m]\n    settings: {responses: "+tc.val+"}\n"), env())
		if err == nil || !strings.Contains(err.Error(), "channels[0].settings.responses") {
			t.Errorf("%s %s: error %v", tc.typ, tc.val, err)
		}
	}
}
