package anthropic

import (
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"switchboard/internal/llm"
)

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// encoding/json does, so the output is always valid JSON. HTML characters
// are not escaped: these bodies are never embedded in HTML.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, "\ufffd"...)
			i += size
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but break JavaScript parsers
		// that some SSE clients still use.
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendKey appends `"key":` preceded by a comma unless it opens an object.
func appendKey(b []byte, key string) []byte {
	if n := len(b); n > 0 && b[n-1] != '{' && b[n-1] != '[' {
		b = append(b, ',')
	}
	b = appendString(b, key)
	return append(b, ':')
}

// appendCacheControl appends `,"cache_control":{...}` when cc is set.
func appendCacheControl(b []byte, cc *llm.CacheControl) []byte {
	if cc == nil {
		return b
	}
	b = appendKey(b, "cache_control")
	typ := cc.Type
	if typ == "" {
		typ = "ephemeral"
	}
	b = append(b, `{"type":`...)
	b = appendString(b, typ)
	if cc.TTL != "" {
		b = append(b, `,"ttl":`...)
		b = appendString(b, cc.TTL)
	}
	return append(b, '}')
}

// parseCacheControl reads a cache_control object; nil when absent or null.
func parseCacheControl(r gjson.Result) *llm.CacheControl {
	if !r.IsObject() {
		return nil
	}
	return &llm.CacheControl{Type: r.Get("type").String(), TTL: r.Get("ttl").String()}
}

// isObjectJSON reports whether raw is a syntactically valid JSON object.
func isObjectJSON(raw []byte) bool {
	if len(raw) == 0 || !gjson.ValidBytes(raw) {
		return false
	}
	return gjson.ParseBytes(raw).IsObject()
}

// rawBytes returns a result's raw JSON as its own byte slice, so hub values
// never alias the caller's buffer.
func rawBytes(r gjson.Result) []byte {
	return []byte(r.Raw)
}
