package safefetch

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"time"

	"switchboard/internal/gateway"
)

// Defaults applied by New to zero Options fields.
const (
	DefaultMaxBytes     = 20 << 20
	DefaultTimeout      = 15 * time.Second
	DefaultMaxRedirects = 3
)

// userAgent identifies the gateway to image hosts; some refuse requests
// without one.
const userAgent = "Switchboard-safefetch/1"

// Options bound and scope a Fetcher. The zero value is the safe default.
type Options struct {
	// MaxBytes bounds the decoded body; default 20 MiB.
	MaxBytes int64
	// Timeout bounds the whole fetch (dial, redirects, headers and body);
	// default 15s.
	Timeout time.Duration
	// AllowPrivate turns the address check off entirely: loopback, private
	// and every other special-purpose range may be dialled. Only for tests
	// and deployments whose clients are all trusted.
	AllowPrivate bool
	// AllowedCIDRs are dialled even though they fall in a denied range (an
	// internal image store, say). IPv4 blocks also match the IPv4-mapped
	// IPv6 form of their addresses, and ::ffff:a.b.c.d/n blocks the IPv4 form.
	AllowedCIDRs []netip.Prefix
	// MaxRedirects is how many redirects are followed; each target is
	// checked again when it is dialled. Zero means 3, negative means none.
	MaxRedirects int
	// AllowedPorts, when not empty, are the only destination ports dialled
	// (for example 80 and 443), so the fetcher cannot be used to probe
	// other services on public hosts. Empty means any port.
	AllowedPorts []uint16
}

// Fetcher downloads client-supplied URLs under the SSRF guard. It is safe
// for concurrent use and keeps a small pool of idle connections, each of
// which was checked when it was dialled.
type Fetcher struct {
	opts         Options
	maxRedirects int
	transport    *http.Transport
	client       *http.Client
}

// New returns a Fetcher with opts, zero fields replaced by the defaults.
func New(opts Options) *Fetcher {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	// Dialled IPv4 addresses arrive unmapped, so an allowed ::ffff:a.b.c.d/n
	// block is kept in its IPv4 form; a copy, so the caller's slice is not
	// modified.
	allowed := make([]netip.Prefix, 0, len(opts.AllowedCIDRs))
	for _, p := range opts.AllowedCIDRs {
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		allowed = append(allowed, p.Masked())
	}
	opts.AllowedCIDRs = allowed
	f := &Fetcher{opts: opts, maxRedirects: opts.MaxRedirects}
	switch {
	case f.maxRedirects == 0:
		f.maxRedirects = DefaultMaxRedirects
	case f.maxRedirects < 0:
		f.maxRedirects = 0
	}
	dialer := &net.Dialer{
		Timeout:   opts.Timeout,
		KeepAlive: 30 * time.Second,
		// The check runs on the address actually being connected to, after
		// resolution, so neither DNS rebinding nor a hostname that resolves
		// to an internal address gets past it.
		ControlContext: f.control,
	}
	f.transport = &http.Transport{
		// Never a proxy, whatever HTTP_PROXY says: with a proxy the dialled
		// address is the proxy's, and the check above would guard nothing.
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true, // a custom DialContext turns HTTP/2 off otherwise
		TLSHandshakeTimeout:    min(10*time.Second, opts.Timeout),
		ResponseHeaderTimeout:  opts.Timeout,
		MaxResponseHeaderBytes: 64 << 10,
		MaxIdleConns:           16,
		MaxIdleConnsPerHost:    2,
		IdleConnTimeout:        30 * time.Second,
	}
	f.client = &http.Client{
		Transport:     f.transport,
		CheckRedirect: f.checkRedirect,
		// No Jar: cookies set by one image host must never reach another.
	}
	return f
}

// CloseIdleConnections closes the pooled connections; call it when the
// Fetcher is dropped.
func (f *Fetcher) CloseIdleConnections() { f.transport.CloseIdleConnections() }

// errFetchTimeout is the cause of the per-fetch deadline, which tells it
// apart from the caller's own cancellation.
var errFetchTimeout = errors.New("safefetch: fetch timed out")

// Fetch downloads rawURL (http or https, GET only, no cookies or client
// credentials) and returns its media type and its body as standard base64.
// data: URIs are decoded without network access (see ParseDataURI). The
// media type is the response's Content-Type, or sniffed when that is
// missing or generic.
//
// Every refusal is a *gateway.Error of KindInvalidRequest whose message says
// why in terms of the URL the client sent; details that the client did not
// already know (what its host name resolves to, the underlying network
// error) stay in the error's Err for logs.
func (f *Fetcher) Fetch(ctx context.Context, rawURL string) (mediaType string, b64 string, err error) {
	if len(rawURL) >= len("data:") && strings.EqualFold(rawURL[:len("data:")], "data:") {
		return ParseDataURI(rawURL, f.opts.MaxBytes)
	}
	shown := quoteURL(rawURL)
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", "", invalid("image URL %s is not a valid URL", shown)
	}
	switch scheme := strings.ToLower(u.Scheme); scheme {
	case "http", "https":
	case "":
		return "", "", invalid("image URL %s is not an absolute URL (use http, https or data)", shown)
	default:
		return "", "", invalid("unsupported URL scheme %s (image URLs must be http, https or data)", quoteURL(u.Scheme))
	}
	if u.User != nil {
		return "", "", invalid("image URL %s must not carry credentials", quoteURL(u.Redacted()))
	}
	if u.Hostname() == "" {
		return "", "", invalid("image URL %s has no host", shown)
	}

	fctx, cancel := context.WithTimeoutCause(ctx, f.opts.Timeout, errFetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(fctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", "", &gateway.Error{Kind: gateway.KindInvalidRequest,
			Message: fmt.Sprintf("image URL %s is not a valid URL", shown), Err: err}
	}
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept", "*/*")

	resp, err := f.client.Do(req)
	if err != nil {
		return "", "", f.explain(ctx, fctx, req, shown, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return "", "", invalid("image URL %s answered %d", shown, resp.StatusCode)
	}
	if resp.ContentLength > f.opts.MaxBytes {
		return "", "", invalid("image URL %s exceeds %s", shown, formatSize(f.opts.MaxBytes))
	}
	body, err := readBounded(resp.Body, resp.ContentLength, f.opts.MaxBytes)
	if errors.Is(err, errTooLarge) {
		return "", "", invalid("image URL %s exceeds %s", shown, formatSize(f.opts.MaxBytes))
	}
	if err != nil {
		return "", "", f.explain(ctx, fctx, req, shown, err)
	}
	if len(body) == 0 {
		return "", "", invalid("image URL %s answered with an empty body", shown)
	}
	declared := ""
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		if mt, _, perr := mime.ParseMediaType(ct); perr == nil {
			declared = mt
		}
	}
	return pickMediaType(declared, body), base64.StdEncoding.EncodeToString(body), nil
}

var errTooLarge = errors.New("safefetch: body exceeds the size bound")

// readBounded reads at most max bytes and fails with errTooLarge beyond
// that. A known Content-Length (already checked against max) sizes the
// buffer once; the transport stops the body at that length.
func readBounded(r io.Reader, contentLength, max int64) ([]byte, error) {
	if contentLength >= 0 {
		buf := make([]byte, contentLength)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		return buf, nil
	}
	buf, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(buf)) > max {
		return nil, errTooLarge
	}
	return buf, nil
}

// refusedError is what the dial guard returns; it carries the full detail
// for logs, and explain decides how much of it the client sees.
type refusedError struct {
	addr  netip.Addr // unmapped, without zone
	port  uint16
	block netip.Prefix
	kind  string // range kind, or "" when the port is what was refused
}

func (e *refusedError) Error() string {
	if e.kind == "" {
		return fmt.Sprintf("safefetch: dial to port %d refused: not in the allowed ports", e.port)
	}
	if e.block.IsValid() {
		return fmt.Sprintf("safefetch: dial to %s refused: %s range %s", e.addr, e.kind, e.block)
	}
	return fmt.Sprintf("safefetch: dial to %s refused: %s range", e.addr, e.kind)
}

// control is the net.Dialer hook: it runs after resolution, before connect,
// for every address the dialer tries, on every redirect hop.
func (f *Fetcher) control(_ context.Context, network, address string, _ syscall.RawConn) error {
	if network != "tcp4" && network != "tcp6" {
		return &refusedError{kind: "non-TCP"}
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &refusedError{kind: "unparseable"}
	}
	return f.check(ap)
}

// check applies the port allow-list, then the address policy.
func (f *Fetcher) check(ap netip.AddrPort) error {
	if len(f.opts.AllowedPorts) > 0 && !slices.Contains(f.opts.AllowedPorts, ap.Port()) {
		return &refusedError{port: ap.Port()}
	}
	if f.opts.AllowPrivate {
		return nil
	}
	raw := ap.Addr().WithZone("")
	addr := raw.Unmap()
	for _, p := range f.opts.AllowedCIDRs {
		if p.Contains(raw) || p.Contains(addr) {
			return nil
		}
	}
	if block, kind, denied := classify(addr); denied {
		return &refusedError{addr: addr, port: ap.Port(), block: block, kind: kind}
	}
	return nil
}

// redirectError refuses a redirect in CheckRedirect.
type redirectError struct {
	scheme string // set when the target's scheme was refused
	limit  int    // set when there were too many redirects
}

func (e *redirectError) Error() string {
	if e.scheme != "" {
		return fmt.Sprintf("safefetch: redirect to unsupported scheme %q", e.scheme)
	}
	return fmt.Sprintf("safefetch: more than %d redirects", e.limit)
}

func (f *Fetcher) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > f.maxRedirects {
		return &redirectError{limit: f.maxRedirects}
	}
	if s := strings.ToLower(req.URL.Scheme); s != "http" && s != "https" {
		return &redirectError{scheme: req.URL.Scheme}
	}
	// The target's address is checked when it is dialled, like the first.
	return nil
}

// explain turns a transport error into the public 400, keeping the cause.
func (f *Fetcher) explain(parent, fctx context.Context, req *http.Request, shown string, err error) error {
	fail := func(format string, args ...any) error {
		return &gateway.Error{Kind: gateway.KindInvalidRequest, Message: fmt.Sprintf(format, args...), Err: err}
	}
	var refused *refusedError
	var redirect *redirectError
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var netErr net.Error
	switch {
	case errors.As(err, &refused):
		return fail("image URL %s refused: %s", shown, describeRefusal(req, err, refused))
	case errors.As(err, &redirect) && redirect.scheme != "":
		return fail("image URL %s refused: it redirects to unsupported URL scheme %s", shown, quoteURL(redirect.scheme))
	case errors.As(err, &redirect):
		if redirect.limit == 0 {
			return fail("image URL %s refused: it redirects, and redirects are not followed", shown)
		}
		return fail("image URL %s refused: it redirects more than %d times", shown, redirect.limit)
	case errors.Is(parent.Err(), context.DeadlineExceeded):
		return fail("image URL %s was not fetched: the request ran out of time", shown)
	case parent.Err() != nil:
		return fail("image URL %s was not fetched: the request was cancelled", shown)
	case context.Cause(fctx) == errFetchTimeout,
		errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &netErr) && netErr.Timeout():
		return fail("image URL %s timed out after %s", shown, f.opts.Timeout)
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		return fail("image URL %s could not be fetched: its host was not found", shown)
	case errors.As(err, &certErr):
		return fail("image URL %s could not be fetched: its TLS certificate is not valid", shown)
	}
	return fail("image URL %s could not be fetched", shown)
}

// describeRefusal explains a dial refusal. It names the address only when
// the URL being fetched spelt it out, so the client learns nothing about
// what internal host names resolve to.
func describeRefusal(req *http.Request, err error, r *refusedError) string {
	target := req.URL
	redirected := false
	var urlErr *url.Error
	if errors.As(err, &urlErr) && urlErr.URL != req.URL.String() {
		if u, perr := url.Parse(urlErr.URL); perr == nil {
			target, redirected = u, true
		}
	}
	if r.kind == "" {
		if redirected {
			return fmt.Sprintf("it redirects to port %d, which is not allowed", r.port)
		}
		return fmt.Sprintf("port %d is not allowed", r.port)
	}
	var b strings.Builder
	if redirected {
		b.WriteString("it redirects to a host whose ")
	}
	if lit, perr := netip.ParseAddr(target.Hostname()); perr == nil && lit.WithZone("").Unmap() == r.addr {
		fmt.Fprintf(&b, "address %s is in %s %s range", r.addr, article(r.kind), r.kind)
		if r.block.IsValid() {
			fmt.Fprintf(&b, " (%s)", r.block)
		}
		return b.String()
	}
	if redirected {
		fmt.Fprintf(&b, "address is in %s %s range", article(r.kind), r.kind)
	} else {
		fmt.Fprintf(&b, "host resolves to an address in %s %s range", article(r.kind), r.kind)
		return "its " + b.String()
	}
	return b.String()
}

func article(word string) string {
	if word != "" && strings.ContainsRune("aeiouAEIOU", rune(word[0])) {
		return "an"
	}
	return "a"
}

// quoteURL quotes a client-supplied string for a message, shortened so a
// pasted megabyte does not come back in the error.
func quoteURL(s string) string {
	const max = 200
	if len(s) > max {
		cut := max
		for cut > 0 && !isRuneStart(s[cut]) {
			cut--
		}
		return fmt.Sprintf("%q", s[:cut]+"…")
	}
	return fmt.Sprintf("%q", s)
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
