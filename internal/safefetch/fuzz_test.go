package safefetch

import (
	"encoding/base64"
	"errors"
	"mime"
	"net/netip"
	"testing"

	"switchboard/internal/gateway"
)

// FuzzParseDataURI checks that any input either decodes to a bounded,
// canonical payload with a usable media type, or is refused with a short 400.
func FuzzParseDataURI(f *testing.F) {
	for _, s := range []string{
		"data:image/png;base64,iVBORw0KGgo=",
		"data:,Hello%2C%20World",
		"data:;base64,R0lGODlh",
		"data:image/jpeg;base64,-_-_",
		"data:image/jpeg;base64,%2B%2F",
		"data:text/plain;charset=utf-8;base64,aGk",
		"DATA:IMAGE/PNG;BASE64,aGl=\r\n",
		"data:image/png<x>;base64,aGk=",
		"data:",
	} {
		f.Add(s)
	}
	const max = 1 << 12
	f.Fuzz(func(t *testing.T, raw string) {
		mt, b64, err := ParseDataURI(raw, max)
		if err != nil {
			var ge *gateway.Error
			if !errors.As(err, &ge) || ge.Kind != gateway.KindInvalidRequest {
				t.Fatalf("error %v is not a 400 *gateway.Error", err)
			}
			if len(ge.Message) > 200 {
				t.Fatalf("message too long (%d bytes), may echo the input", len(ge.Message))
			}
			return
		}
		if _, _, perr := mime.ParseMediaType(mt); perr != nil {
			t.Fatalf("media type %q does not parse: %v", mt, perr)
		}
		decoded, derr := base64.StdEncoding.Strict().DecodeString(b64)
		if derr != nil {
			t.Fatalf("payload %q is not canonical base64: %v", b64, derr)
		}
		if base64.StdEncoding.EncodeToString(decoded) != b64 {
			t.Fatalf("payload %q is not in canonical form", b64)
		}
		if len(decoded) == 0 || len(decoded) > max {
			t.Fatalf("decoded %d bytes, want 1..%d", len(decoded), max)
		}
	})
}

// FuzzClassify checks the classifier on arbitrary 4- and 16-byte addresses:
// no panic, mapped addresses judged as their IPv4 form, every named block
// containing the address, and nothing outside 2000::/3 allowed.
func FuzzClassify(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "100.64.0.1", "::ffff:10.0.0.1", "2002::1", "64:ff9b::1", "fec0::1", "8.8.8.8", "2606:4700::1"} {
		f.Add(netip.MustParseAddr(s).AsSlice(), uint16(80))
	}
	fetcher := New(Options{})
	f.Fuzz(func(t *testing.T, b []byte, port uint16) {
		addr, ok := netip.AddrFromSlice(b)
		if !ok {
			return
		}
		block, kind, denied := classify(addr)
		if addr.Is4In6() {
			_, k4, d4 := classify(addr.Unmap())
			if d4 != denied || k4 != kind {
				t.Fatalf("%s judged %q/%v, its IPv4 form %q/%v", addr, kind, denied, k4, d4)
			}
		}
		if denied && block.IsValid() && !block.Contains(addr.Unmap()) {
			t.Fatalf("%s: named block %s does not contain it", addr, block)
		}
		if !denied && addr.Is6() && !addr.Is4In6() && !globalUnicast6.Contains(addr) {
			t.Fatalf("%s outside 2000::/3 allowed", addr)
		}
		if err := fetcher.check(netip.AddrPortFrom(addr, port)); (err != nil) != denied {
			t.Fatalf("check(%s) = %v, classify denied=%v", addr, err, denied)
		}
	})
}
