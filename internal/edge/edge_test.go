package edge

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.b.Write(p) }
func (l *logBuf) String() string              { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

func serve(t *testing.T, h http.Handler, wrap func(net.Listener) net.Listener) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(wrap(ln)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

func TestDetectTLSAnswersAnAlert(t *testing.T) {
	var logs logBuf
	log := slog.New(slog.NewTextHandler(&logs, nil))
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "plain ok") }),
		func(ln net.Listener) net.Listener { return DetectTLS(ln, log) })

	for i := range 2 {
		conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
		if err == nil {
			conn.Close()
			t.Fatal("TLS handshake with the plain port succeeded")
		}
		if !strings.Contains(err.Error(), "protocol version not supported") {
			t.Fatalf("attempt %d: the client saw %q, not a clear TLS alert", i, err)
		}
	}
	out := logs.String()
	if !strings.Contains(out, "use http://") || !strings.Contains(out, "server.tls_cert_file") || strings.Count(out, "plain-HTTP port") != 1 {
		t.Fatalf("log (want one line saying what to do): %s", out)
	}
	// Plain HTTP still works on the same listener.
	resp, err := http.Get("http://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "plain ok" {
		t.Fatalf("plain request: %q", b)
	}
}

// stuckClient sends a request and never reads the answer.
func stuckClient(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(4 << 10)
	}
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	return c
}

func TestStallGuardEndsAStuckReader(t *testing.T) {
	done := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := bytes.Repeat([]byte("x"), 1<<20)
		for range 512 { // far more than any socket buffer
			if _, err := w.Write(chunk); err != nil {
				done <- err
				return
			}
			http.NewResponseController(w).Flush()
		}
		done <- nil
	})
	for _, guarded := range []bool{true, false} {
		handler := http.Handler(h)
		if guarded {
			handler = StallGuard(h, 300*time.Millisecond, 0)
		}
		addr := serve(t, handler, func(ln net.Listener) net.Listener { return ln })
		c := stuckClient(t, addr)
		select {
		case err := <-done:
			if !guarded || err == nil {
				t.Fatalf("guarded=%v: handler ended with %v", guarded, err)
			}
		case <-time.After(4 * time.Second):
			if guarded {
				t.Fatal("a write to a client that stopped reading blocked past the stall timeout")
			}
		}
		c.Close()
		if !guarded {
			<-done // the unguarded handler ends once the client is gone
		}
	}
}

// A slow client that keeps reading is not a stuck one: the whole answer
// arrives although it takes far longer than the stall timeout.
func TestStallGuardLetsSlowReadersFinish(t *testing.T) {
	const size = 16 << 20
	h := StallGuard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(bytes.Repeat([]byte("y"), size)) // one big write: cut into pieces
	}), 1500*time.Millisecond, 0)
	addr := serve(t, h, func(ln net.Listener) net.Listener { return ln })
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReaderSize(c, 256<<10), nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	n := int64(0)
	buf := make([]byte, 256<<10)
	for {
		k, err := io.ReadFull(resp.Body, buf)
		n += int64(k)
		if err != nil {
			break
		}
		time.Sleep(50 * time.Millisecond) // about 5 MB/s
	}
	if n != size {
		t.Fatalf("read %d of %d bytes in %s", n, size, time.Since(start))
	}
	if d := time.Since(start); d < 3*time.Second {
		t.Fatalf("the client was not slow (%s): the test proves nothing", d)
	}
}

func TestStallGuardKeepsTheWriteTimeout(t *testing.T) {
	var w stallWriter
	w.timeout = time.Hour
	w.end = time.Now().Add(time.Second)
	w.rc = http.NewResponseController(&nopWriter{})
	w.arm()
	if w.deadline.After(w.end) {
		t.Fatalf("deadline %s extends the whole-response bound %s", w.deadline, w.end)
	}
	if StallGuard(http.NotFoundHandler(), 0, 0) == nil {
		t.Fatal("nil handler")
	}
}

type nopWriter struct{ http.ResponseWriter }
