// Package tokencount estimates token counts with an embedded tokenizer
// (o200k_base, the vocabulary of current OpenAI models) when an upstream
// reports no usage. Counting is incremental: a stream's text is fed piece by
// piece and only a small carry buffer is held, never the whole output.
package tokencount

import (
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/tiktoken-go/tokenizer/codec"

	"switchboard/internal/jsonguard"
)

var (
	once sync.Once
	enc  *codec.Codec
)

func get() *codec.Codec {
	once.Do(func() { enc = codec.NewO200kBase() })
	return enc
}

// Count returns the number of tokens in s.
func Count(s string) int {
	if s == "" {
		return 0
	}
	n, err := get().Count(s)
	if err != nil {
		// Invalid UTF-8 cannot be tokenised exactly; a byte-based estimate
		// is better than nothing and never zero for non-empty text.
		return (len(s) + 3) / 4
	}
	// The codec drops DEL (0x7f), the one character it has no token for
	// (every other rune counts at least one); o200k encodes it as a byte
	// token, so count it as one.
	return n + strings.Count(s, "\x7f")
}

// carryLimit bounds the text held between tokenisations. Tokenising is the
// expensive part (the regex pre-split costs far more than the byte copy), and
// most streams end with upstream usage that makes the count moot, so text is
// only tokenised once this much has piled up, or when Total is asked for.
// Cutting at whitespace keeps the estimate within a token or two of a
// whole-text count.
const carryLimit = 8 << 10

// Stream counts tokens of text arriving in pieces. The zero value is ready.
type Stream struct {
	carry []byte
	total int64
}

// Write adds a piece of text.
func (s *Stream) Write(p []byte) {
	s.carry = append(s.carry, p...)
	if len(s.carry) < carryLimit {
		return
	}
	// Cut after the last whitespace so words are not split across counts.
	cut := -1
	for i := len(s.carry) - 1; i >= 0 && i >= len(s.carry)-128; i-- {
		if c := s.carry[i]; c == ' ' || c == '\n' || c == '\t' {
			cut = i + 1
			break
		}
	}
	if cut <= 0 {
		cut = len(s.carry)
		for cut > 0 && !utf8.RuneStart(s.carry[cut-1]) {
			cut--
		}
		if cut > 0 {
			cut-- // keep the partial rune's lead byte with its continuation
		}
		if cut <= 0 {
			cut = len(s.carry)
		}
	}
	s.total += int64(Count(string(s.carry[:cut])))
	n := copy(s.carry, s.carry[cut:])
	s.carry = s.carry[:n]
}

// WriteString adds a piece of text.
func (s *Stream) WriteString(p string) { s.Write([]byte(p)) }

// Total returns the tokens counted so far, including the carry.
func (s *Stream) Total() int64 {
	return s.total + int64(Count(string(s.carry)))
}

// Reset drops everything counted so far, keeping the carry's memory.
func (s *Stream) Reset() {
	s.carry = s.carry[:0]
	s.total = 0
}

// Add adds n already-known tokens (e.g. a fixed per-message overhead).
func (s *Stream) Add(n int64) { s.total += n }

// IdentifierKeys name the strings of a request that are identifiers or
// binary payloads rather than text a model reads as prose: their values
// are not counted by RequestTokens.
var IdentifierKeys = []string{
	"model", "role", "type", "data", "url", "id", "tool_call_id", "tool_use_id",
	"mime_type", "mimeType", "media_type", "signature", "thoughtSignature", "detail", "format",
}

// textWalk visits strings of documents of any depth the JSON routes admit;
// deeper ones are refused by the routes before a count is ever asked for.
var textWalk = jsonguard.New(jsonguard.Options{MaxDepth: jsonguard.MaxDepthLimit})

// RequestTokens estimates the prompt tokens of a JSON request body: every
// string value, except those of IdentifierKeys, is tokenised, plus one
// token per string for its framing. One linear pass, whatever the nesting
// (a walk that re-parsed each level cost minutes of CPU on 200 KB of
// brackets); a body that is not JSON counts what precedes the fault.
func RequestTokens(body []byte) int64 {
	var s Stream
	var scratch []byte
	var keyBuf [32]byte
	_ = textWalk.Visit(body, func(key, value jsonguard.String) {
		if key.Raw != nil && isIdentifier(key, keyBuf[:0]) {
			return
		}
		if value.Escaped {
			scratch, _ = jsonguard.AppendUnescaped(scratch[:0], value.Raw, -1)
			s.Write(scratch)
		} else {
			s.Write(value.Raw)
		}
		s.Add(1)
	})
	return s.Total()
}

func isIdentifier(key jsonguard.String, buf []byte) bool {
	k := key.Raw
	if key.Escaped {
		var whole bool
		if k, whole = jsonguard.AppendUnescaped(buf, k, cap(buf)); !whole {
			return false // longer than every identifier key
		}
	}
	for _, id := range IdentifierKeys {
		if string(k) == id {
			return true
		}
	}
	return false
}
