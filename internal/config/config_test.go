package config

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"switchboard/internal/gateway"
	"switchboard/internal/rules"
)

// env returns a Getenv over a fixed map.
func env(kv ...string) Getenv {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func mustParse(t *testing.T, src string, getenv Getenv) *Config {
	t.Helper()
	cfg, err := Parse("switchboard.yaml", []byte(src), getenv)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return cfg
}

func TestDefaults(t *testing.T) {
	d := Default()
	if d.Server.Addr != "127.0.0.1:8080" || d.Storage.Database != "sqlite://data/switchboard.db" ||
		d.Server.MaxBodyMB != 32 || d.Server.MaxBodyBytes() != 32<<20 || d.Log.Level != slog.LevelInfo || d.Log.Format != "text" {
		t.Errorf("Default() = %+v", d)
	}
	for _, src := range []string{"", "\n# only a comment\n", "---\n", "~\n"} {
		cfg := mustParse(t, src, env())
		want := Default()
		want.File = "switchboard.yaml"
		if !reflect.DeepEqual(cfg, want) {
			t.Errorf("Parse(%q) = %+v, want defaults", src, cfg)
		}
	}

	cfg := mustParse(t, `
channels:
  - name: c
    type: openai
    api_keys: [sk-1]
    models: [gpt-4o]
keys:
  - name: k
`, env())
	ch := cfg.Upstreams[0]
	if ch.BaseURL != "https://api.openai.com" || ch.Priority != 0 || ch.Weight != 1 ||
		ch.Timeout != 120*time.Second || ch.ConnectTimeout != 10*time.Second || !ch.Enabled || ch.Source != "config" {
		t.Errorf("channel defaults: %+v", ch)
	}
	k := cfg.ClientKeys[0]
	if !reflect.DeepEqual(k.Models, []string{"*"}) || !k.Enabled || k.BudgetNanoUSD != 0 || k.Secret != "" {
		t.Errorf("key defaults: %+v", k)
	}
	for typ, want := range map[string]string{"anthropic": "https://api.anthropic.com", "gemini": "https://generativelanguage.googleapis.com"} {
		cfg := mustParse(t, "channels: [{name: c, type: "+typ+", api_keys: [k], models: [m]}]", env())
		if got := cfg.Upstreams[0].BaseURL; got != want {
			t.Errorf("%s base_url = %q, want %q", typ, got, want)
		}
	}
}

func TestParseValid(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		env   Getenv
		check func(t *testing.T, c *Config)
	}{
		{
			name: "every field",
			src: `
server:
  addr: 0.0.0.0:9090
  max_body_mb: 64
  read_header_timeout: 5s
  read_timeout: 1m
  write_timeout: 0
  idle_timeout: 90s
  shutdown_timeout: 1m30s
  max_inflight_body_mb: 512
  overload_wait: 500ms
  max_json_depth: 100
  write_stall_timeout: 1m
  tls_cert_file: /etc/sb/cert.pem
  tls_key_file: /etc/sb/key.pem
storage:
  database: postgres://sb@db:5432/sb
  redis: redis://127.0.0.1:6379/0
  redis_prefix: "prod-eu:"
admin:
  token: 0123456789abcdef0123
log: {level: debug, format: json}
channels:
  - name: az
    type: azure
    base_url: https://me.openai.azure.com/
    api_keys: [k1, k2]
    models: [gpt-4o, "gpt-4.1*"]
    model_map: {gpt-4o: my-deployment}
    priority: 10
    weight: 0
    headers: {X-Team: blue}
    timeout: 30s
    connect_timeout: 2s
    first_byte_timeout: 20s
    idle_timeout: 15s
    enabled: false
    settings: {api_version: 2024-10-21}
keys:
  - name: alice
    key: sk-alice-0123456789
    models: [gpt-4o]
    budget_usd: 25.5
    rpm: 600
    tpm: 200_000
    max_concurrent: 3
    enabled: false
prices:
  gpt-4o: {input_per_mtok: 2.5, output_per_mtok: 10, cached_input_per_mtok: 1.25}
  my-model: {input_per_mtok: 0.01, output_per_mtok: 0.02, cache_write_per_mtok: 0.03, reasoning_per_mtok: 0.04,
             audio_input_per_mtok: 0.05, audio_output_per_mtok: 0.06, image_output_per_mtok: 0.07}
  mj/imagine: {per_call_usd: 0.05}
`,
			check: func(t *testing.T, c *Config) {
				want := Server{Addr: "0.0.0.0:9090", MaxBodyMB: 64, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: time.Minute,
					IdleTimeout: 90 * time.Second, ShutdownTimeout: 90 * time.Second,
					MaxInflightBodyMB: 512, OverloadWait: 500 * time.Millisecond, MaxJSONDepth: 100, WriteStallTimeout: time.Minute,
					TLSCertFile: "/etc/sb/cert.pem", TLSKeyFile: "/etc/sb/key.pem"}
				if c.Server != want {
					t.Errorf("server = %+v", c.Server)
				}
				if c.Storage != (Storage{"postgres://sb@db:5432/sb", "redis://127.0.0.1:6379/0", "prod-eu:"}) || c.Admin.Token != "0123456789abcdef0123" {
					t.Errorf("storage/admin = %+v %+v", c.Storage, c.Admin)
				}
				if c.Log != (Log{Level: slog.LevelDebug, Format: "json"}) {
					t.Errorf("log = %+v", c.Log)
				}
				wantCh := Channel{Name: "az", Type: gateway.ChannelAzure, BaseURL: "https://me.openai.azure.com",
					APIKeys: []string{"k1", "k2"}, Models: []string{"gpt-4o", "gpt-4.1*"}, ModelMap: map[string]string{"gpt-4o": "my-deployment"},
					Priority: 10, Weight: 0, Headers: map[string]string{"X-Team": "blue"}, Timeout: 30 * time.Second,
					ConnectTimeout: 2 * time.Second, FirstByteTimeout: 20 * time.Second, IdleTimeout: 15 * time.Second,
					Enabled: false, Settings: map[string]string{"api_version": "2024-10-21"}, Source: "config"}
				if !reflect.DeepEqual(c.Upstreams, []Channel{wantCh}) {
					t.Errorf("channels = %+v\nwant %+v", c.Upstreams, wantCh)
				}
				wantKey := Key{Name: "alice", Secret: "sk-alice-0123456789", Models: []string{"gpt-4o"},
					BudgetNanoUSD: 25_500_000_000, RPM: 600, TPM: 200000, MaxConcurrent: 3}
				if !reflect.DeepEqual(c.ClientKeys, []Key{wantKey}) {
					t.Errorf("keys = %+v", c.ClientKeys)
				}
				wantPrices := map[string]gateway.Price{
					"gpt-4o": {InputPerMTok: 2_500_000_000, OutputPerMTok: 10_000_000_000, CachedInputPerMTok: 1_250_000_000},
					"my-model": {InputPerMTok: 10_000_000, OutputPerMTok: 20_000_000, CacheWritePerMTok: 30_000_000, ReasoningPerMTok: 40_000_000,
						AudioInputPerMTok: 50_000_000, AudioOutputPerMTok: 60_000_000, ImageOutputPerMTok: 70_000_000},
					"mj/imagine": {PerCall: 50_000_000},
				}
				if !reflect.DeepEqual(c.Prices, wantPrices) {
					t.Errorf("prices = %+v", c.Prices)
				}
			},
		},
		{
			name: "simulator needs no key or URL",
			src:  "channels:\n  - {name: sim, type: simulator, models: ['*'], settings: {latency: 50ms, tokens_per_second: 80}}\n",
			check: func(t *testing.T, c *Config) {
				ch := c.Upstreams[0]
				if ch.BaseURL != "" || len(ch.APIKeys) != 0 || ch.Settings["latency"] != "50ms" || ch.Settings["tokens_per_second"] != "80" {
					t.Errorf("simulator = %+v", ch)
				}
			},
		},
		{
			name: "scalars are taken as written",
			src:  "channels:\n  - {name: c, type: openai-compatible, base_url: 'http://10.0.0.1:8000/v1', api_keys: [0777, 1e3], models: [1.5]}\n",
			check: func(t *testing.T, c *Config) {
				if got := c.Upstreams[0].APIKeys; !reflect.DeepEqual(got, []string{"0777", "1e3"}) {
					t.Errorf("api_keys = %q", got)
				}
				if got := c.Upstreams[0].Models; !reflect.DeepEqual(got, []string{"1.5"}) {
					t.Errorf("models = %q", got)
				}
			},
		},
		{
			name: "anchors, aliases and x- extension keys",
			src: `
x-common: &common
  type: openai
  api_keys: [sk-shared]
  models: [gpt-4o]
channels:
  - <<: *common
    name: a
  - <<: *common
    name: b
    priority: 5
`,
			check: func(t *testing.T, c *Config) {
				if len(c.Upstreams) != 2 || c.Upstreams[1].Name != "b" || c.Upstreams[1].Priority != 5 ||
					c.Upstreams[1].APIKeys[0] != "sk-shared" || c.Upstreams[0].Type != gateway.ChannelOpenAI {
					t.Errorf("channels = %+v", c.Upstreams)
				}
			},
		},
		{
			name: "env values that are not valid YAML",
			src: `
admin:
  token: ${TOKEN}
channels:
  - name: c
    type: openai
    base_url: https://${HOST}/v1
    api_keys: [${OPENAI_API_KEY}, "${SECOND}"]
    models: [${MODEL:-gpt-4o}]
    priority: ${PRIO:-3}
    headers: {X-Note: '${NOTE}'}
`,
			env: env("TOKEN", "t0k3n: with #hash, [brackets]", "HOST", "gw.example.com", "OPENAI_API_KEY", "sk-a,b]c",
				"SECOND", `q"uote`, "NOTE", "it's", "PRIO", ""),
			check: func(t *testing.T, c *Config) {
				ch := c.Upstreams[0]
				if c.Admin.Token != "t0k3n: with #hash, [brackets]" || ch.BaseURL != "https://gw.example.com/v1" ||
					!reflect.DeepEqual(ch.APIKeys, []string{"sk-a,b]c", `q"uote`}) || ch.Models[0] != "gpt-4o" ||
					ch.Priority != 3 || ch.Headers["X-Note"] != "it's" {
					t.Errorf("expanded = %+v admin=%q", ch, c.Admin.Token)
				}
			},
		},
		{
			name: "unset plain variable means unset field",
			src:  "server:\n  addr: ${ADDR}\n  max_body_mb: ${BODY}\n",
			check: func(t *testing.T, c *Config) {
				if c.Server.Addr != DefaultAddr || c.Server.MaxBodyMB != DefaultMaxBodyMB {
					t.Errorf("server = %+v", c.Server)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := tt.env
			if getenv == nil {
				getenv = env()
			}
			tt.check(t, mustParse(t, tt.src, getenv))
		})
	}
}

func TestParseErrors(t *testing.T) {
	const ch = "channels:\n  - name: c\n    type: openai\n    api_keys: [sk-1]\n    models: [gpt-4o]\n"
	tests := []struct {
		name string
		src  string
		env  Getenv
		want []string // every line of the error, in order
	}{
		{"syntax error", "server:\n  addr: [oops\n", nil,
			[]string{"switchboard.yaml:2: "}},
		{"two documents", "server: {}\n---\nserver: {}\n", nil,
			[]string{"switchboard.yaml:3: only one YAML document is allowed"}},
		{"unknown fields everywhere", "serve:\n  addr: x\nserver:\n  adr: y\n" + ch + "    prority: 3\nkeys:\n  - name: k\n    budget: 5\nprices:\n  m: {input: 1}\n", nil,
			[]string{
				`switchboard.yaml:1: serve: unknown field "serve" (did you mean "server"?)`,
				`switchboard.yaml:4: server.adr: unknown field "adr" (did you mean "addr"?)`,
				`switchboard.yaml:10: channels[0].prority: unknown field "prority" (did you mean "priority"?)`,
				`switchboard.yaml:13: keys[0].budget: unknown field "budget"`,
				`switchboard.yaml:15: prices.m.input: unknown field "input"`,
				`switchboard.yaml:15: prices.m: no price given (set input_per_mtok/output_per_mtok, per_call_usd, units_usd, or same_as)`,
			}},
		{"ledger retention", "ledger:\n  retention: 720h\n  hourly_retention: 24h\n  daily_retention: 48h\n  prune_interval: 0s\n", nil,
			[]string{
				`switchboard.yaml:3: ledger.hourly_retention: must be at least ledger.retention (720h0m0s), or 0 to keep hourly totals for ever`,
				`switchboard.yaml:4: ledger.daily_retention: must be at least ledger.retention and ledger.hourly_retention (which must then be set), or 0 to keep daily totals for ever`,
				`switchboard.yaml:5: ledger.prune_interval: must be positive, got 0s`,
			}},
		{"viewer tokens", "admin:\n  token: admin-token-0123456789\n  viewer_tokens: [short, admin-token-0123456789]\n  session_ttl: -1h\n  addr: nowhere\n", nil,
			[]string{
				`switchboard.yaml:3: admin.viewer_tokens[0]: must be at least 16 characters (leave it empty to have one generated)`,
				`switchboard.yaml:3: admin.viewer_tokens[1]: must differ from admin.token`,
				`switchboard.yaml:4: admin.session_ttl: must be positive, got -1h`,
				`switchboard.yaml:5: admin.addr: invalid address "nowhere" (want host:port, e.g. 127.0.0.1:8080 or :8080)`,
			}},
		{"unknown field behind an alias", "x-a: &a {name: c, type: openai, api_keys: [k], models: [m], colour: red}\nchannels:\n  - *a\n", nil,
			[]string{`switchboard.yaml:1: unknown field "colour"`}},
		{"wrong shapes", "server: 8080\nchannels:\n  - name: [a]\n    models: gpt-4o\nkeys: {name: k}\n", nil,
			[]string{
				`switchboard.yaml:1: server: expected a mapping, got "8080"`,
				`switchboard.yaml:3: channels[0].name: expected a single value, got a list`,
				`switchboard.yaml:4: channels[0].models: expected a list, got "gpt-4o"`,
				`switchboard.yaml:5: keys: expected a list, got a mapping`,
			}},
		{"server", "server:\n  addr: localhost\n  max_body_mb: 0\n  read_timeout: soon\n  idle_timeout: -1s\n", nil,
			[]string{
				`switchboard.yaml:2: server.addr: invalid address "localhost" (want host:port, e.g. 127.0.0.1:8080 or :8080)`,
				`switchboard.yaml:3: server.max_body_mb: must be between 1 and 4096, got 0`,
				`switchboard.yaml:4: server.read_timeout: invalid duration "soon" (e.g. 30s, 2m, 1h30m)`,
				`switchboard.yaml:5: server.idle_timeout: must be positive, got -1s`,
			}},
		{"bad port", "server: {addr: ':99999'}\n", nil,
			[]string{`switchboard.yaml:1: server.addr: invalid port "99999" in ":99999"`}},
		{"storage", "storage:\n  database: mysql://x\n  redis: 127.0.0.1:6379\n  redis_prefix: 'a b'\n", nil,
			[]string{
				`switchboard.yaml:2: storage.database: unsupported database "mysql://x" (want sqlite://path/to/file.db or postgres://user@host:5432/db)`,
				`switchboard.yaml:3: storage.redis: unsupported redis address "127.0.0.1:6379" (want redis://host:6379/0)`,
				`switchboard.yaml:4: storage.redis_prefix: must not contain spaces or control characters`,
			}},
		{"database password is not echoed", "storage:\n  database: mysql://u:hunter2@h/db\n", nil,
			[]string{`switchboard.yaml:2: storage.database: unsupported database "mysql://u:xxxxx@h/db" (want sqlite://path/to/file.db or postgres://user@host:5432/db)`}},
		{"admin and log", "admin: {token: short}\nlog:\n  level: loud\n  format: xml\n", nil,
			[]string{
				`switchboard.yaml:1: admin.token: must be at least 16 characters (leave it empty to have one generated)`,
				`switchboard.yaml:3: log.level: unknown level "loud" (want debug, info, warn or error)`,
				`switchboard.yaml:4: log.format: unknown format "xml" (want text or json)`,
			}},
		{"channel type", "channels:\n  - name: c\n    api_keys: [k]\n    models: [m]\n  - name: d\n    type: opneai\n    api_keys: [k]\n    models: [m]\n", nil,
			[]string{
				`switchboard.yaml:2: channels[0].type: required (one of openai, azure, anthropic, gemini, openai-compatible, midjourney, simulator)`,
				`switchboard.yaml:6: channels[1].type: unknown channel type "opneai" (want one of openai, azure, anthropic, gemini, openai-compatible, midjourney, simulator)`,
			}},
		{"channel names", ch + "  - {type: simulator, models: [m]}\n  - {name: c, type: simulator, models: [m]}\n  - {name: 'has space', type: simulator, models: [m]}\n", nil,
			[]string{
				`switchboard.yaml:6: channels[1].name: required`,
				`switchboard.yaml:7: channels[2].name: duplicate channel name "c" (also channels[0])`,
				`switchboard.yaml:8: channels[3].name: invalid name "has space" (use up to 64 letters, digits, '.', '_' or '-')`,
			}},
		{"base urls", "channels:\n" +
			"  - {name: a, type: azure, api_keys: [k], models: [m]}\n" +
			"  - {name: b, type: openai-compatible, base_url: 'ftp://x', api_keys: [k], models: [m]}\n" +
			"  - {name: c, type: midjourney, base_url: 'https://u:p@mj.example', api_keys: [k], models: [m]}\n" +
			"  - {name: d, type: openai, base_url: 'https://x?y=1', api_keys: [k], models: [m]}\n" +
			"  - {name: e, type: openai, base_url: 'https://', api_keys: [k], models: [m]}\n", nil,
			[]string{
				`switchboard.yaml:2: channels[0].base_url: required for type azure`,
				`switchboard.yaml:3: channels[1].base_url: invalid URL "ftp://x": want http:// or https://`,
				`switchboard.yaml:4: channels[2].base_url: invalid URL "https://u:xxxxx@mj.example": credentials belong in api_keys or headers, not the URL`,
				`switchboard.yaml:5: channels[3].base_url: invalid URL "https://x?y=1": no query or fragment allowed`,
				`switchboard.yaml:6: channels[4].base_url: invalid URL "https:": no host`,
			}},
		{"api keys and models", "channels:\n  - name: c\n    type: anthropic\n    models: []\n  - name: d\n    type: gemini\n    api_keys: ['', 'a b', ${UNSET}]\n    models: ['', '[x']\n", nil,
			[]string{
				`switchboard.yaml:2: channels[0].api_keys: at least one key is required for type anthropic`,
				`switchboard.yaml:4: channels[0].models: at least one model is required (globs such as "gpt-4o*" or "*" are allowed)`,
				`switchboard.yaml:7: channels[1].api_keys[0]: empty key (environment variable UNSET is not set)`,
				`switchboard.yaml:7: channels[1].api_keys[1]: key contains whitespace (environment variable UNSET is not set)`,
				`switchboard.yaml:7: channels[1].api_keys[2]: empty key (environment variable UNSET is not set)`,
				`switchboard.yaml:8: channels[1].models[0]: empty model name`,
				`switchboard.yaml:8: channels[1].models[1]: invalid glob "[x"`,
			}},
		{"channel numbers, durations, maps", ch +
			"    priority: high\n    weight: -1\n    timeout: 120\n    connect_timeout: 0\n    first_byte_timeout: 1 minute\n" +
			"    enabled: yes\n    model_map: {gpt-4o: ''}\n    headers: {'Bad Header': x, X-Ok: \"a\\nb\"}\n" +
			"    settings: {api_version: ''}\n", nil,
			[]string{
				`switchboard.yaml:6: channels[0].priority: expected a whole number, got "high"`,
				`switchboard.yaml:7: channels[0].weight: must be at least 0, got -1`,
				`switchboard.yaml:8: channels[0].timeout: duration "120" needs a unit, e.g. 120s or 120ms`,
				`switchboard.yaml:10: channels[0].first_byte_timeout: invalid duration "1 minute" (e.g. 30s, 2m, 1h30m)`,
				`switchboard.yaml:11: channels[0].enabled: expected true or false, got "yes"`,
				`switchboard.yaml:12: channels[0].model_map.gpt-4o: empty upstream model name`,
				`switchboard.yaml:13: channels[0].headers.Bad Header: invalid header name "Bad Header"`,
				`switchboard.yaml:13: channels[0].headers.X-Ok: header value contains a line break`,
				`switchboard.yaml:14: channels[0].settings.api_version: must not be empty`,
			}},
		{"simulator settings", "channels:\n  - name: s\n    type: simulator\n    models: ['*']\n    settings:\n      latency: fast\n      tokens_per_second: 0\n", nil,
			[]string{
				`switchboard.yaml:6: channels[0].settings.latency: invalid duration "fast" (e.g. 30s, 2m, 1h30m)`,
				`switchboard.yaml:7: channels[0].settings.tokens_per_second: must be positive`,
			}},
		{"keys", "keys:\n  - name: a\n    key: short\n  - name: a\n    key: 'has a space in it!!'\n  - name: b\n    key: sk-0123456789abcdef\n  - name: c\n    key: sk-0123456789abcdef\n" +
			"  - name: d\n    budget_usd: -1\n    rpm: -5\n    tpm: 1.5\n    max_concurrent: 99999999999999999999\n    models: ['']\n  - name: e\n    budget_usd: 1e12\n  - {}\n", nil,
			[]string{
				`switchboard.yaml:3: keys[0].key: must be at least 16 characters (or omit it to have one generated)`,
				`switchboard.yaml:4: keys[1].name: duplicate key name "a" (also keys[0])`,
				`switchboard.yaml:5: keys[1].key: contains whitespace`,
				`switchboard.yaml:9: keys[3].key: same key value as keys[2]`,
				`switchboard.yaml:11: keys[4].budget_usd: must not be negative, got -1`,
				`switchboard.yaml:12: keys[4].rpm: must be at least 0, got -5`,
				`switchboard.yaml:13: keys[4].tpm: expected a whole number, got "1.5"`,
				`switchboard.yaml:14: keys[4].max_concurrent: 99999999999999999999 is out of range`,
				`switchboard.yaml:15: keys[4].models[0]: empty model name`,
				`switchboard.yaml:17: keys[5].budget_usd: 1e+12 is implausibly large (limit 1e+09)`,
				`switchboard.yaml:18: keys[6].name: required`,
			}},
		{"prices", "prices:\n  a: {input_per_mtok: -1, output_per_mtok: .nan}\n  b: {per_call_usd: lots}\n  c: {}\n  d: {cached_input_per_mtok: 2000000}\n", nil,
			[]string{
				`switchboard.yaml:2: prices.a.input_per_mtok: must not be negative, got -1`,
				`switchboard.yaml:2: prices.a.output_per_mtok: expected a number, got ".nan"`,
				`switchboard.yaml:3: prices.b.per_call_usd: expected a number, got "lots"`,
				`switchboard.yaml:4: prices.c: no price given (set input_per_mtok/output_per_mtok, per_call_usd, units_usd, or same_as)`,
				`switchboard.yaml:5: prices.d.cached_input_per_mtok: 2000000 is implausibly large (limit 1e+06)`,
			}},
		{"env errors", "admin:\n  token: ${NEED:?set it in .env}\nserver:\n  addr: ${1BAD}\nstorage:\n  database: ${DB:x}\n  redis: x${OPEN\n", nil,
			[]string{
				`switchboard.yaml:2: environment variable NEED: set it in .env`,
				`switchboard.yaml:4: malformed reference ${1BAD}: "1BAD" is not a variable name`,
				`switchboard.yaml:6: malformed reference ${DB:x} (want ${NAME}, ${NAME:-default} or ${NAME:?message})`,
				`switchboard.yaml:7: unterminated or malformed ${ in "x${OPEN"`,
				`switchboard.yaml:7: storage.redis: unsupported redis address "x${OPEN" (want redis://host:6379/0)`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			getenv := tt.env
			if getenv == nil {
				getenv = env()
			}
			cfg, err := Parse("switchboard.yaml", []byte(tt.src), getenv)
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", cfg)
			}
			if cfg != nil {
				t.Errorf("Parse returned a config with an error")
			}
			got := strings.Split(err.Error(), "\n")
			if len(tt.want) == 1 && strings.HasSuffix(tt.want[0], ": ") { // only the position matters
				if len(got) != 1 || !strings.HasPrefix(got[0], tt.want[0]) {
					t.Fatalf("error = %q, want prefix %q", err, tt.want[0])
				}
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", err, strings.Join(tt.want, "\n"))
			}
			var ce *Error
			if !errors.As(err, &ce) || ce.File != "switchboard.yaml" || ce.Line == 0 {
				t.Errorf("errors.As(*Error) = %+v", ce)
			}
		})
	}
}

func TestExpand(t *testing.T) {
	getenv := env("A", "alpha", "EMPTY", "", "N", "42")
	tests := []struct {
		src, want string
	}{
		{"${A}", "alpha"},
		{"x-${A}-${A}", "x-alpha-alpha"},
		{"${MISSING}", ""},
		{"${MISSING:-dflt}", "dflt"},
		{"${EMPTY:-dflt}", "dflt"},
		{"${EMPTY-dflt}", ""},
		{"${MISSING-dflt}", "dflt"},
		{"${MISSING:-${A}}", "alpha"},
		{"${MISSING:-${ALSO:-deep}}", "deep"},
		{"${A:?required}", "alpha"},
		{"$$A costs $$5", "$A costs $5"},
		{"$A and $ alone", "$A and $ alone"},
		{"${N}", "42"},
	}
	for _, tt := range tests {
		for _, quote := range []string{`'`, `"`} {
			src := "channels: [{name: c, type: simulator, models: [m], headers: {X-V: " + quote + tt.src + quote + "}}]\n"
			cfg, err := Parse("f.yaml", []byte(src), getenv)
			if err != nil {
				t.Errorf("Parse(%s): %v", src, err)
				continue
			}
			if got := cfg.Upstreams[0].Headers["X-V"]; got != tt.want {
				t.Errorf("expand %s = %q, want %q", tt.src, got, tt.want)
			}
		}
	}
	// Comments are never expanded, so a required variable there is ignored.
	if _, err := Parse("f.yaml", []byte("# token: ${NOPE:?needed}\nserver: {} # ${ALSO:?x} ${unterminated\n"), env()); err != nil {
		t.Errorf("comment expanded: %v", err)
	}
	// Line numbers survive multi-line files with references.
	_, err := Parse("f.yaml", []byte("server:\n  addr: ${A}\n\n\nlog:\n  level: ${A}\n"), getenv)
	if err == nil || !strings.Contains(err.Error(), "f.yaml:2: server.addr:") || !strings.Contains(err.Error(), "f.yaml:6: log.level:") {
		t.Errorf("positions after expansion: %v", err)
	}
}

func TestExampleFile(t *testing.T) {
	path := filepath.Join("..", "..", "switchboard.example.yaml")
	cfg, err := Load(path, env("OPENAI_API_KEY", "sk-openai", "ANTHROPIC_API_KEY", "sk-ant"))
	if err != nil {
		t.Fatalf("example does not parse: %v", err)
	}
	if len(cfg.Upstreams) < 3 || len(cfg.ClientKeys) < 2 || cfg.Prices["mj/imagine"].PerCall != 50_000_000 {
		t.Errorf("example = %+v", cfg)
	}
	// Without the provider keys the example says exactly what is missing.
	_, err = Load(path, env())
	if err == nil || !strings.Contains(err.Error(), "environment variable OPENAI_API_KEY is not set") ||
		!strings.Contains(err.Error(), "environment variable ANTHROPIC_API_KEY is not set") {
		t.Errorf("example without env: %v", err)
	}
}

func TestLoad(t *testing.T) {
	if cfg, err := Load("", nil); err != nil || !reflect.DeepEqual(cfg, Default()) {
		t.Errorf("Load(\"\") = %+v, %v", cfg, err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml"), env()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	path := filepath.Join(t.TempDir(), "sb.yaml")
	if err := os.WriteFile(path, []byte("server:\n  addr: nope\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(path, env()); err == nil || !strings.HasPrefix(err.Error(), path+":2: server.addr:") {
		t.Errorf("Load error = %v", err)
	}
	big := make([]byte, maxFileSize+1)
	if _, err := Parse("big.yaml", big, env()); err == nil {
		t.Error("oversized file accepted")
	}
}

func TestFromEnv(t *testing.T) {
	cfg := mustParse(t, "channels:\n  - {name: anthropic, type: anthropic, api_keys: [file-key], models: ['claude-*']}\n", env())
	err := cfg.FromEnv(env(
		"OPENAI_API_KEY", "sk-1, sk-2", "OPENAI_BASE_URL", "https://proxy.example/v1/",
		"ANTHROPIC_API_KEY", "sk-ant-env", "GEMINI_API_KEY", "g-1",
		"SWITCHBOARD_ADDR", "0.0.0.0:8081", "SWITCHBOARD_REDIS", "redis://r:6379/1",
		"SWITCHBOARD_REDIS_PREFIX", "n1:", "SWITCHBOARD_ADMIN_TOKEN", "admin-token-0123456789",
	))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.Addr != "0.0.0.0:8081" || cfg.Storage.Redis != "redis://r:6379/1" || cfg.Storage.RedisPrefix != "n1:" || cfg.Admin.Token != "admin-token-0123456789" ||
		cfg.Storage.Database != DefaultDatabase {
		t.Errorf("overrides: %+v %+v %+v", cfg.Server, cfg.Storage, cfg.Admin)
	}
	byName := map[string]Channel{}
	for _, c := range cfg.Upstreams {
		byName[c.Name] = c
	}
	if len(cfg.Upstreams) != 3 {
		t.Fatalf("channels = %+v", cfg.Upstreams)
	}
	if c := byName["anthropic"]; c.APIKeys[0] != "file-key" || c.Source != "config" {
		t.Errorf("file channel replaced: %+v", c)
	}
	o := byName["openai"]
	if o.Type != gateway.ChannelOpenAI || !reflect.DeepEqual(o.APIKeys, []string{"sk-1", "sk-2"}) ||
		o.BaseURL != "https://proxy.example/v1" || o.Source != "env" || !o.Enabled || o.Weight != 1 || o.Timeout != DefaultChannelTimeout {
		t.Errorf("openai = %+v", o)
	}
	g := byName["gemini"]
	if g.BaseURL != rules.DefaultBaseURL(gateway.ChannelGemini) || len(g.Models) == 0 {
		t.Errorf("gemini = %+v", g)
	}
	for _, want := range []string{"gpt-4o", "gpt-4o-mini", "o4-mini", "text-embedding-3-small", "whisper-1", "tts-1", "dall-e-3", "gpt-image-1"} {
		if !contains(o.Models, want) {
			t.Errorf("openai models lack %s", want)
		}
	}

	// Nothing set: nothing changes.
	cfg = Default()
	if err := cfg.FromEnv(env()); err != nil || !reflect.DeepEqual(cfg, Default()) {
		t.Errorf("empty env changed config: %+v %v", cfg, err)
	}
	if err := cfg.FromEnv(nil); err != nil {
		t.Error(err)
	}
	// Bad values are reported, all of them, and not applied.
	cfg = Default()
	err = cfg.FromEnv(env("SWITCHBOARD_ADDR", "nope", "SWITCHBOARD_ADMIN_TOKEN", "short", "GEMINI_API_KEY", "g", "GEMINI_BASE_URL", "ftp://x"))
	if err == nil || !strings.Contains(err.Error(), "environment: SWITCHBOARD_ADDR: invalid address") ||
		!strings.Contains(err.Error(), "SWITCHBOARD_ADMIN_TOKEN: must be at least 16") ||
		!strings.Contains(err.Error(), "GEMINI_BASE_URL: invalid URL") {
		t.Errorf("FromEnv error = %v", err)
	}
	if cfg.Server.Addr != DefaultAddr || len(cfg.Upstreams) != 0 {
		t.Errorf("bad env applied: %+v", cfg)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestConversions(t *testing.T) {
	cfg := mustParse(t, `
channels:
  - name: c
    type: openai
    api_keys: [sk-1]
    models: [gpt-4o]
    model_map: {gpt-4o: gpt-4o-2024-11-20}
    headers: {X-A: b}
    first_byte_timeout: 30s
    settings: {organization: org-1}
keys:
  - {name: alice, key: sk-alice-0123456789, budget_usd: 0.000000001, rpm: 5}
  - {name: bob}
`, env())
	chans := cfg.Channels()
	want := gateway.Channel{Name: "c", Type: gateway.ChannelOpenAI, BaseURL: "https://api.openai.com", APIKeys: []string{"sk-1"},
		Models: []string{"gpt-4o"}, ModelMap: map[string]string{"gpt-4o": "gpt-4o-2024-11-20"}, Weight: 1,
		Headers: map[string]string{"X-A": "b"}, Timeout: 120 * time.Second, Enabled: true, Source: "config",
		Settings: map[string]string{"organization": "org-1", "connect_timeout": "10s", "first_byte_timeout": "30s"}}
	if !reflect.DeepEqual(chans, []gateway.Channel{want}) {
		t.Errorf("Channels() = %+v\nwant %+v", chans, want)
	}
	// The conversion copies: changing it leaves the config alone.
	chans[0].APIKeys[0] = "changed"
	chans[0].Settings["x"] = "y"
	if cfg.Upstreams[0].APIKeys[0] != "sk-1" || cfg.Upstreams[0].Settings["x"] != "" {
		t.Error("Channels() aliases the config")
	}
	keys := cfg.Keys()
	if len(keys) != 2 || keys[0].Secret != "sk-alice-0123456789" || keys[0].Key.Name != "alice" ||
		keys[0].Key.BudgetNanoUSD != 1 || keys[0].Key.RPM != 5 || !keys[0].Key.Enabled || keys[0].Key.Hash != "" ||
		keys[1].Secret != "" || !reflect.DeepEqual(keys[1].Key.Models, []string{"*"}) {
		t.Errorf("Keys() = %+v", keys)
	}
}

func TestFixtures(t *testing.T) {
	cfg, err := Load(filepath.Join("testdata", "valid.yaml"), env())
	if err != nil {
		t.Fatalf("valid.yaml: %v", err)
	}
	if len(cfg.Upstreams) != 4 || cfg.Admin.Token != "dev-admin-token-0123456789" || cfg.Upstreams[1].ModelMap["gpt-4o"] != "gpt4o-deployment" {
		t.Errorf("valid.yaml = %+v", cfg)
	}

	_, err = Load(filepath.Join("testdata", "broken.yaml"), env())
	want, rerr := os.ReadFile(filepath.Join("testdata", "broken.errors"))
	if rerr != nil {
		t.Fatal(rerr)
	}
	if err == nil || err.Error() != strings.TrimSpace(string(want)) {
		t.Errorf("broken.yaml errors:\n%v\nwant:\n%s", err, want)
	}
}

// TestDocsExample keeps the example in docs/configuration.md valid.
func TestDocsExample(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "configuration.md"))
	if err != nil {
		t.Skipf("docs not present: %v", err)
	}
	_, after, ok := strings.Cut(string(doc), "## Example\n")
	if !ok {
		t.Fatal("docs/configuration.md has no Example section")
	}
	_, block, ok := strings.Cut(after, "```yaml\n")
	block, _, ok2 := strings.Cut(block, "```")
	if !ok || !ok2 {
		t.Fatal("Example section has no yaml block")
	}
	cfg, err := Parse("configuration.md", []byte(block), env("OPENAI_API_KEY", "sk-o", "AZURE_OPENAI_KEY", "az"))
	if err != nil {
		t.Fatalf("docs example: %v", err)
	}
	if len(cfg.Upstreams) != 3 || cfg.Upstreams[1].Settings["api_version"] != "2024-10-21" {
		t.Errorf("docs example = %+v", cfg.Upstreams)
	}
}
