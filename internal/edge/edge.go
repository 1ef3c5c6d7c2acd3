// Package edge holds the defences of the public listener that sit below
// the API: telling a TLS client that reached the plain-HTTP port what went
// wrong, and disconnecting a client that stopped reading its response.
package edge

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// ErrTLSOnPlainPort is what Read returns for a connection that opened with
// a TLS handshake on a plain-HTTP listener (after it was answered).
var ErrTLSOnPlainPort = errors.New("edge: TLS handshake on the plain-HTTP port")

// tlsAlert is a fatal protocol_version alert record: clients report it as
// the server not supporting their TLS ("tlsv1 alert protocol version",
// "tls: protocol version not supported", ERR_SSL_VERSION_OR_CIPHER_MISMATCH)
// instead of the "wrong version number" garbage a plain-text 400 causes.
var tlsAlert = []byte{0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x46}

// logEvery bounds how often DetectTLS logs, so a scanner cannot flood logs.
const logEvery = time.Minute

// DetectTLS wraps a plain-HTTP listener: a connection whose first byte
// starts a TLS handshake record (which no HTTP request does) is answered
// with a TLS alert and closed, and log says what to do about it, at most
// once a minute. The check costs nothing after a connection's first read.
func DetectTLS(ln net.Listener, log *slog.Logger) net.Listener {
	return &tlsDetector{Listener: ln, log: log}
}

type tlsDetector struct {
	net.Listener
	log    *slog.Logger
	logged atomic.Int64 // unix nanoseconds of the last log line
}

func (l *tlsDetector) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &sniffConn{Conn: c, l: l}, nil
}

func (l *tlsDetector) report(remote net.Addr) {
	now := time.Now().UnixNano()
	last := l.logged.Load()
	if now-last < int64(logEvery) || !l.logged.CompareAndSwap(last, now) {
		return
	}
	l.log.Warn("a TLS client connected to the plain-HTTP port: use http:// in its base URL, or set server.tls_cert_file and server.tls_key_file to serve HTTPS",
		"remote", remote.String())
}

type sniffConn struct {
	net.Conn
	l       *tlsDetector
	checked bool // only the server's one reading goroutine touches it
}

func (c *sniffConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if c.checked || n == 0 {
		return n, err
	}
	c.checked = true
	if p[0] != 0x16 { // TLS handshake record
		return n, err
	}
	alert := tlsAlert
	if n >= 3 && p[1] == 0x03 {
		alert = append([]byte(nil), tlsAlert...)
		alert[2] = p[2] // answer in the record version the client used
	}
	// Log before answering, so whoever sees the alert can find the line.
	c.l.report(c.RemoteAddr())
	_ = c.Conn.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.Conn.Write(alert)
	_ = c.Conn.Close()
	return 0, ErrTLSOnPlainPort
}

// StallGuard bounds how long one write of a response may block. A client
// that stops reading (a full TCP window, kept open) would otherwise park
// its handler, its stream, its request body and its concurrency slot for
// as long as it likes: with server.write_timeout at 0 (streams run long),
// nothing else ends such a write. Each write and flush must complete
// within timeout; large writes are cut into pieces that must each make
// progress. A whole-response bound (server.write_timeout, writeTimeout
// here; 0 = none) is never extended. timeout <= 0 returns h unchanged.
func StallGuard(h http.Handler, timeout, writeTimeout time.Duration) http.Handler {
	if timeout <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &stallWriter{ResponseWriter: w, rc: http.NewResponseController(w), timeout: timeout}
		if writeTimeout > 0 {
			sw.end = time.Now().Add(writeTimeout)
		}
		h.ServeHTTP(sw, r)
	})
}

// stallPiece is the most one write sends under one deadline.
const stallPiece = 256 << 10

type stallWriter struct {
	http.ResponseWriter
	rc       *http.ResponseController
	timeout  time.Duration
	deadline time.Time
	end      time.Time // the whole response's deadline; zero = none
	off      bool      // the connection takes no deadlines (a test recorder)
}

// arm moves the write deadline forward when less than half of the timeout
// is left, so small writes cost a clock read, not a timer update.
func (w *stallWriter) arm() {
	if w.off {
		return
	}
	now := time.Now()
	if w.deadline.Sub(now) > w.timeout/2 {
		return
	}
	w.deadline = now.Add(w.timeout)
	if !w.end.IsZero() && w.end.Before(w.deadline) {
		w.deadline = w.end
	}
	if err := w.rc.SetWriteDeadline(w.deadline); err != nil {
		w.off = true
	}
}

func (w *stallWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		piece := p[:min(len(p), stallPiece)]
		w.arm()
		n, err := w.ResponseWriter.Write(piece)
		written += n
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}

// FlushError is what http.ResponseController.Flush calls.
func (w *stallWriter) FlushError() error {
	w.arm()
	return w.rc.Flush()
}

// Flush implements http.Flusher for callers that assert it.
func (w *stallWriter) Flush() { _ = w.FlushError() }

// Unwrap lets http.ResponseController reach the connection's other
// controls (deadlines, full duplex).
func (w *stallWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
