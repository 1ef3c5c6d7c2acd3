package llm

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestTokenEnvelope(t *testing.T) {
	iss := Issuer{Provider: "gemini", Channel: 42}
	for _, tok := range []string{"Q2lRQjBlMmt0aG91Z2h0", "", "with\x00nul and ünïcode", strings.Repeat("x", 5000)} {
		for _, kind := range []TokenKind{TokenThinking, TokenRedacted, TokenCall, TokenText} {
			env := WrapToken(iss, kind, tok)
			if !strings.HasPrefix(env, WrappedTokenPrefix) {
				t.Fatalf("envelope %q lacks the prefix", env)
			}
			// It must survive a client that decodes base64 bytes and
			// re-encodes them (genai's []byte thoughtSignature).
			raw, err := base64.StdEncoding.DecodeString(env)
			if err != nil || base64.StdEncoding.EncodeToString(raw) != env {
				t.Fatalf("envelope is not canonical base64: %v", err)
			}
			gi, gk, gt, ok := UnwrapToken(env)
			if !ok || gi != iss || gk != kind || gt != tok {
				t.Errorf("UnwrapToken = %+v %c %q %v", gi, gk, gt, ok)
			}
		}
	}
	for _, s := range []string{"", "RXFvQ0NrZ0lBaEFCR0FJcVFOc2lnbmF0dXJl", WrappedTokenPrefix, WrappedTokenPrefix + "!!", base64.StdEncoding.EncodeToString([]byte("SBTOK1zgemini\x00x\x00t"))} {
		if _, _, _, ok := UnwrapToken(s); ok {
			t.Errorf("UnwrapToken(%q) accepted", s)
		}
	}
	if iss, _, tok := OpenToken("bare", "anthropic"); iss != (Issuer{Provider: "anthropic"}) || tok != "bare" {
		t.Errorf("a bare token is its client format's: %+v %q", iss, tok)
	}
	if !HoldsWrappedToken([]byte(`{"signature":"`+WrapToken(iss, TokenThinking, "s")+`"}`)) || HoldsWrappedToken([]byte(`{"signature":"RXFv"}`)) {
		t.Error("HoldsWrappedToken")
	}
}

func TestTokenAllowed(t *testing.T) {
	tests := []struct {
		name   string
		source string
		part   Issuer
		target Issuer
		format string
		want   bool
	}{
		{"own client token to its provider", "anthropic", Issuer{}, Issuer{Provider: "anthropic", Channel: 3}, "anthropic", true},
		{"own client token elsewhere", "anthropic", Issuer{}, Issuer{Provider: "gemini", Channel: 3}, "gemini", false},
		{"wrapped token home", "anthropic", Issuer{"gemini", 7}, Issuer{"gemini", 7}, "gemini", true},
		{"wrapped token to another account", "anthropic", Issuer{"gemini", 7}, Issuer{"gemini", 8}, "gemini", false},
		{"wrapped token, unknown target channel", "anthropic", Issuer{"gemini", 7}, Issuer{}, "gemini", true},
		{"wrapped token to another provider", "openai", Issuer{"anthropic", 2}, Issuer{"gemini", 2}, "gemini", false},
		{"hand-built hub", "", Issuer{}, Issuer{}, "gemini", true},
	}
	for _, tt := range tests {
		r := &Request{SourceFormat: tt.source, Target: tt.target}
		if got := r.TokenAllowed(&Part{Issuer: tt.part}, tt.format); got != tt.want {
			t.Errorf("%s: TokenAllowed = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestShowToken(t *testing.T) {
	p := &Part{}
	if got := ShowToken(p, Issuer{Provider: "anthropic", Channel: 1}, TokenThinking, "sig", "anthropic"); got != "sig" {
		t.Errorf("own provider's token wrapped: %q", got)
	}
	got := ShowToken(p, Issuer{Provider: "gemini", Channel: 1}, TokenCall, "sig", "anthropic")
	if iss, kind, tok, ok := UnwrapToken(got); !ok || iss.Provider != "gemini" || kind != TokenCall || tok != "sig" {
		t.Errorf("foreign token not wrapped: %q", got)
	}
	if ShowEventToken(Issuer{}, TokenThinking, "sig", "gemini") != "sig" || ShowToken(p, Issuer{}, TokenThinking, "", "gemini") != "" {
		t.Error("unknown issuer or empty token must pass unchanged")
	}
}
