package config

import (
	"strings"
	"testing"
	"time"
)

func TestTasksSection(t *testing.T) {
	noEnv := func(string) (string, bool) { return "", false }
	cfg, err := Parse("t.yaml", []byte(`
tasks:
  poll_interval: 2s
  max_poll_interval: 30s
  fetch_interval: 250ms
  timeout: 2h
  lease_ttl: 10s
  hook_secret: whsec_abc
  hook_allow_private: true
  hook_queue: 50
  hook_attempts: 3
  proxy_media: true
  public_url: https://gw.example.com/
  media_ttl: 6h
`), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := Tasks{PollInterval: 2 * time.Second, MaxPollInterval: 30 * time.Second, FetchInterval: 250 * time.Millisecond,
		Timeout: 2 * time.Hour, LeaseTTL: 10 * time.Second, HookSecret: "whsec_abc", HookAllowPrivate: true, HookQueue: 50,
		HookAttempts: 3, ProxyMedia: true, PublicURL: "https://gw.example.com", MediaTTL: 6 * time.Hour}
	if cfg.Tasks != want {
		t.Fatalf("tasks = %+v\nwant    %+v", cfg.Tasks, want)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"tasks:\n  proxy_media: true\n", "tasks.public_url: required when tasks.proxy_media is true"},
		{"tasks:\n  poll_interval: 2m\n  max_poll_interval: 1m\n", "tasks.poll_interval: must not exceed"},
		{"tasks:\n  poll_interval: 5\n", "needs a unit"},
		{"tasks:\n  hook_allow_private: maybe\n", "expected true or false"},
		{"tasks:\n  public_url: ftp://x\n", "tasks.public_url"},
		{"tasks:\n  pol_interval: 1s\n", "pol_interval"},
	} {
		_, err := Parse("t.yaml", []byte(tc.yaml), noEnv)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.yaml, err, tc.want)
		}
	}
}
