package gemini

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/tidwall/gjson"

	"switchboard/internal/gateway"
)

// camel turns a proto field name in snake_case into the camelCase spelling
// of the REST JSON ("inline_data" → "inlineData"). Names without an
// underscore come back unchanged and without allocating.
func camel(k string) string {
	if strings.IndexByte(k, '_') < 0 {
		return k
	}
	var b strings.Builder
	b.Grow(len(k))
	up := false
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c == '_' {
			// A leading underscore is part of the name, not a separator.
			if b.Len() == 0 {
				b.WriteByte(c)
				continue
			}
			up = true
			continue
		}
		if up && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		up = false
		b.WriteByte(c)
	}
	return b.String()
}

// normalizeKeys re-encodes v with every object key camel-cased, at every
// depth. It is for Gemini-defined objects kept verbatim (built-in tools,
// safetySettings, speechConfig ...), never for user-defined maps such as
// function arguments or schemas, whose keys are data.
func normalizeKeys(v gjson.Result) json.RawMessage {
	if !strings.Contains(v.Raw, "_") {
		return compactRaw(v.Raw)
	}
	var buf bytes.Buffer
	writeNormalized(&buf, v)
	return buf.Bytes()
}

func writeNormalized(buf *bytes.Buffer, v gjson.Result) {
	switch {
	case v.IsObject():
		buf.WriteByte('{')
		first := true
		v.ForEach(func(k, val gjson.Result) bool {
			if !first {
				buf.WriteByte(',')
			}
			first = false
			writeString(buf, camel(k.Str))
			buf.WriteByte(':')
			writeNormalized(buf, val)
			return true
		})
		buf.WriteByte('}')
	case v.IsArray():
		buf.WriteByte('[')
		for i, e := range v.Array() {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeNormalized(buf, e)
		}
		buf.WriteByte(']')
	default:
		buf.Write(compactRaw(v.Raw))
	}
}

func writeString(buf *bytes.Buffer, s string) {
	b, _ := marshal(s)
	buf.Write(b)
}

// compactRaw returns raw JSON text without insignificant whitespace, so that
// values kept verbatim compare and round-trip byte for byte.
func compactRaw(raw string) json.RawMessage {
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(raw)); err != nil {
		return json.RawMessage(raw)
	}
	return buf.Bytes()
}

// marshal is json.Marshal without HTML escaping: prompts are full of <, >
// and &, and escaping them only makes bodies larger and harder to read.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// openAPISchemaToJSONSchema converts Gemini's OpenAPI-subset Schema
// (`parameters`, `responseSchema`: upper-case types, `nullable`, keys in
// either spelling) into JSON Schema, the hub's dialect. Property names are
// data and are never rewritten.
func openAPISchemaToJSONSchema(v gjson.Result) json.RawMessage {
	var buf bytes.Buffer
	writeSchema(&buf, v)
	return buf.Bytes()
}

func writeSchema(buf *bytes.Buffer, v gjson.Result) {
	if !v.IsObject() {
		buf.Write(compactRaw(v.Raw))
		return
	}
	var typ, nullable gjson.Result
	v.ForEach(func(k, val gjson.Result) bool {
		switch camel(k.Str) {
		case "type":
			typ = val
		case "nullable":
			nullable = val
		}
		return true
	})
	buf.WriteByte('{')
	first := true
	key := func(k string) {
		if !first {
			buf.WriteByte(',')
		}
		first = false
		writeString(buf, k)
		buf.WriteByte(':')
	}
	v.ForEach(func(k, val gjson.Result) bool {
		name := camel(k.Str)
		switch name {
		case "type":
			t := strings.ToLower(val.String())
			if val.Type != gjson.String || t == "" || t == "type_unspecified" {
				return true
			}
			key("type")
			if nullable.Bool() {
				buf.WriteString(`[`)
				writeString(buf, t)
				buf.WriteString(`,"null"]`)
			} else {
				writeString(buf, t)
			}
		case "nullable":
			if !typ.Exists() && val.Bool() {
				key("nullable")
				buf.WriteString("true")
			}
		case "properties":
			key("properties")
			if !val.IsObject() {
				buf.Write(compactRaw(val.Raw))
				return true
			}
			buf.WriteByte('{')
			i := 0
			val.ForEach(func(pk, pv gjson.Result) bool {
				if i > 0 {
					buf.WriteByte(',')
				}
				i++
				writeString(buf, pk.Str)
				buf.WriteByte(':')
				writeSchema(buf, pv)
				return true
			})
			buf.WriteByte('}')
		case "items", "not", "additionalProperties":
			key(name)
			writeSchema(buf, val)
		case "anyOf", "oneOf", "allOf", "prefixItems":
			key(name)
			if !val.IsArray() {
				buf.Write(compactRaw(val.Raw))
				return true
			}
			buf.WriteByte('[')
			for i, e := range val.Array() {
				if i > 0 {
					buf.WriteByte(',')
				}
				writeSchema(buf, e)
			}
			buf.WriteByte(']')
		default:
			// enum, required, example, default, format, description ...:
			// values are data, copied as they are.
			key(name)
			buf.Write(compactRaw(val.Raw))
		}
		return true
	})
	buf.WriteByte('}')
}

// invalid builds the client-facing 400 every decoder and encoder returns.
func invalid(param, format string, args ...any) *gateway.Error {
	e := gateway.Errorf(gateway.KindInvalidRequest, format, args...)
	e.Param = param
	return e
}

// mediaKind classifies a MIME type into the hub's media part types.
func mediaKind(mime string) string {
	switch {
	case strings.HasPrefix(mime, "image/"):
		return "image"
	case strings.HasPrefix(mime, "audio/"):
		return "audio"
	}
	return "file"
}

// sniffImageMIME guesses an image MIME type from the first bytes of its
// base64 text, for hub parts whose source format carried none.
func sniffImageMIME(b64 string) string {
	switch {
	case strings.HasPrefix(b64, "iVBORw0KGgo"):
		return "image/png"
	case strings.HasPrefix(b64, "/9j/"):
		return "image/jpeg"
	case strings.HasPrefix(b64, "R0lGOD"):
		return "image/gif"
	case strings.HasPrefix(b64, "UklGR"):
		return "image/webp"
	}
	return ""
}

// isObjectJSON reports whether b is a JSON object.
func isObjectJSON(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '{' && json.Valid(b)
}
