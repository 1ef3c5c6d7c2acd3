package relay

import (
	"io"
	"net/http"
	"strconv"
	"time"
)

// Overhead headers: what the gateway added to a call before its answer's
// headers, excluding the time spent waiting on upstreams (until each
// attempt's headers, and for the answering attempt until the last bytes
// read before the client's headers were written: the whole body of a
// non-streaming answer, the first event of a stream).
const (
	HeaderOverhead = "X-Switchboard-Overhead-Ms"
	headerTiming   = "Server-Timing"
)

// upstreamClock tracks a call's time spent waiting on upstreams. It lives
// on the call's goroutine: no locking.
type upstreamClock struct {
	waited   time.Duration // finished attempts
	sent     time.Time     // the current attempt's send; zero between attempts
	lastRead time.Time     // the current attempt's last upstream read
}

func (u *upstreamClock) begin(sent time.Time) { u.sent, u.lastRead = sent, time.Time{} }

// end closes the current attempt at now.
func (u *upstreamClock) end(now time.Time) {
	if u.sent.IsZero() {
		return
	}
	if !u.lastRead.IsZero() {
		now = u.lastRead
	}
	u.waited += now.Sub(u.sent)
	u.sent = time.Time{}
}

// total is the upstream wait so far, counting the current attempt up to
// its last read.
func (u *upstreamClock) total() time.Duration {
	w := u.waited
	if !u.sent.IsZero() && !u.lastRead.IsZero() {
		w += u.lastRead.Sub(u.sent)
	}
	return w
}

// timedBody notes when each read of an upstream body returned.
type timedBody struct {
	io.ReadCloser
	clock *upstreamClock
}

func (b *timedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.clock.lastRead = time.Now()
	return n, err
}

// timedWriter stamps the overhead headers on the client's answer when its
// headers are written.
type timedWriter struct {
	http.ResponseWriter
	cs          *callState
	wroteHeader bool
}

func (w *timedWriter) WriteHeader(status int) {
	if !w.wroteHeader {
		w.wroteHeader = true
		w.cs.stampOverhead(w.ResponseWriter.Header())
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *timedWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Flush keeps streaming working through the wrapper; a flush before any
// header was written sends a 200's headers.
func (w *timedWriter) Flush() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController find the real writer.
func (w *timedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// measureOverhead fixes the call's overhead at the first of: its answer's
// headers, or its end (a non-streaming answer is metered before its
// headers go out).
func (cs *callState) measureOverhead() {
	c := cs.call
	if c.overheadSet {
		return
	}
	c.upstreamWait = cs.clock.total()
	c.overhead = max(time.Since(c.Start)-c.upstreamWait, 0)
	c.overheadSet = true
}

// stampOverhead sets the overhead headers.
func (cs *callState) stampOverhead(h http.Header) {
	cs.measureOverhead()
	setOverhead(h, cs.call.overhead, cs.call.upstreamWait)
}

func setOverhead(h http.Header, d, up time.Duration) {
	ms := strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 3, 64)
	h.Set(HeaderOverhead, ms)
	h.Add(headerTiming, "gateway;desc=\"switchboard overhead\";dur="+ms+", upstream;dur="+
		strconv.FormatFloat(float64(up.Microseconds())/1000, 'f', 3, 64))
}

// Overhead is what the gateway added to c before its answer's headers,
// excluding upstream waits (the X-Switchboard-Overhead-Ms header); false
// until it is known (by the time observers hear Finished).
func (c *Call) Overhead() (time.Duration, bool) { return c.overhead, c.overheadSet }

// stampError sets the overhead headers on an answer the caller will
// render as an error (nothing was written yet).
func (w *timedWriter) stampError() {
	if !w.wroteHeader {
		w.cs.stampOverhead(w.ResponseWriter.Header())
	}
}
