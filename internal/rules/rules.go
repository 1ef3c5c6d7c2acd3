// Package rules holds the rules about client keys and channels that every
// way of making one shares: the config file (internal/config), the admin
// API (internal/admin) and the CLI (cmd/switchboard). A name, a secret, a
// base URL or a model pattern one of them accepts, the others accept too,
// and a bad one is refused by all three with the same words. It also mints
// secrets and derives the prefix a listing may show of one.
//
// Each check returns an error whose message names the problem but not the
// field: callers prefix the field in their own way (a file line, a JSON
// field, a flag).
package rules

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"switchboard/internal/gateway"
	"switchboard/internal/pricing"
	"switchboard/internal/upstream"
)

// Bounds on keys and channels.
const (
	// MaxNameLen bounds key and channel names.
	MaxNameLen = 64
	// MinSecretLen is the shortest client key or admin token accepted.
	MinSecretLen = 16
	// MaxSecretLen is the longest client key accepted.
	MaxSecretLen = 256
	// MaxBudgetUSD bounds a key's budget: $1 billion, far inside int64
	// nano-USD.
	MaxBudgetUSD = 1e9
	// MaxTokensPerSecond bounds a simulator channel's speed.
	MaxTokensPerSecond = 1e9
)

// Markers that start the secrets Switchboard mints, so leaked ones are
// recognisable by secret scanners.
const (
	KeyMarker        = "sk-sb-"
	AdminTokenMarker = "sb-admin-"
)

// secretBytes is how much randomness a minted secret carries: 192 bits.
const secretBytes = 24

// MintKey returns a new client key secret.
func MintKey() string { return mint(KeyMarker) }

// MintAdminToken returns a new admin token.
func MintAdminToken() string { return mint(AdminTokenMarker) }

// Mint returns a new secret of secretBytes random bytes after marker
// (webhook signing secrets, for example).
func Mint(marker string) string { return mint(marker) }

func mint(marker string) string {
	var b [secretBytes]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return marker + hex.EncodeToString(b[:])
}

// DisplayPrefix is the part of a client key secret that listings show:
// enough to tell keys apart, too little to matter — 16 random bits of a
// minted key, at most a quarter of a fixed one.
func DisplayPrefix(secret string) string {
	n := len(KeyMarker) + 4
	if !strings.HasPrefix(secret, KeyMarker) {
		n = min(n, len(secret)/4)
	}
	return secret[:min(n, len(secret))]
}

// Name checks a key or channel name: up to MaxNameLen ASCII letters,
// digits, '.', '_' or '-'.
func Name(s string) error {
	if s == "" {
		return errors.New("required")
	}
	ok := len(s) <= MaxNameLen
	for i := 0; ok && i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			ok = false
		}
	}
	if !ok {
		return fmt.Errorf("invalid name %q (use up to %d letters, digits, '.', '_' or '-')", s, MaxNameLen)
	}
	return nil
}

// Secret checks a client key secret chosen by the operator.
func Secret(s string) error {
	switch {
	case len(s) < MinSecretLen:
		return fmt.Errorf("must be at least %d characters (or omit it to have one generated)", MinSecretLen)
	case len(s) > MaxSecretLen:
		return fmt.Errorf("must be at most %d characters", MaxSecretLen)
	}
	return printable(s, "")
}

// AdminToken checks an admin token chosen by the operator.
func AdminToken(s string) error {
	if len(s) < MinSecretLen {
		return fmt.Errorf("must be at least %d characters (leave it empty to have one generated)", MinSecretLen)
	}
	return nil
}

// UpstreamKey checks one of a channel's provider API keys.
func UpstreamKey(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("empty key")
	}
	return printable(s, "key ")
}

// printable refuses whitespace and control characters, which no real
// credential has and which would break the header it is sent in.
func printable(s, what string) error {
	switch {
	case strings.ContainsAny(s, " \t\r\n"):
		return fmt.Errorf("%scontains whitespace", what)
	case strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }):
		return fmt.Errorf("%scontains control characters", what)
	}
	return nil
}

// BudgetUSD checks a key's budget in USD; 0 is no budget.
func BudgetUSD(usd float64) error {
	switch {
	case math.IsNaN(usd) || math.IsInf(usd, 0):
		return errors.New("expected a number")
	case usd < 0:
		return fmt.Errorf("must not be negative, got %g", usd)
	case usd > MaxBudgetUSD:
		return fmt.Errorf("%g is implausibly large (limit %g)", usd, float64(MaxBudgetUSD))
	}
	return nil
}

// Limit checks a per-key rate or concurrency limit; 0 is no limit.
func Limit(n int64) error {
	switch {
	case n < 0:
		return fmt.Errorf("must be at least 0, got %d", n)
	case n > math.MaxInt32:
		return fmt.Errorf("must be at most %d, got %d", math.MaxInt32, n)
	}
	return nil
}

// ModelPattern checks a model name or glob (as path.Match takes it) of a
// key's allow-list or a channel's models, and returns it trimmed.
func ModelPattern(m string) (string, error) {
	m = strings.TrimSpace(m)
	if m == "" {
		return "", errors.New("empty model name")
	}
	if _, err := path.Match(m, ""); err != nil {
		return "", fmt.Errorf("invalid glob %q", m)
	}
	return m, nil
}

// ModelMapTarget checks the upstream name a channel's model_map gives a
// client-visible model.
func ModelMapTarget(to string) error {
	if strings.TrimSpace(to) == "" {
		return errors.New("empty upstream model name")
	}
	return nil
}

var defaultBaseURLs = map[gateway.ChannelType]string{
	gateway.ChannelOpenAI:    "https://api.openai.com",
	gateway.ChannelAnthropic: "https://api.anthropic.com",
	gateway.ChannelGemini:    "https://generativelanguage.googleapis.com",
}

// DefaultBaseURL is the base URL of a channel of type t that sets none,
// or "" when the type has no public endpoint to default to.
func DefaultBaseURL(t gateway.ChannelType) string { return defaultBaseURLs[t] }

// ChannelType checks a channel's type.
func ChannelType(t gateway.ChannelType) error {
	switch {
	case t == "":
		return fmt.Errorf("required (one of %s)", typeList())
	case !slices.Contains(gateway.ChannelTypes, t):
		return fmt.Errorf("unknown channel type %q (want one of %s)", t, typeList())
	}
	return nil
}

func typeList() string {
	names := make([]string, len(gateway.ChannelTypes))
	for i, t := range gateway.ChannelTypes {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}

// NeedsAPIKey reports whether a channel of type t must have an API key.
func NeedsAPIKey(t gateway.ChannelType) bool { return t != gateway.ChannelSimulator }

// BaseURL returns the base URL a channel of type t uses when configured
// with s: trimmed of spaces and trailing slashes, the type's default when
// empty, and checked.
func BaseURL(t gateway.ChannelType, s string) (string, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "/")
	if s == "" {
		s = DefaultBaseURL(t)
	}
	if s == "" {
		switch t {
		case gateway.ChannelAzure, gateway.ChannelOpenAICompatible, gateway.ChannelMidjourney:
			return "", fmt.Errorf("required for type %s", t)
		}
		return "", nil
	}
	return s, CheckURL(s)
}

// CheckURL checks an upstream base URL: http or https, a host, and no
// credentials, query or fragment. Messages never show a password.
func CheckURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("invalid URL %q", RedactURL(s))
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("invalid URL %q: want http:// or https://", RedactURL(s))
	case u.Host == "":
		return fmt.Errorf("invalid URL %q: no host", s)
	case u.User != nil:
		return fmt.Errorf("invalid URL %q: credentials belong in api_keys or headers, not the URL", RedactURL(s))
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return fmt.Errorf("invalid URL %q: no query or fragment allowed", s)
	}
	return nil
}

// RedactURL hides a URL's password so that no message prints one.
func RedactURL(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		return u.Redacted()
	}
	return s
}

// HeaderName checks the name of an extra upstream header.
func HeaderName(name string) error {
	if !Token(name) {
		return fmt.Errorf("invalid header name %q", name)
	}
	return nil
}

// HeaderValue checks the value of an extra upstream header.
func HeaderValue(v string) error {
	if strings.ContainsAny(v, "\r\n\x00") {
		return errors.New("header value contains a line break")
	}
	return nil
}

// Token reports whether s is a non-empty RFC 9110 token, as header names
// are.
func Token(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// Setting checks the channel settings Switchboard itself reads; others
// pass through for the upstream adaptor to interpret.
func Setting(t gateway.ChannelType, name, v string) error {
	switch name {
	case "":
		return errors.New("empty setting name")
	case "latency":
		if t != gateway.ChannelSimulator {
			return nil
		}
		d, err := time.ParseDuration(strings.TrimSpace(v))
		switch {
		case err != nil:
			return fmt.Errorf("invalid duration %q (e.g. 30s, 2m, 1h30m)", v)
		case d < 0:
			return fmt.Errorf("must not be negative, got %s", v)
		}
	case "tokens_per_second":
		if t != gateway.ChannelSimulator {
			return nil
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		switch {
		case err != nil || math.IsNaN(f) || math.IsInf(f, 0):
			return fmt.Errorf("expected a number, got %q", v)
		case f <= 0:
			return errors.New("must be positive")
		case f > MaxTokensPerSecond:
			return fmt.Errorf("%s is implausibly large (limit %g)", v, float64(MaxTokensPerSecond))
		}
	case "api_version":
		if strings.TrimSpace(v) == "" {
			return errors.New("must not be empty")
		}
	case pricing.MultiplierSetting:
		if _, err := pricing.ParseMultiplier(v); err != nil {
			return err
		}
	case upstream.SettingResponses:
		switch {
		case v == upstream.ResponsesOnly && (t == gateway.ChannelOpenAI || t == gateway.ChannelAzure || t == gateway.ChannelOpenAICompatible):
		case v == upstream.ResponsesNative && t == gateway.ChannelOpenAICompatible:
		default:
			return fmt.Errorf("want %q (an openai-compatible server that also speaks the Responses API) or %q (an openai, azure or openai-compatible channel whose models are reachable only through it)", upstream.ResponsesNative, upstream.ResponsesOnly)
		}
	case upstream.SettingResponsesWS:
		if v != "true" && v != "false" {
			return fmt.Errorf("want true or false, got %q", v)
		}
		if v == "true" && t != gateway.ChannelOpenAI && t != gateway.ChannelAzure && t != gateway.ChannelOpenAICompatible {
			return errors.New("only openai, azure and openai-compatible channels (with responses: native or only) serve the Responses WebSocket")
		}
	}
	return nil
}
