package upstream

import (
	"cmp"
	"errors"
	"net/url"
	"slices"
	"strings"
	"unicode"

	"switchboard/internal/gateway"
)

// Redacted replaces what Redact removes.
const Redacted = "[redacted]"

// Minimum lengths of what Redact looks for: shorter header values ("1",
// "true") are not secrets, and replacing them would garble the message.
const (
	minRedactKey    = 6
	minRedactHeader = 8
)

// Redact removes from text an upstream wrote (an error body's message, a
// mid-stream error event) what identifies or unlocks the channel's account:
// every API key, every configured header value, the base URL and its host,
// and key-shaped tokens an upstream masked itself ("sk-abc…****…wxyz").
// Upstream messages reach clients, logs and the ledger; an upstream that
// echoes a key or a private URL must not leak it to every tenant. There is
// no switch to see the raw text: the operator can query the upstream
// directly with the channel's own key.
func Redact(ch *gateway.Channel, s string) string {
	if s == "" || ch == nil {
		return s
	}
	var secrets []string
	for _, k := range ch.APIKeys {
		if len(k) >= minRedactKey {
			secrets = append(secrets, k)
		}
	}
	for _, v := range ch.Headers {
		if len(v) >= minRedactHeader {
			secrets = append(secrets, v)
		}
	}
	// Longest first, so a secret that contains another goes whole.
	slices.SortFunc(secrets, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	for _, sec := range secrets {
		s = strings.ReplaceAll(s, sec, Redacted)
	}
	base := ch.BaseURL
	if base == "" {
		base = DefaultBaseURL(ch.Type)
	}
	if u, err := url.Parse(base); err == nil && u.Host != "" {
		s = replaceFold(s, strings.TrimRight(base, "/"))
		s = replaceFold(s, u.Host)
		if h := u.Hostname(); h != u.Host {
			s = replaceFold(s, h)
		}
	}
	return redactMasked(s)
}

// RedactError redacts e's client-visible fields and its cause in place and
// returns e.
func RedactError(ch *gateway.Channel, e *gateway.Error) *gateway.Error {
	if e == nil {
		return nil
	}
	e.Message = Redact(ch, e.Message)
	e.Type = Redact(ch, e.Type)
	e.Code = Redact(ch, e.Code)
	e.Param = Redact(ch, e.Param)
	if e.Err != nil {
		if msg := e.Err.Error(); Redact(ch, msg) != msg {
			e.Err = errors.New(Redact(ch, msg))
		}
	}
	return e
}

// replaceFold replaces every case-insensitive occurrence of old (ASCII
// folding: hosts and URL schemes) with Redacted.
func replaceFold(s, old string) string {
	if old == "" {
		return s
	}
	var b strings.Builder
	lower, lowOld := strings.ToLower(s), strings.ToLower(old)
	if len(lower) != len(s) {
		return strings.ReplaceAll(s, old, Redacted) // non-ASCII folding changed lengths
	}
	for {
		i := strings.Index(lower, lowOld)
		if i < 0 {
			break
		}
		b.WriteString(s[:i])
		b.WriteString(Redacted)
		s, lower = s[i+len(old):], lower[i+len(old):]
	}
	if b.Len() == 0 {
		return s
	}
	b.WriteString(s)
	return b.String()
}

// redactMasked replaces every word holding a run of four '*' (how
// providers print a key they reject) with Redacted: the visible ends of a
// masked key narrow a search for it.
func redactMasked(s string) string {
	if !strings.Contains(s, "****") {
		return s
	}
	isSep := func(r rune) bool { return unicode.IsSpace(r) || strings.ContainsRune(`"'<>(),;`, r) }
	var b strings.Builder
	for len(s) > 0 {
		i := strings.IndexFunc(s, func(r rune) bool { return !isSep(r) })
		if i < 0 {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:i])
		s = s[i:]
		j := strings.IndexFunc(s, isSep)
		if j < 0 {
			j = len(s)
		}
		word := s[:j]
		if strings.Contains(word, "****") {
			// Keep trailing punctuation that ends a sentence.
			trail := len(word) - len(strings.TrimRight(word, ".:!?"))
			b.WriteString(Redacted)
			b.WriteString(word[len(word)-trail:])
		} else {
			b.WriteString(word)
		}
		s = s[j:]
	}
	return b.String()
}
