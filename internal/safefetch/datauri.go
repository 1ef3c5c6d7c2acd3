package safefetch

import (
	"encoding/base64"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"switchboard/internal/gateway"
)

// ParseDataURI decodes an RFC 2397 data: URI without touching the network
// and returns its media type and its payload as canonical standard base64
// (padded, no line breaks), which is what every upstream expects.
//
// Both the ";base64" form and the percent-encoded form are accepted. The
// base64 form is read leniently (whitespace, missing padding, the URL-safe
// alphabet, percent-escaped characters) because clients produce all of
// those; when the input already is canonical it is returned as a substring,
// without copying. The media type is the declared one unless it is missing
// or generic, in which case it is sniffed from the payload.
//
// maxBytes bounds the decoded size; zero or less means no bound. Errors are
// *gateway.Error of KindInvalidRequest and never echo the payload.
func ParseDataURI(raw string, maxBytes int64) (mediaType, b64 string, err error) {
	if len(raw) < len("data:") || !strings.EqualFold(raw[:len("data:")], "data:") {
		return "", "", invalid("image URL is not a data: URI")
	}
	rest := raw[len("data:"):]
	comma := strings.IndexByte(rest, ',')
	if comma < 0 {
		return "", "", invalid("image data URI has no ',' before its data")
	}
	header, data := rest[:comma], rest[comma+1:]

	isBase64 := false
	if len(header) >= len(";base64") && strings.EqualFold(header[len(header)-len(";base64"):], ";base64") {
		isBase64 = true
		header = header[:len(header)-len(";base64")]
	}
	declared := ""
	if header != "" && header[0] != ';' { // ";charset=x" alone means the default text/plain
		mt, _, perr := mime.ParseMediaType(header)
		if perr != nil {
			return "", "", invalid("image data URI has an invalid media type")
		}
		declared = mt
	}

	var decoded []byte
	if isBase64 {
		decoded, b64, err = decodeBase64Payload(data, maxBytes)
		if err != nil {
			return "", "", err
		}
	} else {
		s, uerr := url.PathUnescape(data)
		if uerr != nil {
			return "", "", invalid("image data URI has invalid percent-encoding")
		}
		decoded = []byte(s)
	}
	if maxBytes > 0 && int64(len(decoded)) > maxBytes {
		return "", "", invalid("image data URI exceeds %s", formatSize(maxBytes))
	}
	if len(decoded) == 0 {
		return "", "", invalid("image data URI carries no data")
	}
	if b64 == "" {
		b64 = base64.StdEncoding.EncodeToString(decoded)
	}
	return pickMediaType(declared, decoded), b64, nil
}

// fallbackEncodings are tried, in order, when the strict standard encoding
// rejects a payload. Strict keeps the canonical check honest: standard
// decoding would accept non-zero trailing bits that upstreams may refuse.
var fallbackEncodings = []*base64.Encoding{
	base64.RawStdEncoding.Strict(),
	base64.StdEncoding,
	base64.RawStdEncoding,
	base64.URLEncoding,
	base64.RawURLEncoding,
}

// decodeBase64Payload returns the decoded bytes and, when data already was
// canonical standard base64, data itself as the encoded form (else "").
func decodeBase64Payload(data string, maxBytes int64) ([]byte, string, error) {
	s := data
	if strings.IndexByte(s, '%') >= 0 {
		u, err := url.PathUnescape(s)
		if err != nil {
			return nil, "", invalid("image data URI has invalid percent-encoding")
		}
		s = u
	}
	if strings.ContainsAny(s, " \t\r\n") {
		s = strings.Map(func(r rune) rune {
			switch r {
			case ' ', '\t', '\r', '\n':
				return -1
			}
			return r
		}, s)
	}
	// Refuse oversized payloads before allocating for them: four base64
	// characters carry three bytes, padding removes at most two.
	if maxBytes > 0 && int64(len(s))/4*3-2 > maxBytes {
		return nil, "", invalid("image data URI exceeds %s", formatSize(maxBytes))
	}
	if decoded, err := base64.StdEncoding.Strict().DecodeString(s); err == nil {
		if s == data {
			return decoded, data, nil
		}
		return decoded, "", nil
	}
	for _, enc := range fallbackEncodings {
		if decoded, err := enc.DecodeString(s); err == nil {
			return decoded, "", nil
		}
	}
	return nil, "", invalid("image data URI is not valid base64")
}

// genericTypes are Content-Types that say nothing about the payload; servers
// (notably object stores) send them for images they were not told about.
var genericTypes = map[string]bool{
	"application/octet-stream": true,
	"binary/octet-stream":      true,
	"application/binary":       true,
	"application/unknown":      true,
	"application/x-unknown":    true,
	"unknown/unknown":          true,
	"text/plain":               true,
}

// pickMediaType returns the declared media type unless it is missing or
// generic; then the sniffed one, unless sniffing finds nothing better either.
func pickMediaType(declared string, body []byte) string {
	if declared != "" && !genericTypes[declared] {
		return declared
	}
	sniffed := http.DetectContentType(body)
	if i := strings.IndexByte(sniffed, ';'); i >= 0 {
		sniffed = sniffed[:i]
	}
	if sniffed == "application/octet-stream" && declared != "" {
		return declared
	}
	return sniffed
}

// invalid builds the 400 every refusal of this package is.
func invalid(format string, args ...any) *gateway.Error {
	return gateway.Errorf(gateway.KindInvalidRequest, format, args...)
}

// formatSize renders a byte bound the way operators configure it.
func formatSize(n int64) string {
	const kib, mib = 1 << 10, 1 << 20
	switch {
	case n >= mib && n%mib == 0:
		return strconv.FormatInt(n/mib, 10) + " MiB"
	case n >= kib && n%kib == 0:
		return strconv.FormatInt(n/kib, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}
