package openai

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"switchboard/internal/gateway"
)

// SourceFormat is the llm.Request.SourceFormat value of this format.
const SourceFormat = "openai"

// invalid builds the 400 every decoding failure becomes.
func invalid(param, format string, args ...any) *gateway.Error {
	return gateway.Errorf(gateway.KindInvalidRequest, format, args...).WithParam(param)
}

// idx appends "[i]" to a parameter path.
func idx(param string, i int) string {
	return param + "[" + strconv.Itoa(i) + "]"
}

// isNull reports whether a field is absent or JSON null: OpenAI treats both
// as "not given" for optional parameters.
func isNull(r gjson.Result) bool {
	return !r.Exists() || r.Type == gjson.Null
}

func wantString(param string, r gjson.Result) (string, error) {
	if r.Type != gjson.String {
		return "", invalid(param, "%s must be a string", param)
	}
	return r.Str, nil
}

func wantBool(param string, r gjson.Result) (bool, error) {
	if r.Type != gjson.True && r.Type != gjson.False {
		return false, invalid(param, "%s must be a boolean", param)
	}
	return r.Type == gjson.True, nil
}

func wantNumber(param string, r gjson.Result) (float64, error) {
	// 1e999 parses as +Inf, which no JSON encoder can write back.
	if r.Type != gjson.Number || math.IsInf(r.Num, 0) || math.IsNaN(r.Num) {
		return 0, invalid(param, "%s must be a finite number", param)
	}
	return r.Num, nil
}

// wantInt accepts a JSON number with no fractional part that fits in int64.
func wantInt(param string, r gjson.Result) (int64, error) {
	if r.Type != gjson.Number {
		return 0, invalid(param, "%s must be an integer", param)
	}
	n, err := strconv.ParseInt(r.Raw, 10, 64)
	if err != nil {
		// 1e3 or 1000.0 are still integers; anything else is not.
		if r.Num != float64(int64(r.Num)) || r.Num > 1<<53 || r.Num < -(1<<53) {
			return 0, invalid(param, "%s must be an integer", param)
		}
		n = int64(r.Num)
	}
	return n, nil
}

// appendString appends s as a JSON string, escaping like encoding/json
// (invalid UTF-8 becomes U+FFFD; U+2028/2029 are escaped for JS safety).
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// parseDataURI splits a base64 data URI into its media type and payload.
// Non-base64 data URIs are not split: callers keep them as URLs.
func parseDataURI(s string) (mediaType, data string, ok bool) {
	rest, found := strings.CutPrefix(s, "data:")
	if !found {
		return "", "", false
	}
	meta, payload, found := strings.Cut(rest, ",")
	if !found || !strings.HasSuffix(meta, ";base64") {
		return "", "", false
	}
	meta = strings.TrimSuffix(meta, ";base64")
	mediaType, _, _ = strings.Cut(meta, ";")
	if mediaType == "" {
		return "", "", false
	}
	return mediaType, payload, true
}

// dataURI is the inverse of parseDataURI.
func dataURI(mediaType, data string) string {
	return "data:" + mediaType + ";base64," + data
}
