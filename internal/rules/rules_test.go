package rules

import (
	"math"
	"regexp"
	"strings"
	"testing"

	"switchboard/internal/gateway"
)

// check runs one rule over a table: want "" means accepted, otherwise the
// error must contain want.
func check(t *testing.T, name string, f func(string) error, cases map[string]string) {
	t.Helper()
	for in, want := range cases {
		err := f(in)
		switch {
		case want == "" && err != nil:
			t.Errorf("%s(%q) = %v, want nil", name, in, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s(%q) = %v, want an error containing %q", name, in, err, want)
		}
	}
}

func TestName(t *testing.T) {
	check(t, "Name", Name, map[string]string{
		"alice":                  "",
		"openai-main.v2_x":       "",
		strings.Repeat("a", 64):  "",
		strings.Repeat("a", 65):  "invalid name",
		"":                       "required",
		"has space":              `invalid name "has space" (use up to 64 letters`,
		"slash/y":                "invalid name",
		"ünïcode":                "invalid name",
		"semi;colon":             "invalid name",
		"tab\there":              "invalid name",
		"dots..are.fine":         "",
		"-leading-dash-is-fine-": "",
	})
}

func TestSecret(t *testing.T) {
	check(t, "Secret", Secret, map[string]string{
		"sk-0123456789abcdef":      "",
		"0123456789abcdef":         "",
		"short":                    "must be at least 16 characters",
		"0123456789abcde":          "must be at least 16",
		strings.Repeat("k", 256):   "",
		strings.Repeat("k", 257):   "must be at most 256",
		"has a space in it!!":      "contains whitespace",
		"sk-0123456789\tabcdef":    "contains whitespace",
		"sk-0123456789\x00abcdef":  "contains control characters",
		"sk-0123456789\x7fabcdef":  "contains control characters",
		"sk-0123456789abcdef\r\nX": "contains whitespace",
	})
}

func TestAdminToken(t *testing.T) {
	check(t, "AdminToken", AdminToken, map[string]string{
		"0123456789abcdef": "",
		"short":            "must be at least 16 characters (leave it empty",
	})
}

func TestUpstreamKey(t *testing.T) {
	check(t, "UpstreamKey", UpstreamKey, map[string]string{
		"sk-proj-abc": "",
		"k":           "",
		"":            "empty key",
		"   ":         "empty key",
		"a b":         "key contains whitespace",
		"a\x01b":      "key contains control characters",
	})
}

func TestBudgetAndLimit(t *testing.T) {
	for _, c := range []struct {
		usd  float64
		want string
	}{
		{0, ""}, {25, ""}, {MaxBudgetUSD, ""},
		{-1, "must not be negative, got -1"},
		{1e12, "1e+12 is implausibly large (limit 1e+09)"},
		{math.NaN(), "expected a number"},
		{math.Inf(1), "expected a number"},
	} {
		err := BudgetUSD(c.usd)
		if (c.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.want) {
			t.Errorf("BudgetUSD(%g) = %v, want %q", c.usd, err, c.want)
		}
	}
	for _, c := range []struct {
		n    int64
		want string
	}{
		{0, ""}, {600, ""}, {math.MaxInt32, ""},
		{-5, "must be at least 0, got -5"},
		{math.MaxInt32 + 1, "must be at most 2147483647"},
	} {
		err := Limit(c.n)
		if (c.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.want) {
			t.Errorf("Limit(%d) = %v, want %q", c.n, err, c.want)
		}
	}
}

func TestModelPattern(t *testing.T) {
	for _, c := range []struct{ in, out, err string }{
		{"gpt-4o", "gpt-4o", ""},
		{" gpt-4o* ", "gpt-4o*", ""},
		{"*", "*", ""},
		{"", "", "empty model name"},
		{"  ", "", "empty model name"},
		{"[x", "", `invalid glob "[x"`},
	} {
		got, err := ModelPattern(c.in)
		if got != c.out || (c.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("ModelPattern(%q) = %q, %v; want %q, %q", c.in, got, err, c.out, c.err)
		}
	}
	check(t, "ModelMapTarget", ModelMapTarget, map[string]string{"gpt-4o-2024-11-20": "", "": "empty upstream model name", " ": "empty upstream"})
}

func TestBaseURL(t *testing.T) {
	for _, c := range []struct {
		typ      gateway.ChannelType
		in, out  string
		err      string
		redacted bool
	}{
		{gateway.ChannelOpenAI, "", "https://api.openai.com", "", false},
		{gateway.ChannelAnthropic, "", "https://api.anthropic.com", "", false},
		{gateway.ChannelGemini, "", "https://generativelanguage.googleapis.com", "", false},
		{gateway.ChannelSimulator, "", "", "", false},
		{gateway.ChannelOpenAI, " https://proxy.example/v1/ ", "https://proxy.example/v1", "", false},
		{gateway.ChannelAzure, "", "", "required for type azure", false},
		{gateway.ChannelOpenAICompatible, "", "", "required for type openai-compatible", false},
		{gateway.ChannelMidjourney, "", "", "required for type midjourney", false},
		{gateway.ChannelOpenAICompatible, "ftp://x", "ftp://x", `invalid URL "ftp://x": want http:// or https://`, false},
		{gateway.ChannelOpenAI, "https://", "https:", `invalid URL "https:": no host`, false},
		{gateway.ChannelOpenAI, "https://x?y=1", "https://x?y=1", "no query or fragment", false},
		{gateway.ChannelOpenAI, "https://x?", "https://x?", "no query or fragment", false},
		{gateway.ChannelOpenAI, "https://x#f", "https://x#f", "no query or fragment", false},
		{gateway.ChannelOpenAI, "https://u:hunter2@x", "https://u:hunter2@x", "credentials belong in api_keys", true},
		{gateway.ChannelOpenAI, "http://%zz", "http://%zz", "invalid URL", false},
	} {
		got, err := BaseURL(c.typ, c.in)
		if got != c.out || (c.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("BaseURL(%s, %q) = %q, %v; want %q, %q", c.typ, c.in, got, err, c.out, c.err)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("BaseURL(%q) error shows the password: %v", c.in, err)
		}
	}
	for _, typ := range gateway.ChannelTypes {
		if d := DefaultBaseURL(typ); d != "" {
			if err := CheckURL(d); err != nil {
				t.Errorf("default base URL of %s: %v", typ, err)
			}
		}
	}
}

func TestChannelType(t *testing.T) {
	check(t, "ChannelType", func(s string) error { return ChannelType(gateway.ChannelType(s)) }, map[string]string{
		"openai": "", "simulator": "", "openai-compatible": "",
		"":       "required (one of openai, azure",
		"opneai": `unknown channel type "opneai"`,
	})
	if NeedsAPIKey(gateway.ChannelSimulator) || !NeedsAPIKey(gateway.ChannelOpenAI) {
		t.Error("only the simulator runs without an API key")
	}
}

func TestHeaders(t *testing.T) {
	check(t, "HeaderName", HeaderName, map[string]string{
		"X-Org": "", "anthropic-beta": "", "x_under~ok": "",
		"":           "invalid header name",
		"Bad Header": `invalid header name "Bad Header"`,
		"X:Colon":    "invalid header name",
		"X-Ü":        "invalid header name",
	})
	check(t, "HeaderValue", HeaderValue, map[string]string{
		"v": "", "": "", "a b; c=d": "",
		"a\r\nX-Injected: 1": "line break",
		"a\nb":               "line break",
		"a\x00b":             "line break",
	})
}

func TestSetting(t *testing.T) {
	for _, c := range []struct {
		typ         gateway.ChannelType
		name, value string
		want        string
	}{
		{gateway.ChannelSimulator, "latency", "20ms", ""},
		{gateway.ChannelSimulator, "latency", "fast", `invalid duration "fast" (e.g. 30s, 2m, 1h30m)`},
		{gateway.ChannelSimulator, "latency", "-1s", "must not be negative"},
		{gateway.ChannelOpenAI, "latency", "fast", ""}, // not ours to read on other types
		{gateway.ChannelSimulator, "tokens_per_second", "200", ""},
		{gateway.ChannelSimulator, "tokens_per_second", "0", "must be positive"},
		{gateway.ChannelSimulator, "tokens_per_second", "lots", `expected a number, got "lots"`},
		{gateway.ChannelSimulator, "tokens_per_second", "NaN", "expected a number"},
		{gateway.ChannelSimulator, "tokens_per_second", "1e10", "implausibly large"},
		{gateway.ChannelAzure, "api_version", "2024-10-21", ""},
		{gateway.ChannelAzure, "api_version", " ", "must not be empty"},
		{gateway.ChannelOpenAI, "responses_ws", "true", ""},
		{gateway.ChannelOpenAICompatible, "responses_ws", "false", ""},
		{gateway.ChannelOpenAI, "responses_ws", "yes", `want true or false, got "yes"`},
		{gateway.ChannelAnthropic, "responses_ws", "true", "only openai, azure and openai-compatible"},
		{gateway.ChannelOpenAI, "price_multiplier", "1.5", ""},
		{gateway.ChannelOpenAI, "price_multiplier", "cheap", "multiplier"},
		{gateway.ChannelOpenAI, "", "x", "empty setting name"},
		{gateway.ChannelOpenAI, "organization", "anything", ""},
	} {
		err := Setting(c.typ, c.name, c.value)
		if (c.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.want) {
			t.Errorf("Setting(%s, %q, %q) = %v, want %q", c.typ, c.name, c.value, err, c.want)
		}
	}
}

var minted = regexp.MustCompile(`^sk-sb-[0-9a-f]{48}$`)

func TestMintAndDisplayPrefix(t *testing.T) {
	a, b := MintKey(), MintKey()
	if a == b || !minted.MatchString(a) || !minted.MatchString(b) {
		t.Errorf("MintKey: %q, %q", a, b)
	}
	if err := Secret(a); err != nil {
		t.Errorf("a minted key breaks the rules for keys: %v", err)
	}
	if tok := MintAdminToken(); !strings.HasPrefix(tok, AdminTokenMarker) || AdminToken(tok) != nil || tok == MintAdminToken() {
		t.Errorf("MintAdminToken: %q", tok)
	}
	for _, c := range []struct{ in, want string }{
		{"sk-sb-0123456789abcdef0123456789abcdef0123456789abcdef", "sk-sb-0123"},
		{"sk-alice-0123456789", "sk-a"},
		{"0123456789abcdef", "0123"},
		{"sk-test-alice-0123456789", "sk-tes"},
		{"", ""},
	} {
		if got := DisplayPrefix(c.in); got != c.want {
			t.Errorf("DisplayPrefix(%q) = %q, want %q", c.in, got, c.want)
		}
		if len(c.in) > 0 && !strings.HasPrefix(c.in, KeyMarker) && len(DisplayPrefix(c.in))*4 > len(c.in) {
			t.Errorf("DisplayPrefix(%q) shows more than a quarter of a fixed key", c.in)
		}
	}
}
