package safefetch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"switchboard/internal/gateway"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

var loopbackOnly = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}

// newFetcher returns a Fetcher whose idle connections are closed with the test.
func newFetcher(t *testing.T, opts Options) *Fetcher {
	t.Helper()
	f := New(opts)
	t.Cleanup(f.CloseIdleConnections)
	return f
}

// server is an httptest server on 127.0.0.1 that counts its requests.
type server struct {
	*httptest.Server
	hits atomic.Int32
}

func newServer(t *testing.T, h http.HandlerFunc) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// newServerOn is newServer listening on addr, skipping the test when the
// address cannot be bound here.
func newServerOn(t *testing.T, addr string, h http.HandlerFunc) *server {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	s := &server{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		h(w, r)
	}))
	s.Listener.Close()
	s.Listener = ln
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func servePNG(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "image/png")
	_, _ = w.Write([]byte(pngMagic))
}

// wantRefusal asserts err is the 400 of this package and its message
// contains every fragment.
func wantRefusal(t *testing.T, err error, fragments ...string) *gateway.Error {
	t.Helper()
	var ge *gateway.Error
	if !errors.As(err, &ge) {
		t.Fatalf("err = %v (%T), want *gateway.Error", err, err)
	}
	if ge.Kind != gateway.KindInvalidRequest || ge.HTTPStatus() != http.StatusBadRequest {
		t.Fatalf("kind %v status %d, want KindInvalidRequest / 400", ge.Kind, ge.HTTPStatus())
	}
	for _, f := range fragments {
		if !strings.Contains(ge.Message, f) {
			t.Fatalf("message %q does not contain %q", ge.Message, f)
		}
	}
	return ge
}

func TestFetchRefusesLoopbackAtDial(t *testing.T) {
	srv := newServer(t, servePNG)
	f := newFetcher(t, Options{})

	_, _, err := f.Fetch(context.Background(), srv.URL+"/x.png")
	wantRefusal(t, err, strconv.Quote(srv.URL+"/x.png"), "refused", "address 127.0.0.1 is in a loopback range (127.0.0.0/8)")

	// By name: the resolved address is checked, and not revealed.
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	byName := fmt.Sprintf("http://localhost:%d/x.png", port)
	_, _, err = f.Fetch(context.Background(), byName)
	ge := wantRefusal(t, err, "its host resolves to an address in a loopback range")
	if strings.Contains(ge.Message, "127.0.0.1") || strings.Contains(ge.Message, "::1") {
		t.Errorf("message reveals the resolved address: %q", ge.Message)
	}
	if !strings.Contains(ge.Error(), "dial to") {
		t.Errorf("the cause should keep the detail for logs: %q", ge.Error())
	}
	if n := srv.hits.Load(); n != 0 {
		t.Fatalf("server was reached %d times", n)
	}
}

func TestFetchRefusesLiteralAddresses(t *testing.T) {
	// Nothing listens on these; the guard refuses before connect, so these
	// tests never leave the machine.
	f := newFetcher(t, Options{Timeout: 2 * time.Second})
	tests := []struct {
		url  string
		want string
	}{
		{"http://10.0.0.1/x.png", `image URL "http://10.0.0.1/x.png" refused: address 10.0.0.1 is in a private range (10.0.0.0/8)`},
		{"http://169.254.169.254/latest/meta-data/", "address 169.254.169.254 is in a cloud metadata range"},
		{"http://100.100.100.200/latest/meta-data/", "address 100.100.100.200 is in a CGNAT shared range (100.64.0.0/10)"},
		{"https://192.168.0.1:8443/", "address 192.168.0.1 is in a private range"},
		{"http://0.0.0.0:1/", "address 0.0.0.0 is in a this-network range"},
		{"http://[::ffff:127.0.0.1]:1/", "address 127.0.0.1 is in a loopback range"},
		{"http://[::ffff:a9fe:a9fe]/", "address 169.254.169.254 is in a cloud metadata range"},
		{"http://[::1]:1/", "address ::1 is in a loopback range"},
		{"http://[64:ff9b::a00:1]/", "address 64:ff9b::a00:1 is in a NAT64 range (64:ff9b::/96)"},
		{"http://[2002:a9fe:a9fe::1]/", "is in a 6to4 range (2002::/16)"},
		{"http://[fec0::1]/", "is in a site-local range (fec0::/10)"},
		{"http://[fd00:ec2::254]/", "is in a private range (fc00::/7)"},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			_, _, err := f.Fetch(context.Background(), tt.url)
			var ge *gateway.Error
			if errors.As(err, &ge) && strings.Contains(ge.Message, "could not be fetched") {
				t.Skipf("address family unavailable here: %v", err)
			}
			wantRefusal(t, err, tt.want)
		})
	}
}

func TestFetchAllowPrivate(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.Header.Get("Cookie") != "" || r.Header.Get("Authorization") != "" {
			http.Error(w, "unexpected request", http.StatusTeapot)
			return
		}
		if r.Header.Get("User-Agent") != userAgent {
			http.Error(w, "no user agent", http.StatusTeapot)
			return
		}
		servePNG(w, r)
	})
	for name, opts := range map[string]Options{
		"AllowPrivate": {AllowPrivate: true},
		"AllowedCIDRs": {AllowedCIDRs: loopbackOnly},
		"mapped CIDR":  {AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("::ffff:127.0.0.0/104")}},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFetcher(t, opts)
			mt, data, err := f.Fetch(context.Background(), srv.URL+"/x.png")
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if mt != "image/png" || data != b64(pngMagic) {
				t.Fatalf("got (%q, %q)", mt, data)
			}
		})
	}
}

func TestFetchRedirectTargetChecked(t *testing.T) {
	inner := newServerOn(t, "127.0.0.2:0", servePNG)
	outer := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, inner.URL+"/secret.png", http.StatusFound)
	})

	// The first hop is allowed, the target is not.
	f := newFetcher(t, Options{AllowedCIDRs: loopbackOnly})
	_, _, err := f.Fetch(context.Background(), outer.URL+"/x.png")
	wantRefusal(t, err, "refused: it redirects to a host whose address 127.0.0.2 is in a loopback range")
	if outer.hits.Load() != 1 || inner.hits.Load() != 0 {
		t.Fatalf("hits outer %d inner %d, want 1 and 0", outer.hits.Load(), inner.hits.Load())
	}

	// A redirect to a name: the address is not revealed. Here the first hop
	// is the one on 127.0.0.2 and the name resolves to 127.0.0.1 (or ::1).
	plain := newServer(t, servePNG)
	port := plain.Listener.Addr().(*net.TCPAddr).Port
	byName := newServerOn(t, "127.0.0.2:0", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, fmt.Sprintf("http://localhost:%d/secret.png", port), http.StatusFound)
	})
	f2 := newFetcher(t, Options{AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32")}})
	_, _, err = f2.Fetch(context.Background(), byName.URL+"/x.png")
	ge := wantRefusal(t, err, "it redirects to a host whose address is in a loopback range")
	if strings.Contains(ge.Message, "127.0.0.1") || strings.Contains(ge.Message, "::1") {
		t.Errorf("message reveals the resolved address: %q", ge.Message)
	}
	if plain.hits.Load() != 0 {
		t.Fatalf("redirect target reached %d times", plain.hits.Load())
	}

	// With the target allowed too, the same redirect is followed.
	f = newFetcher(t, Options{AllowedCIDRs: append(loopbackOnly, netip.MustParsePrefix("127.0.0.2/32"))})
	mt, _, err := f.Fetch(context.Background(), outer.URL+"/x.png")
	if err != nil || mt != "image/png" {
		t.Fatalf("allowed redirect: (%q, %v)", mt, err)
	}
	if inner.hits.Load() != 1 {
		t.Fatalf("inner hits %d, want 1", inner.hits.Load())
	}
}

func TestFetchRedirectLimits(t *testing.T) {
	var loops *server
	loops = newServer(t, func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		if n >= 3 {
			servePNG(w, r)
			return
		}
		http.Redirect(w, r, fmt.Sprintf("%s/?n=%d", loops.URL, n+1), http.StatusFound)
	})
	toFile := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
	})

	// Three redirects are followed by default.
	f := newFetcher(t, Options{AllowPrivate: true})
	if _, _, err := f.Fetch(context.Background(), loops.URL+"/?n=0"); err != nil {
		t.Fatalf("three redirects: %v", err)
	}
	f = newFetcher(t, Options{AllowPrivate: true, MaxRedirects: 2})
	_, _, err := f.Fetch(context.Background(), loops.URL+"/?n=0")
	wantRefusal(t, err, "it redirects more than 2 times")

	f = newFetcher(t, Options{AllowPrivate: true, MaxRedirects: -1})
	_, _, err = f.Fetch(context.Background(), loops.URL+"/?n=2")
	wantRefusal(t, err, "redirects are not followed")

	f = newFetcher(t, Options{AllowPrivate: true})
	_, _, err = f.Fetch(context.Background(), toFile.URL)
	wantRefusal(t, err, `it redirects to unsupported URL scheme "file"`)
}

func TestFetchSizeLimit(t *testing.T) {
	const max = 1024
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		body := []byte(pngMagic + strings.Repeat("x", n-len(pngMagic)))
		w.Header().Set("Content-Type", "image/png")
		if r.URL.Query().Get("chunked") != "" {
			// Flushing before the end leaves out Content-Length.
			_, _ = w.Write(body[:len(pngMagic)])
			w.(http.Flusher).Flush()
			_, _ = w.Write(body[len(pngMagic):])
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		_, _ = w.Write(body)
	})
	f := newFetcher(t, Options{AllowPrivate: true, MaxBytes: max})
	for _, tt := range []struct {
		query   string
		wantErr bool
	}{
		{"n=1024", false},
		{"n=1025", true},
		{"n=1024&chunked=1", false},
		{"n=1025&chunked=1", true},
		{"n=1048576&chunked=1", true},
	} {
		t.Run(tt.query, func(t *testing.T) {
			_, data, err := f.Fetch(context.Background(), srv.URL+"/?"+tt.query)
			if tt.wantErr {
				wantRefusal(t, err, "exceeds 1 KiB")
				return
			}
			if err != nil || len(data) != len(b64(strings.Repeat("x", max))) {
				t.Fatalf("err %v, %d base64 bytes", err, len(data))
			}
		})
	}
}

func TestFetchTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/body" {
			w.Header().Set("Content-Type", "image/png")
			_, _ = w.Write([]byte(pngMagic))
			w.(http.Flusher).Flush()
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release) // before srv.Close, which waits for handlers
	f := newFetcher(t, Options{AllowPrivate: true, Timeout: 150 * time.Millisecond})
	for _, path := range []string{"/headers", "/body"} {
		t.Run(path, func(t *testing.T) {
			start := time.Now()
			_, _, err := f.Fetch(context.Background(), srv.URL+path)
			wantRefusal(t, err, "timed out after 150ms")
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}
}

func TestFetchCallerCancelled(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	f := newFetcher(t, Options{AllowPrivate: true})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, _, err := f.Fetch(ctx, srv.URL)
	wantRefusal(t, err, "the request was cancelled")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cause lost: %v", err)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, _, err = f.Fetch(ctx, srv.URL)
	wantRefusal(t, err, "the request ran out of time")
}

func TestFetchStatus(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/"))
		w.WriteHeader(code)
	})
	f := newFetcher(t, Options{AllowPrivate: true})
	for _, code := range []int{404, 403, 500, 304} {
		_, _, err := f.Fetch(context.Background(), fmt.Sprintf("%s/%d", srv.URL, code))
		wantRefusal(t, err, fmt.Sprintf("answered %d", code))
	}
	_, _, err := f.Fetch(context.Background(), srv.URL+"/200")
	wantRefusal(t, err, "answered with an empty body")
}

func TestFetchRejectsURLs(t *testing.T) {
	f := newFetcher(t, Options{AllowPrivate: true})
	long := "gopher://" + strings.Repeat("a", 5000)
	tests := []struct {
		url  string
		want string
	}{
		{"file:///etc/passwd", `unsupported URL scheme "file"`},
		{"ftp://example.com/a.png", `unsupported URL scheme "ftp"`},
		{"gopher://example.com/", `unsupported URL scheme "gopher"`},
		{"javascript:alert(1)", `unsupported URL scheme "javascript"`},
		{"FILE:///etc/passwd", `unsupported URL scheme "file"`},
		{"/relative.png", "is not an absolute URL"},
		{"example.com/a.png", "is not an absolute URL"},
		{"http:///a.png", "has no host"},
		{"http://[::1/", "is not a valid URL"},
		{"http://user:secret@example.com/a.png", `"http://user:xxxxx@example.com/a.png" must not carry credentials`},
		{long, "unsupported URL scheme"},
	}
	for _, tt := range tests {
		t.Run(tt.url[:min(len(tt.url), 40)], func(t *testing.T) {
			_, _, err := f.Fetch(context.Background(), tt.url)
			ge := wantRefusal(t, err, tt.want)
			if strings.Contains(ge.Message, "secret") || len(ge.Message) > 400 {
				t.Fatalf("message leaks or echoes too much: %q", ge.Message)
			}
		})
	}
	// A long URL is quoted shortened.
	_, _, err := f.Fetch(context.Background(), "http://"+strings.Repeat("a", 5000)+"/")
	if ge := wantRefusal(t, err); len(ge.Message) > 400 || !strings.Contains(ge.Message, "…") {
		t.Fatalf("long URL echoed: %d bytes", len(ge.Message))
	}
}

func TestFetchDataURI(t *testing.T) {
	f := newFetcher(t, Options{MaxBytes: 16})
	mt, data, err := f.Fetch(context.Background(), "data:;base64,"+b64(gifMagic))
	if err != nil || mt != "image/gif" || data != b64(gifMagic) {
		t.Fatalf("got (%q, %q, %v)", mt, data, err)
	}
	_, _, err = f.Fetch(context.Background(), "data:image/png;base64,"+b64(strings.Repeat("x", 17)))
	wantRefusal(t, err, "exceeds 16 bytes")
}

func TestFetchMediaType(t *testing.T) {
	jpeg := "\xff\xd8\xff\xe0\x00\x10JFIF\x00"
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if ct, ok := q["ct"]; ok {
			w.Header().Set("Content-Type", ct[0])
		} else {
			w.Header()["Content-Type"] = nil // stops net/http sniffing on its own
		}
		_, _ = w.Write([]byte(q.Get("body")))
	})
	f := newFetcher(t, Options{AllowPrivate: true})
	tests := []struct {
		name, ct, body, want string
		noCT                 bool
	}{
		{name: "missing header sniffs", noCT: true, body: pngMagic, want: "image/png"},
		{name: "octet-stream sniffs", ct: "application/octet-stream", body: jpeg, want: "image/jpeg"},
		{name: "S3 binary/octet-stream sniffs", ct: "binary/octet-stream", body: gifMagic, want: "image/gif"},
		{name: "text/plain for an image sniffs", ct: "text/plain; charset=utf-8", body: pngMagic, want: "image/png"},
		{name: "specific header wins", ct: "image/webp", body: pngMagic, want: "image/webp"},
		{name: "parameters dropped", ct: "Image/PNG; charset=binary", body: pngMagic, want: "image/png"},
		{name: "generic kept when sniff finds nothing", ct: "application/octet-stream", body: "\x00\x01\x02", want: "application/octet-stream"},
		{name: "unparsable header sniffs", ct: "image/png;;=", body: gifMagic, want: "image/gif"},
		{name: "missing header, unknown bytes", noCT: true, body: "\x00\x01\x02", want: "application/octet-stream"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := url.Values{"body": {tt.body}}
			if !tt.noCT {
				q.Set("ct", tt.ct)
			}
			mt, data, err := f.Fetch(context.Background(), srv.URL+"/?"+q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			if mt != tt.want || data != b64(tt.body) {
				t.Fatalf("got (%q, %q), want %q", mt, data, tt.want)
			}
		})
	}
}

func TestFetchAllowedPorts(t *testing.T) {
	srv := newServer(t, servePNG)
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	f := newFetcher(t, Options{AllowPrivate: true, AllowedPorts: []uint16{80, 443}})
	_, _, err := f.Fetch(context.Background(), srv.URL)
	wantRefusal(t, err, fmt.Sprintf("refused: port %d is not allowed", port))

	f = newFetcher(t, Options{AllowPrivate: true, AllowedPorts: []uint16{uint16(port)}})
	if _, _, err := f.Fetch(context.Background(), srv.URL); err != nil {
		t.Fatal(err)
	}
}

func TestCheck(t *testing.T) {
	f := New(Options{AllowedCIDRs: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}})
	tests := []struct {
		addr    string
		refused bool
	}{
		{"8.8.8.8:443", false},
		{"10.1.2.3:80", false},           // explicitly allowed
		{"[::ffff:10.1.2.3]:80", false},  // mapped form of an allowed address
		{"10.2.0.1:80", true},            // private, not allowed
		{"[::ffff:10.2.0.1]:80", true},   // mapped form of it
		{"[fe80::1%25lo]:80", true},      // zone does not hide link-local
		{"[2606:4700::1111]:443", false}, // public IPv6
	}
	for _, tt := range tests {
		ap, err := netip.ParseAddrPort(strings.Replace(tt.addr, "%25", "%", 1))
		if err != nil {
			t.Fatal(err)
		}
		err = f.check(ap)
		if (err != nil) != tt.refused {
			t.Errorf("check(%s) = %v, want refused=%v", tt.addr, err, tt.refused)
		}
	}
	if err := f.control(context.Background(), "udp4", "8.8.8.8:53", nil); err == nil {
		t.Error("a non-TCP dial was allowed")
	}
	if err := f.control(context.Background(), "tcp4", "not-an-address", nil); err == nil {
		t.Error("an unparsable address was allowed")
	}
}

func TestNewDefaults(t *testing.T) {
	f := New(Options{})
	if f.opts.MaxBytes != 20<<20 || f.opts.Timeout != 15*time.Second || f.maxRedirects != 3 {
		t.Fatalf("defaults: %+v, redirects %d", f.opts, f.maxRedirects)
	}
	if f.transport.Proxy != nil {
		t.Fatal("the transport must not use a proxy")
	}
	if f.client.Jar != nil {
		t.Fatal("the client must not keep cookies")
	}
}
