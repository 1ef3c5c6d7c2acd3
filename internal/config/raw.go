package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// scalar is a leaf of the raw configuration: it keeps the AST node so that
// conversion can say exactly which line a bad value is on, and so that we,
// not the YAML library, decide how "0777" or "1e3" become strings and numbers.
type scalar struct {
	node ast.Node
}

// UnmarshalYAML implements yaml.NodeUnmarshaler. The decoder does not call
// it for null values, so an absent and a null field look the same.
func (s *scalar) UnmarshalYAML(n ast.Node) error {
	s.node = n
	return nil
}

// text returns the scalar as written (unquoted) and whether it is set. An
// unquoted empty value (typically an unset ${VAR}) counts as not set.
func (s scalar) text() (string, bool) {
	switch n := s.node.(type) {
	case nil, *ast.NullNode:
		return "", false
	case *ast.StringNode:
		if n.Value == "" && isPlain(n.Token) {
			return "", false
		}
		return n.Value, true
	case *ast.LiteralNode:
		if n.Value == nil {
			return "", true
		}
		return n.Value.Value, true
	case *ast.TagNode:
		return scalar{n.Value}.text()
	case *ast.AnchorNode:
		return scalar{n.Value}.text()
	case *ast.MappingNode, *ast.MappingValueNode, *ast.SequenceNode:
		return "", true
	}
	if tk := s.node.GetToken(); tk != nil {
		return tk.Value, true
	}
	return "", false
}

func (s scalar) set() bool {
	_, ok := s.text()
	return ok
}

func (s scalar) line() int {
	if s.node == nil {
		return 0
	}
	if tk := s.node.GetToken(); tk != nil {
		return tk.Position.Line
	}
	return 0
}

// The raw* types mirror the YAML contract field for field. Their yaml tags
// ARE the public contract: renaming one breaks users' files.

type rawConfig struct {
	Server   rawServer           `yaml:"server"`
	Storage  rawStorage          `yaml:"storage"`
	Admin    rawAdmin            `yaml:"admin"`
	Log      rawLog              `yaml:"log"`
	Channels []rawChannel        `yaml:"channels"`
	Keys     []rawKey            `yaml:"keys"`
	Prices   map[string]rawPrice `yaml:"prices"`
	// Pricing extends DESIGN.md §4.
	Pricing rawPricing `yaml:"pricing"`
	// Tasks extends DESIGN.md §4 (issue 14).
	Tasks rawTasks `yaml:"tasks"`
	// Telemetry extends DESIGN.md §4 (issue 12).
	Telemetry rawTelemetry `yaml:"telemetry"`
	// Media extends DESIGN.md §4 (issue 11).
	Media rawMedia `yaml:"media"`
	// Ledger extends DESIGN.md §4 (issue 12: retention).
	Ledger rawLedger `yaml:"ledger"`
}

type rawMedia struct {
	UploadLimitsMB map[string]scalar `yaml:"upload_limits_mb"`
	Dir            scalar            `yaml:"dir"`
	URLTTL         scalar            `yaml:"url_ttl"`
	QuotaMB        scalar            `yaml:"quota_mb"`
	PublicURL      scalar            `yaml:"public_url"`
	Proxy          scalar            `yaml:"proxy"`
	S3             *rawMediaS3       `yaml:"s3"`
}

type rawMediaS3 struct {
	Endpoint        scalar `yaml:"endpoint"`
	Bucket          scalar `yaml:"bucket"`
	Region          scalar `yaml:"region"`
	AccessKeyID     scalar `yaml:"access_key_id"`
	SecretAccessKey scalar `yaml:"secret_access_key"`
	Prefix          scalar `yaml:"prefix"`
	UseSSL          scalar `yaml:"use_ssl"`
}

type rawLedger struct {
	Retention       scalar `yaml:"retention"`
	HourlyRetention scalar `yaml:"hourly_retention"`
	DailyRetention  scalar `yaml:"daily_retention"`
	PruneInterval   scalar `yaml:"prune_interval"`
}

type rawPricing struct {
	File            scalar `yaml:"file"`
	LiteLLMFile     scalar `yaml:"litellm_file"`
	Unpriced        scalar `yaml:"unpriced"`
	MinOutputTokens scalar `yaml:"min_output_tokens"`
}

// rawPriceFile is the operator's price file (pricing.file).
type rawPriceFile struct {
	Prices map[string]rawPrice `yaml:"prices"`
}

type rawServer struct {
	Addr              scalar `yaml:"addr"`
	MaxBodyMB         scalar `yaml:"max_body_mb"`
	ReadHeaderTimeout scalar `yaml:"read_header_timeout"`
	ReadTimeout       scalar `yaml:"read_timeout"`
	WriteTimeout      scalar `yaml:"write_timeout"`
	IdleTimeout       scalar `yaml:"idle_timeout"`
	ShutdownTimeout   scalar `yaml:"shutdown_timeout"`
	// Extensions of issue 7 (hardening).
	MaxInflightBodyMB scalar `yaml:"max_inflight_body_mb"`
	OverloadWait      scalar `yaml:"overload_wait"`
	MaxJSONDepth      scalar `yaml:"max_json_depth"`
	WriteStallTimeout scalar `yaml:"write_stall_timeout"`
	TLSCertFile       scalar `yaml:"tls_cert_file"`
	TLSKeyFile        scalar `yaml:"tls_key_file"`
}

type rawStorage struct {
	Database scalar `yaml:"database"`
	Redis    scalar `yaml:"redis"`
	// RedisPrefix extends DESIGN.md §4.
	RedisPrefix scalar `yaml:"redis_prefix"`
}

type rawAdmin struct {
	Token scalar `yaml:"token"`
	// MCPWrites extends DESIGN.md §4 (issue 12).
	MCPWrites scalar `yaml:"mcp_writes"`
	// Extensions of issue 12 (console).
	ViewerTokens []scalar `yaml:"viewer_tokens"`
	SessionTTL   scalar   `yaml:"session_ttl"`
	Addr         scalar   `yaml:"addr"`
}

type rawLog struct {
	Level  scalar `yaml:"level"`
	Format scalar `yaml:"format"`
}

type rawChannel struct {
	Name             scalar            `yaml:"name"`
	Type             scalar            `yaml:"type"`
	BaseURL          scalar            `yaml:"base_url"`
	APIKeys          []scalar          `yaml:"api_keys"`
	Models           []scalar          `yaml:"models"`
	ModelMap         map[string]scalar `yaml:"model_map"`
	Priority         scalar            `yaml:"priority"`
	Weight           scalar            `yaml:"weight"`
	Headers          map[string]scalar `yaml:"headers"`
	Timeout          scalar            `yaml:"timeout"`
	Enabled          scalar            `yaml:"enabled"`
	Settings         map[string]scalar `yaml:"settings"`
	ConnectTimeout   scalar            `yaml:"connect_timeout"`
	FirstByteTimeout scalar            `yaml:"first_byte_timeout"`
	IdleTimeout      scalar            `yaml:"idle_timeout"`
	PriceMultiplier  scalar            `yaml:"price_multiplier"`
	// Extensions of issue 7 (hardening); they travel in Settings.
	PassHeaders       []scalar `yaml:"pass_headers"`
	PassQuery         []scalar `yaml:"pass_query"`
	MaxStreamDuration scalar   `yaml:"max_stream_duration"`
	MaxOutputTokens   scalar   `yaml:"max_output_tokens"`
}

type rawKey struct {
	Name          scalar   `yaml:"name"`
	Key           scalar   `yaml:"key"`
	Models        []scalar `yaml:"models"`
	BudgetUSD     scalar   `yaml:"budget_usd"`
	RPM           scalar   `yaml:"rpm"`
	TPM           scalar   `yaml:"tpm"`
	MaxConcurrent scalar   `yaml:"max_concurrent"`
	Enabled       scalar   `yaml:"enabled"`
	BudgetPeriod  scalar   `yaml:"budget_period"`
}

type rawPrice struct {
	InputPerMTok       scalar `yaml:"input_per_mtok"`
	OutputPerMTok      scalar `yaml:"output_per_mtok"`
	CachedInputPerMTok scalar `yaml:"cached_input_per_mtok"`
	CacheWritePerMTok  scalar `yaml:"cache_write_per_mtok"`
	ReasoningPerMTok   scalar `yaml:"reasoning_per_mtok"`
	AudioInputPerMTok  scalar `yaml:"audio_input_per_mtok"`
	AudioOutputPerMTok scalar `yaml:"audio_output_per_mtok"`
	ImageOutputPerMTok scalar `yaml:"image_output_per_mtok"`
	PerCallUSD         scalar `yaml:"per_call_usd"`
	// Extensions.
	CacheWrite1hPerMTok scalar            `yaml:"cache_write_1h_per_mtok"`
	ImageInputPerMTok   scalar            `yaml:"image_input_per_mtok"`
	UnitsUSD            map[string]scalar `yaml:"units_usd"`
	Tiers               []rawTier         `yaml:"tiers"`
	SameAs              scalar            `yaml:"same_as"`
	ContextWindow       scalar            `yaml:"context_window"`
	MaxOutputTokens     scalar            `yaml:"max_output_tokens"`
	ImageTokens         scalar            `yaml:"image_tokens"`
}

// rawTier is a long-context tier of a price: above so many prompt tokens,
// the whole call is priced at these rates (an absent rate keeps the
// entry's own).
type rawTier struct {
	AbovePromptTokens   scalar `yaml:"above_prompt_tokens"`
	InputPerMTok        scalar `yaml:"input_per_mtok"`
	OutputPerMTok       scalar `yaml:"output_per_mtok"`
	CachedInputPerMTok  scalar `yaml:"cached_input_per_mtok"`
	CacheWritePerMTok   scalar `yaml:"cache_write_per_mtok"`
	CacheWrite1hPerMTok scalar `yaml:"cache_write_1h_per_mtok"`
}

var scalarType = reflect.TypeFor[scalar]()

// shapeChecker walks the AST beside the raw types and reports unknown
// fields and values of the wrong shape (a list where a mapping belongs, ...)
// for the whole file, where the decoder would stop at the first. It also
// records the line of every path it visits, for errors about fields that
// are missing (reported at their parent).
type shapeChecker struct {
	lines   map[string]int
	errs    []fieldErr
	unknown int // how many of errs are unknown fields
	shape   int // how many are shape errors
}

type fieldErr struct {
	line  int
	field string
	msg   string
}

func (c *shapeChecker) check(n ast.Node, t reflect.Type, path string, depth int) {
	if depth > 32 {
		return
	}
	for {
		switch v := n.(type) {
		case *ast.AnchorNode:
			n = v.Value
			continue
		case *ast.TagNode:
			n = v.Value
			continue
		}
		break
	}
	if n == nil {
		return
	}
	if tk := n.GetToken(); tk != nil && path != "" {
		if _, ok := c.lines[path]; !ok {
			c.lines[path] = tk.Position.Line
		}
	}
	switch n.(type) {
	case *ast.NullNode:
		return
	case *ast.AliasNode:
		// Resolved by the decoder; the target is checked where it is defined
		// (or by the decoder's strict mode when that is outside our schema).
		return
	}
	switch {
	case t == scalarType:
		switch n.(type) {
		case *ast.MappingNode, *ast.MappingValueNode:
			c.shapeErr(n, path, "expected a single value, got a mapping")
		case *ast.SequenceNode:
			c.shapeErr(n, path, "expected a single value, got a list")
		}
	case t.Kind() == reflect.Slice:
		seq, ok := n.(*ast.SequenceNode)
		if !ok {
			c.shapeErr(n, path, "expected a list, got "+describe(n))
			return
		}
		for i, v := range seq.Values {
			c.check(v, t.Elem(), fmt.Sprintf("%s[%d]", path, i), depth+1)
		}
	case t.Kind() == reflect.Map:
		pairs, ok := mappingPairs(n)
		if !ok {
			c.shapeErr(n, path, "expected a mapping, got "+describe(n))
			return
		}
		for _, p := range pairs {
			k, isMerge := keyString(p.Key)
			if isMerge {
				continue
			}
			c.keyLine(p, path+"."+k)
			c.check(p.Value, t.Elem(), path+"."+k, depth+1)
		}
	case t.Kind() == reflect.Struct:
		pairs, ok := mappingPairs(n)
		if !ok {
			c.shapeErr(n, path, "expected a mapping, got "+describe(n))
			return
		}
		for _, p := range pairs {
			k, isMerge := keyString(p.Key)
			if isMerge || strings.HasPrefix(k, "x-") {
				continue
			}
			sub := join(path, k)
			f, ok := fieldByTag(t, k)
			if !ok {
				c.errs = append(c.errs, fieldErr{line: lineOf(p.Key), field: sub, msg: fmt.Sprintf("unknown field %q%s", k, suggest(t, k))})
				c.unknown++
				continue
			}
			c.keyLine(p, sub)
			c.check(p.Value, f.Type, sub, depth+1)
		}
	}
}

func (c *shapeChecker) keyLine(p *ast.MappingValueNode, path string) {
	if _, ok := c.lines[path]; !ok {
		c.lines[path] = lineOf(p.Key)
	}
}

func (c *shapeChecker) shapeErr(n ast.Node, path, msg string) {
	c.errs = append(c.errs, fieldErr{line: lineOf(n), field: path, msg: msg})
	c.shape++
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func mappingPairs(n ast.Node) ([]*ast.MappingValueNode, bool) {
	switch v := n.(type) {
	case *ast.MappingNode:
		return v.Values, true
	case *ast.MappingValueNode:
		return []*ast.MappingValueNode{v}, true
	}
	return nil, false
}

// keyString returns a mapping key as text, and whether it is a merge key.
func keyString(k ast.MapKeyNode) (string, bool) {
	switch v := k.(type) {
	case *ast.MergeKeyNode:
		return "<<", true
	case *ast.StringNode:
		return v.Value, false
	case *ast.MappingKeyNode:
		if v.Value != nil {
			s, _ := scalar{v.Value}.text()
			return s, false
		}
	}
	if k == nil {
		return "", false
	}
	if tk := k.GetToken(); tk != nil {
		return tk.Value, false
	}
	return "", false
}

func lineOf(n ast.Node) int {
	if n == nil {
		return 0
	}
	if tk := n.GetToken(); tk != nil {
		return tk.Position.Line
	}
	return 0
}

func describe(n ast.Node) string {
	switch n.(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	}
	s, _ := scalar{n}.text()
	return strconv.Quote(s)
}

func fieldByTag(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); tag == name {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// suggest proposes the known field closest to a misspelt one.
func suggest(t reflect.Type, name string) string {
	best, bestD := "", 3
	for i := range t.NumField() {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if d := editDistance(strings.ToLower(name), tag); d < bestD {
			best, bestD = tag, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
