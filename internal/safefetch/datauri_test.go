package safefetch

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"switchboard/internal/gateway"
)

const (
	pngMagic = "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
	gifMagic = "GIF89a\x01\x00\x01\x00"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestParseDataURI(t *testing.T) {
	pngB64 := b64(pngMagic)
	tests := []struct {
		name     string
		in       string
		wantType string
		wantB64  string
	}{
		{"base64 canonical", "data:image/png;base64," + pngB64, "image/png", pngB64},
		{"case-insensitive scheme and flag", "DATA:image/png;BASE64," + pngB64, "image/png", pngB64},
		{"media type lower-cased", "data:Image/PNG;base64," + pngB64, "image/png", pngB64},
		{"parameters dropped", "data:image/png;name=a.png;base64," + pngB64, "image/png", pngB64},
		{"line breaks and spaces", "data:image/png;base64," + pngB64[:4] + "\r\n " + pngB64[4:], "image/png", pngB64},
		{"missing padding", "data:image/jpeg;base64,aGk", "image/jpeg", "aGk="},
		{"non-zero trailing bits re-encoded", "data:image/jpeg;base64,aGl=", "image/jpeg", "aGk="},
		{"url-safe alphabet", "data:image/jpeg;base64,-_-_", "image/jpeg", "+/+/"},
		{"percent-escaped base64", "data:image/jpeg;base64,%2B%2F%2B%2F", "image/jpeg", "+/+/"},
		{"no media type sniffs", "data:;base64," + b64(gifMagic), "image/gif", b64(gifMagic)},
		{"only parameters sniffs", "data:;charset=utf-8;base64," + b64(pngMagic), "image/png", pngB64},
		{"generic type sniffs", "data:application/octet-stream;base64," + pngB64, "image/png", pngB64},
		{"generic type kept when sniffing finds nothing", "data:application/octet-stream;base64,AAECAw==", "application/octet-stream", "AAECAw=="},
		{"percent-encoded text", "data:,Hello%2C%20World", "text/plain", b64("Hello, World")},
		{"percent-encoded with type", "data:text/csv,a%2Cb%0A1%2C2", "text/csv", b64("a,b\n1,2")},
		{"plus is not a space", "data:text/plain,a+b", "text/plain", b64("a+b")},
		{"raw binary percent-encoded", "data:image/gif," + percentAll(gifMagic), "image/gif", b64(gifMagic)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mt, got, err := ParseDataURI(tt.in, 1<<20)
			if err != nil {
				t.Fatalf("ParseDataURI: %v", err)
			}
			if mt != tt.wantType || got != tt.wantB64 {
				t.Fatalf("got (%q, %q), want (%q, %q)", mt, got, tt.wantType, tt.wantB64)
			}
		})
	}
}

func percentAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteString("%")
		b.WriteString(strings.ToUpper(string("0123456789abcdef"[s[i]>>4]) + string("0123456789abcdef"[s[i]&15])))
	}
	return b.String()
}

func TestParseDataURIErrors(t *testing.T) {
	big := b64(strings.Repeat("x", 2048))
	tests := []struct {
		name string
		in   string
		max  int64
		want string
	}{
		{"not a data URI", "http://example.com/a.png", 0, "not a data: URI"},
		{"too short", "dat", 0, "not a data: URI"},
		{"no comma", "data:image/png;base64", 0, "no ','"},
		{"bad base64", "data:image/png;base64,!!!!", 0, "not valid base64"},
		{"bad percent in base64", "data:image/png;base64,%zz", 0, "invalid percent-encoding"},
		{"bad percent", "data:text/plain,%zz", 0, "invalid percent-encoding"},
		{"empty", "data:image/png;base64,", 0, "carries no data"},
		{"empty text", "data:,", 0, "carries no data"},
		{"bad media type", "data:image/png<x>;base64,aGk=", 0, "invalid media type"},
		{"too large (pre-check)", "data:image/png;base64," + big, 1024, "exceeds 1 KiB"},
		{"too large (exact)", "data:image/png;base64," + b64(strings.Repeat("x", 1025)), 1024, "exceeds 1 KiB"},
		{"too large (text)", "data:text/plain," + strings.Repeat("x", 11), 10, "exceeds 10 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ParseDataURI(tt.in, tt.max)
			var ge *gateway.Error
			if !errors.As(err, &ge) || ge.Kind != gateway.KindInvalidRequest {
				t.Fatalf("err = %v, want a KindInvalidRequest *gateway.Error", err)
			}
			if !strings.Contains(ge.Message, tt.want) {
				t.Fatalf("message %q does not contain %q", ge.Message, tt.want)
			}
			if len(ge.Message) > 300 {
				t.Fatalf("message echoes the payload: %d bytes", len(ge.Message))
			}
		})
	}
}

func TestParseDataURIExactBound(t *testing.T) {
	payload := strings.Repeat("x", 1024)
	_, got, err := ParseDataURI("data:image/png;base64,"+b64(payload), 1024)
	if err != nil || got != b64(payload) {
		t.Fatalf("payload at the bound: err %v", err)
	}
}

func TestParseDataURICanonicalNoCopy(t *testing.T) {
	in := "data:image/png;base64," + b64(pngMagic+strings.Repeat("x", 64<<10))
	_, got, err := ParseDataURI(in, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got != in[len(in)-len(got):] {
		t.Fatal("canonical payload not returned as is")
	}
	if allocs := testing.AllocsPerRun(5, func() { _, _, _ = ParseDataURI(in, 0) }); allocs > 2 {
		t.Errorf("canonical payload: %v allocs per call, want at most 2 (the input copy and the decode buffer); a re-encode would add more", allocs)
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{
		20 << 20: "20 MiB", 1 << 20: "1 MiB", 1536: "1536 bytes", 2048: "2 KiB", 10: "10 bytes", 1536 << 10: "1536 KiB",
	} {
		if got := formatSize(n); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", n, got, want)
		}
	}
}
