package config

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"switchboard/internal/gateway"
	"switchboard/internal/pricing"
)

// Defaults of the contract (DESIGN.md §4) and of the extensions.
const (
	DefaultAddr              = "127.0.0.1:8080"
	DefaultDatabase          = "sqlite://data/switchboard.db"
	DefaultMaxBodyMB         = 32
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 5 * time.Minute
	DefaultIdleTimeout       = 2 * time.Minute
	DefaultShutdownTimeout   = 30 * time.Second
	DefaultMaxInflightBodyMB = 256
	DefaultOverloadWait      = time.Second
	DefaultMaxJSONDepth      = 512
	DefaultWriteStallTimeout = 2 * time.Minute
	DefaultChannelTimeout    = 120 * time.Second
	DefaultConnectTimeout    = 10 * time.Second
	DefaultWeight            = 1
)

// maxFileSize bounds what Parse accepts; a configuration is a few KiB.
const maxFileSize = 8 << 20

// Config is a loaded, validated configuration.
type Config struct {
	// File is the path the configuration was read from; "" for defaults.
	File    string
	Server  Server
	Storage Storage
	Admin   Admin
	Log     Log
	// Upstreams are the channels of the file (YAML "channels"); Channels()
	// converts them to domain channels.
	Upstreams []Channel
	// ClientKeys are the client keys of the file (YAML "keys"); Keys()
	// converts them for seeding.
	ClientKeys []Key
	// Prices overrides entries of the built-in price table, by model name;
	// PriceAliases and PriceLimits are the same_as and limit fields of
	// those entries.
	Prices       map[string]gateway.Price
	PriceAliases map[string]string
	PriceLimits  map[string]pricing.Limits
	Pricing      Pricing
	Tasks        Tasks
	Telemetry    Telemetry
	Ledger       Ledger
	// Media is the `media` section (extension of issue 11).
	Media Media
}

// Media configures the image and audio routes.
type Media struct {
	// UploadLimitsMB replaces the body limit of media routes, by their
	// endpoint label ("audio.transcriptions": 25); unset routes keep their
	// own (see UploadRoutes).
	UploadLimitsMB map[string]int
	// Dir is where the media the gateway serves is stored ("": media/ in
	// the data directory); URLTTL is how long an object and its signed
	// URL live; QuotaMB bounds each key's live objects; PublicURL is the
	// scheme and host the URLs name ("": the host the client called).
	Dir       string
	URLTTL    time.Duration
	QuotaMB   int
	PublicURL string
	// Proxy: media links in upstream answers (OpenAI image URLs) are
	// fetched, stored and replaced by the gateway's own signed URLs.
	Proxy bool
	// S3, when set, keeps the media in an S3-compatible bucket instead of
	// Dir (media.s3).
	S3 *MediaS3
}

// MediaS3 is an S3-compatible bucket for the media store.
type MediaS3 struct {
	Endpoint        string // host[:port]
	Bucket          string
	Region          string // default us-east-1
	AccessKeyID     string
	SecretAccessKey string
	Prefix          string // prepended to every object name
	UseSSL          bool   // default true
}

// Defaults of the media store.
const (
	DefaultMediaTTL     = 24 * time.Hour
	DefaultMediaQuotaMB = 1024
)

// UploadRoutes are the endpoints media.upload_limits_mb may name (their
// own limits are in docs/configuration.md).
var UploadRoutes = []string{
	"audio.speech", "audio.transcriptions", "audio.translations",
	"images.edits", "images.generations", "images.variations",
}

// UploadLimitBytes returns the configured limits in bytes.
func (m Media) UploadLimitBytes() map[string]int64 {
	out := make(map[string]int64, len(m.UploadLimitsMB))
	for k, v := range m.UploadLimitsMB {
		out[k] = int64(v) << 20
	}
	return out
}

// Ledger is the `ledger` section (extension): how long each layer of the
// usage ledger is kept (0 = for ever) and how often the pruner runs.
type Ledger struct {
	Retention       time.Duration // raw usage rows (the usage log)
	HourlyRetention time.Duration // per-hour totals
	DailyRetention  time.Duration // per-day totals
	PruneInterval   time.Duration
}

// DefaultPruneInterval is how often the ledger pruner runs.
const DefaultPruneInterval = time.Hour

// DefaultSessionTTL is how long a console login lasts.
const DefaultSessionTTL = 12 * time.Hour

// Pricing is the `pricing` section (extension) and what its files held
// once Load read them.
type Pricing struct {
	File        string // operator price file, YAML or JSON ("" = none)
	LiteLLMFile string // LiteLLM model_prices_and_context_window.json ("" = none)
	Unpriced    pricing.UnpricedPolicy
	// MinOutputTokens is the smallest output limit a call may be lowered
	// to when its key's budget cannot cover the request's own.
	MinOutputTokens int64

	// Loaded by Load from File and LiteLLMFile.
	FilePrices    map[string]gateway.Price
	FileAliases   map[string]string
	FileLimits    map[string]pricing.Limits
	CatalogPrices map[string]gateway.Price
	CatalogLimits map[string]pricing.Limits
}

// PriceTable builds the price table the gateway bills with, lowest layer
// first: the built-in list, the LiteLLM catalog (list prices), the price
// file, then `prices:`, which wins. Entries of the file and of `prices:`
// are the operator's: a key calling such a model pays that price.
func (c *Config) PriceTable() *pricing.Table {
	p := &c.Pricing
	return pricing.Builtin().
		WithList(p.CatalogPrices).WithLimits(p.CatalogLimits).
		With(p.FilePrices).WithAliases(p.FileAliases).WithLimits(p.FileLimits).
		With(c.Prices).WithAliases(c.PriceAliases).WithLimits(c.PriceLimits)
}

// Server configures the HTTP listener.
type Server struct {
	Addr              string
	MaxBodyMB         int           // request body limit in MiB
	ReadHeaderTimeout time.Duration // 0 = none
	ReadTimeout       time.Duration // whole request incl. body; 0 = none
	WriteTimeout      time.Duration // 0 = none (streams last long)
	IdleTimeout       time.Duration // keep-alive idle; 0 = none
	ShutdownTimeout   time.Duration // graceful drain on SIGTERM
	// MaxInflightBodyMB bounds the request-body MiB held across all calls
	// at once (0 = no bound); OverloadWait is how long a call waits for
	// room before it is refused as overloaded.
	MaxInflightBodyMB int
	OverloadWait      time.Duration
	MaxJSONDepth      int           // nesting bound of JSON bodies
	WriteStallTimeout time.Duration // one response write's bound; 0 = none
	// TLSCertFile and TLSKeyFile, both set, serve HTTPS.
	TLSCertFile string
	TLSKeyFile  string
}

// MaxInflightBodyBytes is MaxInflightBodyMB in bytes.
func (s Server) MaxInflightBodyBytes() int64 { return int64(s.MaxInflightBodyMB) << 20 }

// MaxBodyBytes is MaxBodyMB in bytes.
func (s Server) MaxBodyBytes() int64 { return int64(s.MaxBodyMB) << 20 }

// Storage says where state lives.
type Storage struct {
	Database string // sqlite://path or postgres://...
	Redis    string // "" = single node, in-memory limits
	// RedisPrefix namespaces every Redis key and pub/sub channel, so
	// several deployments (or tests) can share one Redis.
	RedisPrefix string
}

// Admin configures the admin API and console.
type Admin struct {
	Token string // "" = generate one at first start
	// MCPWrites lets the admin MCP server's tools change state (enable and
	// disable channels and keys, create keys, test channels); off, it is
	// read-only. Extension of issue 12.
	MCPWrites bool
	// ViewerTokens log in to the console read-only (extension).
	ViewerTokens []string
	// SessionTTL is how long a console login lasts (extension).
	SessionTTL time.Duration
	// Addr, when set, is a second listener serving only the admin API and
	// the console (extension); they stay on the main listener too.
	Addr string
}

// Log configures the process logger.
type Log struct {
	Level  slog.Level
	Format string // "text" or "json"
}

// Channel is one upstream account from the file (or the environment).
type Channel struct {
	Name             string
	Type             gateway.ChannelType
	BaseURL          string
	APIKeys          []string
	Models           []string
	ModelMap         map[string]string
	Priority         int
	Weight           int
	Headers          map[string]string
	Timeout          time.Duration // whole call
	ConnectTimeout   time.Duration // TCP+TLS; 0 = only Timeout applies
	FirstByteTimeout time.Duration // until response headers; 0 = only Timeout
	IdleTimeout      time.Duration // between stream reads; 0 = only Timeout
	// PriceMultiplier is the upstream's charge relative to list prices
	// (pricing.MultiplierSetting); "" = 1.
	PriceMultiplier string
	// PassHeaders and PassQuery extend the client headers and query
	// parameters the pass-through path forwards ("X-Foo-*" is a prefix).
	PassHeaders []string
	PassQuery   []string
	// MaxStreamDuration ends a stream that lasts longer (0 = no limit);
	// MaxOutputTokens caps every call's output limit (0 = none).
	MaxStreamDuration time.Duration
	MaxOutputTokens   int64
	Enabled           bool
	Settings          map[string]string
	Source            string // "config" or "env"
}

// Key is a client key to seed.
type Key struct {
	Name          string
	Secret        string // fixed key value; "" = generate at seeding
	Models        []string
	BudgetNanoUSD int64 // 0 = unlimited
	RPM           int   // 0 = unlimited
	TPM           int   // 0 = unlimited
	MaxConcurrent int   // 0 = unlimited
	BudgetPeriod  gateway.BudgetPeriod
	Enabled       bool
}

// Default returns the configuration used when there is no file.
func Default() *Config {
	return &Config{
		Server: Server{
			Addr:              DefaultAddr,
			MaxBodyMB:         DefaultMaxBodyMB,
			ReadHeaderTimeout: DefaultReadHeaderTimeout,
			ReadTimeout:       DefaultReadTimeout,
			IdleTimeout:       DefaultIdleTimeout,
			ShutdownTimeout:   DefaultShutdownTimeout,
			MaxInflightBodyMB: DefaultMaxInflightBodyMB,
			OverloadWait:      DefaultOverloadWait,
			MaxJSONDepth:      DefaultMaxJSONDepth,
			WriteStallTimeout: DefaultWriteStallTimeout,
		},
		Storage: Storage{Database: DefaultDatabase},
		Log:     Log{Level: slog.LevelInfo, Format: "text"},
		Prices:  map[string]gateway.Price{},
		Pricing: Pricing{Unpriced: pricing.UnpricedRefuse, MinOutputTokens: pricing.DefaultMinOutput},
		Ledger:  Ledger{PruneInterval: DefaultPruneInterval},
		Admin:   Admin{SessionTTL: DefaultSessionTTL},
	}
}

// Error is one problem found in a configuration file. Parse and Load
// return every problem of a file, joined with errors.Join.
type Error struct {
	File  string
	Line  int    // 1-based; 0 when unknown
	Field string // e.g. "channels[1].type"; "" for problems of the file
	Msg   string
}

// Error formats the problem on one line, whatever the file contained.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(oneLine.Replace(e.File))
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(oneLine.Replace(e.Field))
		b.WriteString(": ")
	}
	b.WriteString(oneLine.Replace(e.Msg))
	return b.String()
}

var oneLine = strings.NewReplacer("\n", `\n`, "\r", `\r`)

// Load reads and parses the file at path. An empty path yields Default().
// getenv resolves ${VAR} references; nil means os.LookupEnv.
func Load(path string, getenv Getenv) (*Config, error) {
	if path == "" {
		return Default(), nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("config: read %s: %w", path, err)
	}
	cfg, err := Parse(path, data, getenv)
	if err != nil {
		return nil, err
	}
	if err := cfg.LoadPriceFiles(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// Parse parses and validates a configuration. filename is only used in
// error messages. getenv resolves ${VAR} references; nil means os.LookupEnv.
func Parse(filename string, data []byte, getenv Getenv) (*Config, error) {
	if getenv == nil {
		getenv = os.LookupEnv
	}
	if len(data) > maxFileSize {
		return nil, &Error{File: filename, Msg: fmt.Sprintf("file larger than %d MiB", maxFileSize>>20)}
	}
	cfg := Default()
	cfg.File = filename

	src, marker, refs := placeholders(data)
	file, err := parser.ParseBytes(src, 0)
	if err != nil {
		return nil, yamlError(filename, err, marker)
	}
	var docs []ast.Node
	for _, d := range file.Docs {
		if d == nil || d.Body == nil {
			continue
		}
		if _, null := d.Body.(*ast.NullNode); !null {
			docs = append(docs, d.Body)
		}
	}
	if len(docs) == 0 {
		return cfg, nil
	}
	if len(docs) > 1 {
		return nil, &Error{File: filename, Line: lineOf(docs[1]), Msg: "only one YAML document is allowed"}
	}
	body := docs[0]

	x := &expander{marker: marker, refs: refs, getenv: getenv, unset: map[int][]string{}}
	x.walk(body)

	var raw rawConfig
	pre := make([]fieldErr, len(x.errs))
	for i, e := range x.errs {
		pre[i] = fieldErr{line: e.line, msg: e.msg}
	}
	c, ok := decodeChecked(filename, body, &raw, marker, x.unset, pre)
	if !ok {
		return nil, c.joined()
	}
	c.convert(&raw, cfg)
	if len(c.errs) > 0 {
		return nil, c.joined()
	}
	return cfg, nil
}

// decodeChecked checks body's shape against dst's raw type, reporting
// every unknown field and misshapen value of the file, then decodes it into
// dst. The converter it returns holds those errors (and pre, the expansion
// errors) and goes on to convert dst; ok is false when decoding failed.
func decodeChecked(filename string, body ast.Node, dst any, marker string, unset map[int][]string, pre []fieldErr) (*converter, bool) {
	sc := &shapeChecker{lines: map[string]int{}}
	sc.check(body, reflect.TypeOf(dst).Elem(), "", 0)
	c := &converter{file: filename, lines: sc.lines, unset: unset}
	for _, e := range append(pre, sc.errs...) {
		c.errs = append(c.errs, &Error{File: filename, Line: e.line, Field: e.field, Msg: e.msg})
	}
	if sc.shape > 0 {
		return c, false
	}
	var opts []yaml.DecodeOption
	if sc.unknown == 0 {
		// Our walk does not follow aliases; the decoder's strict mode
		// catches unknown fields that only appear through one.
		opts = append(opts, yaml.Strict(), yaml.AllowFieldPrefixes("x-"))
	}
	if err := yaml.NodeToValue(body, dst, opts...); err != nil {
		c.errs = append(c.errs, yamlError(filename, err, marker))
		return c, false
	}
	return c, true
}

// yamlError turns an error of the YAML library into an *Error with a line
// and without the library's source excerpt (which may show placeholders).
func yamlError(filename string, err error, marker string) *Error {
	var ye yaml.Error
	if errors.As(err, &ye) {
		line := 0
		if tk := ye.GetToken(); tk != nil {
			line = tk.Position.Line
		}
		msg := ye.GetMessage()
		if _, ok := err.(*yaml.TypeError); ok {
			msg = "value has the wrong type here"
		}
		if marker != "" {
			msg = strings.ReplaceAll(msg, marker, "${…}")
		}
		return &Error{File: filename, Line: line, Msg: msg}
	}
	return &Error{File: filename, Msg: err.Error()}
}

// joined sorts errors by line (stable, so a line's errors keep their order)
// and joins them.
func (c *converter) joined() error {
	sort.SliceStable(c.errs, func(i, j int) bool { return c.errs[i].Line < c.errs[j].Line })
	errs := make([]error, len(c.errs))
	for i, e := range c.errs {
		errs[i] = e
	}
	return errors.Join(errs...)
}

// Channels converts the configured channels to domain channels. The
// per-phase timeouts, which gateway.Channel has no fields for, travel in
// Settings as Go duration strings under their YAML names.
func (c *Config) Channels() []gateway.Channel {
	out := make([]gateway.Channel, 0, len(c.Upstreams))
	for _, ch := range c.Upstreams {
		settings := maps.Clone(ch.Settings)
		if settings == nil {
			settings = map[string]string{}
		}
		for name, d := range map[string]time.Duration{
			"connect_timeout":     ch.ConnectTimeout,
			"first_byte_timeout":  ch.FirstByteTimeout,
			"idle_timeout":        ch.IdleTimeout,
			"max_stream_duration": ch.MaxStreamDuration,
		} {
			if d > 0 {
				settings[name] = d.String()
			}
		}
		if ch.PriceMultiplier != "" {
			settings[pricing.MultiplierSetting] = ch.PriceMultiplier
		}
		for name, list := range map[string][]string{"pass_headers": ch.PassHeaders, "pass_query": ch.PassQuery} {
			if len(list) > 0 {
				settings[name] = strings.Join(list, ",")
			}
		}
		if ch.MaxOutputTokens > 0 {
			settings["max_output_tokens"] = strconv.FormatInt(ch.MaxOutputTokens, 10)
		}
		source := ch.Source
		if source == "" {
			source = "config"
		}
		out = append(out, gateway.Channel{
			Name:     ch.Name,
			Type:     ch.Type,
			BaseURL:  ch.BaseURL,
			APIKeys:  slices.Clone(ch.APIKeys),
			Models:   slices.Clone(ch.Models),
			ModelMap: maps.Clone(ch.ModelMap),
			Priority: ch.Priority,
			Weight:   ch.Weight,
			Headers:  maps.Clone(ch.Headers),
			Timeout:  ch.Timeout,
			Enabled:  ch.Enabled,
			Settings: settings,
			Source:   source,
		})
	}
	return out
}

// SeedKey is a client key to upsert at start. Secret is the plaintext key
// when the file fixes one ("" = generate and show once); the seeder hashes
// it into Key.Hash and Key.Prefix, so hashing lives in one place.
type SeedKey struct {
	Key    gateway.Key
	Secret string
}

// Keys converts the configured client keys for seeding.
func (c *Config) Keys() []SeedKey {
	out := make([]SeedKey, 0, len(c.ClientKeys))
	for _, k := range c.ClientKeys {
		out = append(out, SeedKey{
			Key: gateway.Key{
				Name:          k.Name,
				Models:        slices.Clone(k.Models),
				BudgetNanoUSD: k.BudgetNanoUSD,
				RPM:           k.RPM,
				TPM:           k.TPM,
				MaxConcurrent: k.MaxConcurrent,
				BudgetPeriod:  k.BudgetPeriod,
				Enabled:       k.Enabled,
			},
			Secret: k.Secret,
		})
	}
	return out
}
