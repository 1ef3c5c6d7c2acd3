package route

import (
	"regexp"
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, model string
		want           bool
	}{
		{"*", "", true},
		{"*", "gpt-4o", true},
		{"gpt-4o", "gpt-4o", true},
		{"gpt-4o", "gpt-4o-mini", false},
		{"gpt-4o*", "gpt-4o", true},
		{"gpt-4o*", "gpt-4o-mini", true},
		{"gpt-4o*", "gpt-4", false},
		{"*-mini", "gpt-4o-mini", true},
		{"*-mini", "gpt-4o-mini-tts", false},
		{"claude-*-4", "claude-sonnet-4", true},
		{"claude-*-4", "claude-sonnet-4-5", false},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxcyyb", false},
		{"a*a", "a", false},
		{"a**", "a", true},
		{"meta-llama/*", "meta-llama/Llama-3.1-8B", true}, // '*' crosses nothing special at '/'
		{"*/imagine", "mj/imagine", true},
		{"gpt-?", "gpt-4", false}, // '?' is literal
		{"gpt-?", "gpt-?", true},
		{"[a]", "a", false},
		{"GPT-4o", "gpt-4o", false},
		{"", "", true},
		{"", "x", false},
	}
	for _, tt := range tests {
		if got := Match(tt.pattern, tt.model); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.pattern, tt.model, got, tt.want)
		}
	}
}

// FuzzMatch checks Match against a regexp built from the same pattern.
func FuzzMatch(f *testing.F) {
	f.Add("gpt-4o*", "gpt-4o-mini")
	f.Add("*a*b*", "xxaxxbxx")
	f.Add("a*a*a", "aaaa")
	f.Fuzz(func(t *testing.T, pattern, model string) {
		if len(pattern) > 64 || len(model) > 256 {
			return
		}
		parts := strings.Split(pattern, "*")
		for i, p := range parts {
			parts[i] = regexp.QuoteMeta(p)
		}
		re, err := regexp.Compile(`^(?s:` + strings.Join(parts, `.*`) + `)$`)
		if err != nil {
			t.Skip()
		}
		// regexp works on runes and would treat invalid UTF-8 differently
		// from Match's bytes; compare only where both see the same text.
		want := re.MatchString(model)
		if got := Match(pattern, model); got != want && isUTF8(pattern) && isUTF8(model) {
			t.Fatalf("Match(%q, %q) = %v, regexp says %v", pattern, model, got, want)
		}
	})
}

func isUTF8(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }
