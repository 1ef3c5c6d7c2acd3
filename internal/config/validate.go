package config

import (
	"fmt"
	"maps"
	"math"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"switchboard/internal/gateway"
	"switchboard/internal/pricing"
	"switchboard/internal/rules"
)

// Bounds that keep converted values inside int64 nano-USD and sane.
// The rules about names, secrets, base URLs, models, headers and settings
// are in internal/rules, shared with the admin API and the CLI.
const maxPricePerMTok = 1e6 // $1 million per million tokens, or per call

// converter turns the raw tree into a Config, collecting every error.
type converter struct {
	file  string
	lines map[string]int
	unset map[int][]string
	errs  []*Error
}

// fail records an error about field; line 0 means "where field is, or its
// nearest ancestor present in the file".
func (c *converter) fail(field string, line int, format string, args ...any) {
	if line == 0 {
		line = c.lineFor(field)
	}
	msg := fmt.Sprintf(format, args...)
	if names := c.unset[line]; len(names) > 0 {
		msg += fmt.Sprintf(" (environment variable %s is not set)", strings.Join(slices.Compact(slices.Sorted(slices.Values(names))), ", "))
	}
	c.errs = append(c.errs, &Error{File: c.file, Line: line, Field: field, Msg: msg})
}

func (c *converter) lineFor(field string) int {
	for p := field; p != ""; {
		if l, ok := c.lines[p]; ok {
			return l
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return 0
}

func (c *converter) str(s scalar, def string) string {
	if v, ok := s.text(); ok {
		return v
	}
	return def
}

func (c *converter) integer(s scalar, field string, def, lo, hi int64) int64 {
	t, ok := s.text()
	if !ok {
		return def
	}
	n, err := strconv.ParseInt(strings.ReplaceAll(strings.TrimSpace(t), "_", ""), 10, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			c.fail(field, s.line(), "%s is out of range", t)
		} else {
			c.fail(field, s.line(), "expected a whole number, got %q", t)
		}
		return def
	}
	if n < lo || n > hi {
		if hi == math.MaxInt32 || hi == math.MaxInt64 {
			c.fail(field, s.line(), "must be at least %d, got %d", lo, n)
		} else {
			c.fail(field, s.line(), "must be between %d and %d, got %d", lo, hi, n)
		}
		return def
	}
	return n
}

// number parses a non-negative finite decimal no larger than hi.
func (c *converter) number(s scalar, field string, hi float64) (float64, bool) {
	t, ok := s.text()
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(strings.TrimSpace(t), "_", ""), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		c.fail(field, s.line(), "expected a number, got %q", t)
		return 0, false
	}
	if f < 0 {
		c.fail(field, s.line(), "must not be negative, got %s", t)
		return 0, false
	}
	if f > hi {
		c.fail(field, s.line(), "%s is implausibly large (limit %g)", t, hi)
		return 0, false
	}
	return f, true
}

func (c *converter) boolean(s scalar, field string, def bool) bool {
	t, ok := s.text()
	if !ok {
		return def
	}
	switch t {
	case "true", "True", "TRUE":
		return true
	case "false", "False", "FALSE":
		return false
	}
	c.fail(field, s.line(), "expected true or false, got %q", t)
	return def
}

// duration parses a Go duration ("90s", "2m"); 0 needs no unit.
func (c *converter) duration(s scalar, field string, def time.Duration, positive bool) time.Duration {
	t, ok := s.text()
	if !ok {
		return def
	}
	d, err := time.ParseDuration(strings.TrimSpace(t))
	if err != nil {
		if _, nerr := strconv.ParseFloat(t, 64); nerr == nil {
			c.fail(field, s.line(), "duration %q needs a unit, e.g. %ss or %sms", t, t, t)
		} else {
			c.fail(field, s.line(), "invalid duration %q (e.g. 30s, 2m, 1h30m)", t)
		}
		return def
	}
	if d < 0 || (positive && d == 0) {
		c.fail(field, s.line(), "must be positive, got %s", t)
		return def
	}
	return d
}

func (c *converter) convert(raw *rawConfig, cfg *Config) {
	c.server(&raw.Server, &cfg.Server)
	c.media(&raw.Media, &cfg.Media)
	c.storage(&raw.Storage, &cfg.Storage)

	if tok, ok := raw.Admin.Token.text(); ok {
		if err := rules.AdminToken(tok); err != nil {
			c.fail("admin.token", raw.Admin.Token.line(), "%v", err)
		}
		cfg.Admin.Token = tok
	}

	if lvl, ok := raw.Log.Level.text(); ok {
		if err := cfg.Log.Level.UnmarshalText([]byte(lvl)); err != nil {
			c.fail("log.level", raw.Log.Level.line(), "unknown level %q (want debug, info, warn or error)", lvl)
		}
	}
	cfg.Log.Format = c.str(raw.Log.Format, cfg.Log.Format)
	if f := cfg.Log.Format; f != "text" && f != "json" {
		c.fail("log.format", raw.Log.Format.line(), "unknown format %q (want text or json)", f)
	}

	names := map[string]string{}
	for i := range raw.Channels {
		cfg.Upstreams = append(cfg.Upstreams, c.channel(&raw.Channels[i], fmt.Sprintf("channels[%d]", i), names))
	}
	keyNames, secrets := map[string]string{}, map[string]string{}
	for i := range raw.Keys {
		cfg.ClientKeys = append(cfg.ClientKeys, c.key(&raw.Keys[i], fmt.Sprintf("keys[%d]", i), keyNames, secrets))
	}
	c.prices(raw.Prices, "prices", cfg.Prices, &cfg.PriceAliases, &cfg.PriceLimits)
	c.pricing(&raw.Pricing, &cfg.Pricing)
	c.tasks(&raw.Tasks, &cfg.Tasks)
	c.operator(raw, cfg)
	c.ledger(&raw.Ledger, &cfg.Ledger)
	c.console(&raw.Admin, &cfg.Admin)
}

func (c *converter) ledger(r *rawLedger, l *Ledger) {
	l.Retention = c.duration(r.Retention, "ledger.retention", l.Retention, false)
	l.HourlyRetention = c.duration(r.HourlyRetention, "ledger.hourly_retention", l.HourlyRetention, false)
	l.DailyRetention = c.duration(r.DailyRetention, "ledger.daily_retention", l.DailyRetention, false)
	l.PruneInterval = c.duration(r.PruneInterval, "ledger.prune_interval", l.PruneInterval, true)
	// Each layer answers for the range the finer one has let go.
	if l.Retention > 0 && l.HourlyRetention > 0 && l.HourlyRetention < l.Retention {
		c.fail("ledger.hourly_retention", r.HourlyRetention.line(), "must be at least ledger.retention (%s), or 0 to keep hourly totals for ever", l.Retention)
	}
	if l.DailyRetention > 0 && (l.DailyRetention < l.HourlyRetention || l.DailyRetention < l.Retention || l.HourlyRetention == 0) {
		c.fail("ledger.daily_retention", r.DailyRetention.line(), "must be at least ledger.retention and ledger.hourly_retention (which must then be set), or 0 to keep daily totals for ever")
	}
}

func (c *converter) console(r *rawAdmin, a *Admin) {
	for i, v := range r.ViewerTokens {
		tok, ok := v.text()
		if !ok {
			continue
		}
		field := fmt.Sprintf("admin.viewer_tokens[%d]", i)
		if err := rules.AdminToken(tok); err != nil {
			c.fail(field, v.line(), "%v", err)
		}
		if tok == a.Token {
			c.fail(field, v.line(), "must differ from admin.token")
		}
		a.ViewerTokens = append(a.ViewerTokens, tok)
	}
	a.SessionTTL = c.duration(r.SessionTTL, "admin.session_ttl", a.SessionTTL, true)
	if a.Addr = c.str(r.Addr, ""); a.Addr != "" {
		if msg := addrProblem(a.Addr); msg != "" {
			c.fail("admin.addr", r.Addr.line(), "%s", msg)
		}
	}
}

// prices converts a prices mapping (of the config or of the price file)
// into prices, aliases (same_as) and limits.
func (c *converter) prices(raw map[string]rawPrice, field string, prices map[string]gateway.Price,
	aliases *map[string]string, limits *map[string]pricing.Limits) {
	for _, model := range slices.Sorted(maps.Keys(raw)) {
		rp := raw[model]
		f := field + "." + model
		if strings.TrimSpace(model) == "" {
			c.fail(field, 0, "model name must not be empty")
			continue
		}
		if l, ok := c.limits(&rp, f); ok {
			if *limits == nil {
				*limits = map[string]pricing.Limits{}
			}
			(*limits)[model] = l
		}
		if target, ok := rp.SameAs.text(); ok {
			if rp.priceGiven() {
				c.fail(f+".same_as", rp.SameAs.line(), "same_as prices %q as %q: give no price fields beside it", model, target)
				continue
			}
			if strings.TrimSpace(target) == "" {
				c.fail(f+".same_as", rp.SameAs.line(), "empty model name")
				continue
			}
			if *aliases == nil {
				*aliases = map[string]string{}
			}
			(*aliases)[model] = target
			continue
		}
		if p, ok := c.price(&rp, f); ok {
			prices[model] = p
		}
	}
}

func (c *converter) pricing(r *rawPricing, p *Pricing) {
	p.File = c.str(r.File, "")
	p.LiteLLMFile = c.str(r.LiteLLMFile, "")
	if v, ok := r.Unpriced.text(); ok {
		pol, err := pricing.ParseUnpricedPolicy(v)
		if err != nil {
			c.fail("pricing.unpriced", r.Unpriced.line(), "%v", err)
		}
		p.Unpriced = pol
	}
	p.MinOutputTokens = c.integer(r.MinOutputTokens, "pricing.min_output_tokens", p.MinOutputTokens, 1, 1_000_000)
}

func (c *converter) media(r *rawMedia, m *Media) {
	for _, route := range slices.Sorted(maps.Keys(r.UploadLimitsMB)) {
		f := "media.upload_limits_mb." + route
		if !slices.Contains(UploadRoutes, route) {
			c.fail(f, r.UploadLimitsMB[route].line(), "unknown route: want one of %s", strings.Join(UploadRoutes, ", "))
			continue
		}
		if m.UploadLimitsMB == nil {
			m.UploadLimitsMB = map[string]int{}
		}
		m.UploadLimitsMB[route] = int(c.integer(r.UploadLimitsMB[route], f, 0, 1, 4096))
	}
	m.Dir = c.str(r.Dir, "")
	m.URLTTL = c.duration(r.URLTTL, "media.url_ttl", DefaultMediaTTL, true)
	m.QuotaMB = int(c.integer(r.QuotaMB, "media.quota_mb", DefaultMediaQuotaMB, 1, 1<<24))
	m.PublicURL = c.str(r.PublicURL, "")
	m.Proxy = c.boolean(r.Proxy, "media.proxy", false)
	c.mediaS3(r, m)
	if m.PublicURL != "" {
		if err := rules.CheckURL(m.PublicURL); err != nil {
			c.fail("media.public_url", r.PublicURL.line(), "%v (e.g. https://gateway.example.com)", err)
		}
	}
}

// s3BucketName is S3's rule for bucket names (3–63 characters).
var s3BucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// s3Region is the shape of a region name (us-east-1, auto, garage).
var s3Region = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

func (c *converter) mediaS3(r *rawMedia, m *Media) {
	if r.S3 == nil {
		return
	}
	const p = "media.s3"
	if r.Dir.node != nil {
		c.fail("media.dir", r.Dir.line(), "set either media.dir or media.s3, not both")
	}
	s := &MediaS3{
		Endpoint: c.str(r.S3.Endpoint, ""), Bucket: c.str(r.S3.Bucket, ""),
		Region:      c.str(r.S3.Region, "us-east-1"),
		AccessKeyID: c.str(r.S3.AccessKeyID, ""), SecretAccessKey: c.str(r.S3.SecretAccessKey, ""),
		Prefix: strings.TrimPrefix(c.str(r.S3.Prefix, ""), "/"),
		UseSSL: c.boolean(r.S3.UseSSL, p+".use_ssl", true),
	}
	if strings.Contains(s.Endpoint, "://") {
		c.fail(p+".endpoint", r.S3.Endpoint.line(), "give host[:port] without a scheme (use_ssl chooses https or http)")
	} else if u, err := url.Parse("//" + s.Endpoint); s.Endpoint == "" || err != nil || u.Host != s.Endpoint || u.Hostname() == "" {
		c.fail(p+".endpoint", r.S3.Endpoint.line(), "invalid endpoint %q (want host[:port], e.g. s3.eu-west-1.amazonaws.com or minio.internal:9000)", s.Endpoint)
	}
	if !s3BucketName.MatchString(s.Bucket) {
		c.fail(p+".bucket", r.S3.Bucket.line(), "invalid bucket name %q (3–63 lowercase letters, digits, dots and hyphens)", s.Bucket)
	}
	if !s3Region.MatchString(s.Region) {
		c.fail(p+".region", r.S3.Region.line(), "invalid region %q (e.g. us-east-1)", s.Region)
	}
	if err := rules.UpstreamKey(s.AccessKeyID); err != nil {
		c.fail(p+".access_key_id", r.S3.AccessKeyID.line(), "%v", err)
	}
	if err := rules.UpstreamKey(s.SecretAccessKey); err != nil {
		c.fail(p+".secret_access_key", r.S3.SecretAccessKey.line(), "%v", err)
	}
	if strings.Contains(s.Prefix, "..") || strings.ContainsAny(s.Prefix, "\\\x00") {
		c.fail(p+".prefix", r.S3.Prefix.line(), "invalid prefix %q", s.Prefix)
	}
	m.S3 = s
}

func (c *converter) server(r *rawServer, s *Server) {
	s.Addr = c.str(r.Addr, s.Addr)
	if msg := addrProblem(s.Addr); msg != "" {
		c.fail("server.addr", r.Addr.line(), "%s", msg)
	}
	s.MaxBodyMB = int(c.integer(r.MaxBodyMB, "server.max_body_mb", int64(s.MaxBodyMB), 1, 4096))
	s.ReadHeaderTimeout = c.duration(r.ReadHeaderTimeout, "server.read_header_timeout", s.ReadHeaderTimeout, false)
	s.ReadTimeout = c.duration(r.ReadTimeout, "server.read_timeout", s.ReadTimeout, false)
	s.WriteTimeout = c.duration(r.WriteTimeout, "server.write_timeout", s.WriteTimeout, false)
	s.IdleTimeout = c.duration(r.IdleTimeout, "server.idle_timeout", s.IdleTimeout, false)
	s.ShutdownTimeout = c.duration(r.ShutdownTimeout, "server.shutdown_timeout", s.ShutdownTimeout, false)
	s.MaxInflightBodyMB = int(c.integer(r.MaxInflightBodyMB, "server.max_inflight_body_mb", int64(s.MaxInflightBodyMB), 0, 1<<20))
	if s.MaxInflightBodyMB > 0 && s.MaxInflightBodyMB < s.MaxBodyMB {
		c.fail("server.max_inflight_body_mb", r.MaxInflightBodyMB.line(), "must be at least max_body_mb (%d), or 0 for no bound", s.MaxBodyMB)
	}
	s.OverloadWait = c.duration(r.OverloadWait, "server.overload_wait", s.OverloadWait, false)
	s.MaxJSONDepth = int(c.integer(r.MaxJSONDepth, "server.max_json_depth", int64(s.MaxJSONDepth), 1, 10000))
	s.WriteStallTimeout = c.duration(r.WriteStallTimeout, "server.write_stall_timeout", s.WriteStallTimeout, false)
	s.TLSCertFile, s.TLSKeyFile = c.str(r.TLSCertFile, ""), c.str(r.TLSKeyFile, "")
	if (s.TLSCertFile == "") != (s.TLSKeyFile == "") {
		c.fail("server.tls_cert_file", r.TLSCertFile.line(), "tls_cert_file and tls_key_file go together: set both to serve HTTPS, or neither")
	}
}

func (c *converter) storage(r *rawStorage, s *Storage) {
	s.Database = c.str(r.Database, s.Database)
	if msg := databaseProblem(s.Database); msg != "" {
		c.fail("storage.database", r.Database.line(), "%s", msg)
	}
	s.Redis = c.str(r.Redis, s.Redis)
	if msg := redisProblem(s.Redis); msg != "" {
		c.fail("storage.redis", r.Redis.line(), "%s", msg)
	}
	s.RedisPrefix = c.str(r.RedisPrefix, s.RedisPrefix)
	if msg := redisPrefixProblem(s.RedisPrefix); msg != "" {
		c.fail("storage.redis_prefix", r.RedisPrefix.line(), "%s", msg)
	}
}

// redisPrefixProblem keeps prefixes printable and short: they are part of
// every key, and a space or control byte would make keys hard to inspect.
func redisPrefixProblem(p string) string {
	if len(p) > 64 {
		return "must be at most 64 characters"
	}
	for _, r := range p {
		if r <= ' ' || r == 0x7f {
			return "must not contain spaces or control characters"
		}
	}
	return ""
}

func addrProblem(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Sprintf("invalid address %q (want host:port, e.g. 127.0.0.1:8080 or :8080)", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Sprintf("invalid port %q in %q", port, addr)
	}
	return ""
}

func databaseProblem(db string) string {
	scheme, rest, ok := strings.Cut(db, "://")
	if !ok || rest == "" || !slices.Contains([]string{"sqlite", "postgres", "postgresql"}, scheme) {
		return fmt.Sprintf("unsupported database %q (want sqlite://path/to/file.db or postgres://user@host:5432/db)", rules.RedactURL(db))
	}
	return ""
}

func redisProblem(addr string) string {
	if addr == "" {
		return ""
	}
	scheme, rest, ok := strings.Cut(addr, "://")
	if !ok || rest == "" || !slices.Contains([]string{"redis", "rediss", "unix"}, scheme) {
		return fmt.Sprintf("unsupported redis address %q (want redis://host:6379/0)", rules.RedactURL(addr))
	}
	return ""
}

func (c *converter) channel(r *rawChannel, p string, names map[string]string) Channel {
	ch := Channel{Source: "config"}

	ch.Name = c.str(r.Name, "")
	c.name(ch.Name, "channel", p, r.Name.line(), names)

	ch.Type = gateway.ChannelType(c.str(r.Type, ""))
	if err := rules.ChannelType(ch.Type); err != nil {
		c.fail(p+".type", r.Type.line(), "%v", err)
	}

	base, err := rules.BaseURL(ch.Type, c.str(r.BaseURL, ""))
	if err != nil {
		c.fail(p+".base_url", r.BaseURL.line(), "%v", err)
	}
	ch.BaseURL = base

	for i, k := range r.APIKeys {
		v, _ := k.text()
		if err := rules.UpstreamKey(v); err != nil {
			c.fail(fmt.Sprintf("%s.api_keys[%d]", p, i), k.line(), "%v", err)
			continue
		}
		ch.APIKeys = append(ch.APIKeys, v)
	}
	if len(r.APIKeys) == 0 && rules.NeedsAPIKey(ch.Type) && ch.Type != "" {
		c.fail(p+".api_keys", 0, "at least one key is required for type %s", ch.Type)
	}

	ch.Models = c.models(r.Models, p+".models")
	if len(r.Models) == 0 {
		c.fail(p+".models", 0, "at least one model is required (globs such as \"gpt-4o*\" or \"*\" are allowed)")
	}

	if len(r.ModelMap) > 0 {
		ch.ModelMap = make(map[string]string, len(r.ModelMap))
		for _, from := range slices.Sorted(maps.Keys(r.ModelMap)) {
			to := r.ModelMap[from]
			f := p + ".model_map." + from
			v, _ := to.text()
			if _, err := rules.ModelPattern(from); err != nil {
				c.fail(p+".model_map", 0, "%v", err)
			} else if err := rules.ModelMapTarget(v); err != nil {
				c.fail(f, to.line(), "%v", err)
			} else {
				ch.ModelMap[from] = v
			}
		}
	}

	ch.Priority = int(c.integer(r.Priority, p+".priority", 0, math.MinInt32, math.MaxInt32))
	ch.Weight = int(c.integer(r.Weight, p+".weight", DefaultWeight, 0, math.MaxInt32))

	if len(r.Headers) > 0 {
		ch.Headers = make(map[string]string, len(r.Headers))
		// Sorted so that errors on one line come out in a stable order.
		for _, name := range slices.Sorted(maps.Keys(r.Headers)) {
			val := r.Headers[name]
			f := p + ".headers." + name
			v, _ := val.text()
			if err := rules.HeaderName(name); err != nil {
				c.fail(f, 0, "%v", err)
			} else if err := rules.HeaderValue(v); err != nil {
				c.fail(f, val.line(), "%v", err)
			} else {
				ch.Headers[name] = v
			}
		}
	}

	ch.Timeout = c.duration(r.Timeout, p+".timeout", DefaultChannelTimeout, true)
	ch.ConnectTimeout = c.duration(r.ConnectTimeout, p+".connect_timeout", DefaultConnectTimeout, false)
	ch.FirstByteTimeout = c.duration(r.FirstByteTimeout, p+".first_byte_timeout", 0, false)
	ch.IdleTimeout = c.duration(r.IdleTimeout, p+".idle_timeout", 0, false)
	if v, ok := r.PriceMultiplier.text(); ok {
		if _, err := pricing.ParseMultiplier(v); err != nil {
			c.fail(p+".price_multiplier", r.PriceMultiplier.line(), "%v", err)
		} else if _, both := r.Settings[pricing.MultiplierSetting]; both {
			c.fail(p+".price_multiplier", r.PriceMultiplier.line(), "set either price_multiplier or settings.price_multiplier, not both")
		} else {
			ch.PriceMultiplier = strings.TrimSpace(v)
		}
	}
	ch.MaxStreamDuration = c.duration(r.MaxStreamDuration, p+".max_stream_duration", 0, false)
	ch.MaxOutputTokens = c.integer(r.MaxOutputTokens, p+".max_output_tokens", 0, 0, math.MaxInt32)
	ch.PassHeaders = c.names(r.PassHeaders, p+".pass_headers", rules.Token)
	ch.PassQuery = c.names(r.PassQuery, p+".pass_query", func(s string) bool { return !strings.ContainsAny(s, ",&=# ") })
	ch.Enabled = c.boolean(r.Enabled, p+".enabled", true)

	if len(r.Settings) > 0 {
		ch.Settings = make(map[string]string, len(r.Settings))
		for _, name := range slices.Sorted(maps.Keys(r.Settings)) {
			val := r.Settings[name]
			v, _ := val.text()
			if err := rules.Setting(ch.Type, name, v); err != nil {
				c.fail(p+".settings."+name, val.line(), "%v", err)
			}
			ch.Settings[name] = v
		}
	}
	return ch
}

// names reads a list of header or query names, each optionally ending in
// '*' (a prefix), as pass_headers and pass_query take them.
func (c *converter) names(list []scalar, field string, valid func(string) bool) []string {
	var out []string
	for i, s := range list {
		v, _ := s.text()
		if name := strings.TrimSuffix(v, "*"); name == "" || !valid(name) {
			c.fail(fmt.Sprintf("%s[%d]", field, i), s.line(), "invalid name %q", v)
			continue
		}
		out = append(out, v)
	}
	return out
}

func (c *converter) models(list []scalar, field string) []string {
	var out []string
	for i, m := range list {
		f := fmt.Sprintf("%s[%d]", field, i)
		v, _ := m.text()
		v, err := rules.ModelPattern(v)
		if err != nil {
			c.fail(f, m.line(), "%v", err)
			continue
		}
		out = append(out, v)
	}
	return out
}

func (c *converter) key(r *rawKey, p string, names, secrets map[string]string) Key {
	k := Key{}
	k.Name = c.str(r.Name, "")
	c.name(k.Name, "key", p, r.Name.line(), names)

	if s, ok := r.Key.text(); ok {
		err := rules.Secret(s)
		switch {
		case err != nil:
			c.fail(p+".key", r.Key.line(), "%v", err)
		case secrets[s] != "":
			c.fail(p+".key", r.Key.line(), "same key value as %s", secrets[s])
		default:
			secrets[s] = p
			k.Secret = s
		}
	}

	k.Models = c.models(r.Models, p+".models")
	if len(r.Models) == 0 {
		k.Models = []string{"*"}
	}
	if usd, ok := c.number(r.BudgetUSD, p+".budget_usd", math.MaxFloat64); ok {
		if err := rules.BudgetUSD(usd); err != nil {
			c.fail(p+".budget_usd", r.BudgetUSD.line(), "%v", err)
		} else {
			k.BudgetNanoUSD = gateway.NanoUSD(usd)
		}
	}
	k.RPM = c.limit(r.RPM, p+".rpm")
	k.TPM = c.limit(r.TPM, p+".tpm")
	k.MaxConcurrent = c.limit(r.MaxConcurrent, p+".max_concurrent")
	if v, ok := r.BudgetPeriod.text(); ok {
		period, err := gateway.ParseBudgetPeriod(v)
		if err != nil {
			c.fail(p+".budget_period", r.BudgetPeriod.line(), "%v", err)
		}
		k.BudgetPeriod = period
	}
	k.Enabled = c.boolean(r.Enabled, p+".enabled", true)
	return k
}

// maxUnitUSD bounds a per-unit price, which is kept per million units.
const maxUnitUSD = 1000

func (r *rawPrice) priceFields() []priceField {
	return []priceField{
		{"input_per_mtok", r.InputPerMTok}, {"output_per_mtok", r.OutputPerMTok},
		{"cached_input_per_mtok", r.CachedInputPerMTok}, {"cache_write_per_mtok", r.CacheWritePerMTok},
		{"cache_write_1h_per_mtok", r.CacheWrite1hPerMTok}, {"reasoning_per_mtok", r.ReasoningPerMTok},
		{"audio_input_per_mtok", r.AudioInputPerMTok}, {"audio_output_per_mtok", r.AudioOutputPerMTok},
		{"image_input_per_mtok", r.ImageInputPerMTok}, {"image_output_per_mtok", r.ImageOutputPerMTok},
		{"per_call_usd", r.PerCallUSD},
	}
}

type priceField struct {
	name string
	s    scalar
}

// priceGiven reports whether any price field is set.
func (r *rawPrice) priceGiven() bool {
	for _, f := range r.priceFields() {
		if f.s.set() {
			return true
		}
	}
	return len(r.UnitsUSD) > 0 || len(r.Tiers) > 0
}

// rates converts dollar fields into out's nano-USD fields.
func (c *converter) rates(fields []priceField, dst []*int64, p string) {
	for i, f := range fields {
		if !f.s.set() {
			continue
		}
		if usd, ok := c.number(f.s, p+"."+f.name, maxPricePerMTok); ok {
			*dst[i] = gateway.NanoUSD(usd)
		}
	}
}

func (c *converter) price(r *rawPrice, p string) (gateway.Price, bool) {
	var out gateway.Price
	if !r.priceGiven() {
		c.fail(p, 0, "no price given (set input_per_mtok/output_per_mtok, per_call_usd, units_usd, or same_as)")
		return out, false
	}
	c.rates(r.priceFields(), []*int64{&out.InputPerMTok, &out.OutputPerMTok, &out.CachedInputPerMTok, &out.CacheWritePerMTok,
		&out.CacheWrite1hPerMTok, &out.ReasoningPerMTok, &out.AudioInputPerMTok, &out.AudioOutputPerMTok,
		&out.ImageInputPerMTok, &out.ImageOutputPerMTok, &out.PerCall}, p)
	for _, unit := range slices.Sorted(maps.Keys(r.UnitsUSD)) {
		f := p + ".units_usd." + unit
		if strings.TrimSpace(unit) == "" || strings.ContainsAny(unit, "=; ") {
			c.fail(p+".units_usd", 0, "invalid unit name %q", unit)
			continue
		}
		if usd, ok := c.number(r.UnitsUSD[unit], f, maxUnitUSD); ok {
			out.Units = append(out.Units, gateway.UnitPrice{Unit: unit, PerMUnits: gateway.NanoUSD(usd) * 1_000_000})
		}
	}
	for i := range r.Tiers {
		rt := &r.Tiers[i]
		f := fmt.Sprintf("%s.tiers[%d]", p, i)
		t := gateway.PriceTier{Price: out}
		t.Price.Units, t.Price.Tiers = nil, nil
		t.AbovePromptTokens = c.integer(rt.AbovePromptTokens, f+".above_prompt_tokens", 0, 1, math.MaxInt32)
		if t.AbovePromptTokens == 0 {
			c.fail(f+".above_prompt_tokens", 0, "required")
		}
		c.rates([]priceField{{"input_per_mtok", rt.InputPerMTok}, {"output_per_mtok", rt.OutputPerMTok},
			{"cached_input_per_mtok", rt.CachedInputPerMTok}, {"cache_write_per_mtok", rt.CacheWritePerMTok},
			{"cache_write_1h_per_mtok", rt.CacheWrite1hPerMTok}},
			[]*int64{&t.Price.InputPerMTok, &t.Price.OutputPerMTok, &t.Price.CachedInputPerMTok, &t.Price.CacheWritePerMTok,
				&t.Price.CacheWrite1hPerMTok}, f)
		out.Tiers = append(out.Tiers, t)
	}
	return out, true
}

// limits reads the model-limit fields of a price entry.
func (c *converter) limits(r *rawPrice, p string) (pricing.Limits, bool) {
	l := pricing.Limits{
		ContextWindow: c.integer(r.ContextWindow, p+".context_window", 0, 1, math.MaxInt32),
		MaxOutput:     c.integer(r.MaxOutputTokens, p+".max_output_tokens", 0, 1, math.MaxInt32),
		ImageTokens:   c.integer(r.ImageTokens, p+".image_tokens", 0, 1, math.MaxInt32),
	}
	return l, l != (pricing.Limits{})
}

// name checks a key or channel name at field p and that no other one of
// the kind has it.
func (c *converter) name(name, kind, p string, line int, names map[string]string) {
	if err := rules.Name(name); err != nil {
		c.fail(p+".name", line, "%v", err)
		return
	}
	if names[name] != "" {
		c.fail(p+".name", line, "duplicate %s name %q (also %s)", kind, name, names[name])
		return
	}
	names[name] = p
}

// limit reads a per-key rate or concurrency limit; 0 is no limit.
func (c *converter) limit(s scalar, field string) int {
	n := c.integer(s, field, 0, math.MinInt64, math.MaxInt64)
	if err := rules.Limit(n); err != nil {
		c.fail(field, s.line(), "%v", err)
		return 0
	}
	return int(n)
}
