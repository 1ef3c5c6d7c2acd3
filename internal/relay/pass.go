package relay

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"switchboard/internal/endpoint"
	"switchboard/internal/gateway"
	"switchboard/internal/jsonguard"
	"switchboard/internal/llm"
	"switchboard/internal/sse"
	"switchboard/internal/tokencount"
	"switchboard/internal/upstream"
)

// passThrough relays bytes in the client's own format: the body is not
// decoded, the spec splices in a mapped model name and whatever metering
// needs, and the answer is copied event by event while usage is sniffed
// from it.
type passThrough struct {
	engine *Engine
	cs     *callState
	spec   endpoint.Spec
	pass   endpoint.Passer
}

func (p *passThrough) upstreamSpec() endpoint.Spec { return p.spec }
func (p *passThrough) passThrough() bool           { return true }

func (p *passThrough) requestBody(context.Context) (upstream.Body, *gateway.Error) {
	c := p.cs.call
	body := c.Body
	if fs, ok := p.spec.(endpoint.FailoverStripper); ok && p.cs.attemptNo > 1 && body.JSON != nil {
		stripped, err := fs.StripForFailover(body.JSON)
		if err != nil {
			return upstream.Body{}, gateway.AsError(err)
		}
		body.JSON = stripped
	}
	b, err := p.pass.PassRequest(c.Peek, body, p.cs.cand.UpstreamModel)
	if err != nil {
		return upstream.Body{}, gateway.AsError(err)
	}
	return b, nil
}

// contentType is the upstream's Content-Type, or def when it sent none.
// Other upstream headers describe the gateway's account (rate limits,
// organisation ids), not the caller's key, and are not forwarded.
func contentType(resp *http.Response, def string) string {
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		return ct
	}
	return def
}

func (p *passThrough) complete(ctx context.Context, w http.ResponseWriter, resp *http.Response, res *result) *gateway.Error {
	e := p.engine
	ct := contentType(resp, "application/json")
	if ra, ok := p.spec.(endpoint.RawAnswerer); ok && ra.RawAnswer(ct) {
		return p.raw(ctx, w, resp, res, ct)
	}
	body, err := readLimited(resp, e.maxResponseBytes())
	if err != nil {
		return e.readFailure(p.cs, err)
	}
	if upstreamJSON.Check(body) != nil {
		// A 200 that is not JSON is a broken upstream, not an answer (and
		// one nested deep enough to overflow a recursive parser is hostile).
		e.report(p.cs, gateway.OutcomeFailure, 0, "upstream answer is not JSON")
		return &gateway.Error{Kind: gateway.KindUpstream, Message: "the upstream answer could not be understood"}
	}
	e.accepted(p.cs)
	c := p.cs.call
	res.ttft = time.Since(c.Start)
	if u, ok := p.pass.ParseUsage(body); ok && !u.IsZero() {
		res.usage, res.source = u, gateway.UsageFromUpstream
	} else {
		var out tokencount.Stream
		p.pass.CountAnswer(body, &out)
		res.usage, res.source = estimateUsage(c, out.Total()), gateway.UsageEstimated
	}
	if m, ok := p.spec.(endpoint.Meter); ok {
		res.units = m.Units(c.Peek, c.Body, body)
	}
	if ml, ok := p.spec.(endpoint.MediaLinker); ok && e.ProxyMedia && e.Media != nil && e.Fetcher != nil {
		body = ml.Relink(body, func(u string) (string, bool) { return e.relink(ctx, p.cs, u) })
	}
	e.describeBody(c, p.spec, p.pass, body)
	res.started = true
	e.finish(ctx, p.cs, *res)
	relayHeaders(w, resp, p.spec)
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
	return nil
}

// rawTail is how much of a raw answer's end its meter sees.
const rawTail = 1 << 10

// raw copies a non-JSON answer (audio, a plain-text transcript) to the
// client as it arrives. The first chunk is read before anything is sent,
// so an upstream that fails at once can still fail over; the last chunk
// is held back until the ledger has the call.
func (p *passThrough) raw(ctx context.Context, w http.ResponseWriter, resp *http.Response, res *result, ct string) *gateway.Error {
	e := p.engine
	c := p.cs.call
	buf := make([]byte, 32<<10)
	n, err := io.ReadAtLeast(resp.Body, buf, 1)
	if err != nil && !(errors.Is(err, io.EOF) && resp.ContentLength == 0) {
		return e.readFailure(p.cs, err)
	}
	e.accepted(p.cs)
	res.ttft = time.Since(c.Start)
	h := w.Header()
	h.Set("Content-Type", ct)
	if resp.ContentLength >= 0 {
		h.Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	}
	w.WriteHeader(resp.StatusCode)
	res.started = true
	rc := http.NewResponseController(w)
	// The client learns at once that its answer started, though the
	// first chunk waits for the second.
	_ = rc.Flush()
	held := buf[:n]
	next := make([]byte, len(buf))
	// The answer's last bytes, for the meter (a subtitle's last cue).
	tail := make([]byte, 0, 2*rawTail)
	var readErr error
	for {
		m, err := resp.Body.Read(next)
		if m > 0 {
			tail = append(tail[:0], held[max(0, len(held)-rawTail):]...)
			if _, werr := w.Write(held); werr != nil {
				p.cs.rec.Status, p.cs.rec.ErrorMessage = 499, "client disconnected mid-answer"
				e.finish(ctx, p.cs, *res)
				return nil
			}
			_ = rc.Flush()
			held, next = next[:m], held[:cap(held)]
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
	}
	if m, ok := p.spec.(endpoint.Meter); ok {
		tail = append(tail, held[max(0, len(held)-rawTail):]...)
		res.units = m.Units(c.Peek, c.Body, tail)
	}
	if len(res.units) == 0 && c.Body.JSON != nil {
		// Bytes report no usage and no unit metered them (speech from a
		// token-priced model): bill the prompt as counted, and say so.
		res.usage, res.source = estimateUsage(c, 0), gateway.UsageEstimated
	}
	if readErr != nil {
		p.cs.rec.Status, p.cs.rec.ErrorMessage = http.StatusBadGateway, "upstream answer ended abnormally"
		e.report(p.cs, gateway.OutcomeFailure, 0, "answer cut")
	}
	e.finish(ctx, p.cs, *res)
	if readErr == nil {
		_, _ = w.Write(held)
		_ = rc.Flush()
	}
	return nil
}

func (e *Engine) maxResponseBytes() int64 {
	if e.MaxResponseBytes > 0 {
		return e.MaxResponseBytes
	}
	return 32 << 20
}

// readFailure turns a read failure of a not-yet-started answer into an
// error another channel may still recover from.
func (e *Engine) readFailure(cs *callState, err error) *gateway.Error {
	e.report(cs, gateway.OutcomeFailure, 0, "upstream answer could not be read")
	if err == errTooLarge {
		return &gateway.Error{Kind: gateway.KindUpstream, Message: "the upstream answer exceeds the gateway's size limit", Err: err}
	}
	return &gateway.Error{Kind: gateway.KindUpstream, Message: "the upstream connection failed while reading the answer", Err: err}
}

// firstEvent reads a stream's first data event before anything is sent to
// the client, so an upstream that answers 200 and then fails at once (an
// empty or garbage body, or an error event first) can still fail over.
// Comment-only events before it (keep-alives) are dropped.
func firstEvent(rd *sse.Reader, isError func(sse.Event) *gateway.Error) (sse.Event, *gateway.Error) {
	for {
		ev, err := rd.Next()
		if err != nil {
			return sse.Event{}, &gateway.Error{Kind: gateway.KindUpstream, Message: "the upstream stream ended before its first event", Err: err}
		}
		if ev.Data == nil {
			continue
		}
		if e := isError(ev); e != nil {
			return sse.Event{}, e
		}
		return ev, nil
	}
}

// relayHeaders copies the upstream response headers a spec's clients
// need (endpoint.HeaderRelayer) to the client's answer.
func relayHeaders(w http.ResponseWriter, resp *http.Response, spec endpoint.Spec) {
	hr, ok := spec.(endpoint.HeaderRelayer)
	if !ok {
		return
	}
	for _, name := range hr.RelayHeaders() {
		if v := resp.Header.Values(name); len(v) > 0 {
			w.Header()[http.CanonicalHeaderKey(name)] = v
		}
	}
}

// startStream sends a stream's headers.
func startStream(w http.ResponseWriter, contentType string) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
}

func (p *passThrough) stream(ctx context.Context, w http.ResponseWriter, resp *http.Response, res *result, idle *idleTimer) *gateway.Error {
	e := p.engine
	c := p.cs.call
	st, ok := p.spec.(endpoint.Streamer)
	if !ok {
		return gateway.Errorf(gateway.KindInvalidRequest, "%s does not stream", p.spec.Endpoint())
	}
	rd := sse.NewReader(resp.Body, 0)
	defer rd.Release()
	pending, gerr := firstEvent(rd, st.EventError)
	if gerr != nil {
		e.report(p.cs, gateway.OutcomeFailure, 0, "upstream stream failed before its first event")
		return upstream.RedactError(p.cs.cand.Channel, gerr)
	}
	e.accepted(p.cs)
	sw := st.NewStreamWriter(w, c.Peek)
	relayHeaders(w, resp, p.spec)
	startStream(w, sw.ContentType())
	res.started = true

	var (
		counter     tokencount.Stream
		m           streamMeter
		terminal    *sse.Event
		streamErr   error
		upstreamErr *gateway.Error
		clientGone  bool
		cp          = e.newStreamCheckpoint(p.cs)
	)
	havePending, first := true, true
	// A trace records the answer's id and finish reasons, and its text
	// when the operator opted in.
	var desc endpoint.Describer
	var text endpoint.TextCounter = &counter
	if facts, content := e.traced(); facts {
		desc, _ = p.spec.(endpoint.Describer)
		if content {
			text = teeText{count: &counter, keep: &c.answer}
		}
	}
	for {
		var ev sse.Event
		if havePending {
			ev, havePending = pending, false
		} else {
			var err error
			if ev, err = rd.Next(); err != nil {
				if err != io.EOF {
					streamErr = err
				}
				break
			}
		}
		idle.Touch()
		if ev.Data != nil {
			if u, final, ok := st.EventUsage(ev); ok {
				m.add(u, final)
			}
			if desc != nil {
				id, reason := desc.DescribeEvent(ev)
				if c.answer.ID == "" {
					c.answer.ID = id
				}
				c.answer.finish(reason)
			}
			if st.Terminal(ev) {
				// A copy, so that only this event escapes to the heap.
				term := ev
				terminal = &term
				break
			}
			if st.EventText(ev, text) && res.ttft == 0 {
				res.ttft = time.Since(c.Start)
				e.observer().FirstToken(c, res.ttft)
			}
			if ge := st.EventError(ev); ge != nil {
				// Relayed verbatim otherwise: an upstream's error text must
				// not carry the channel's key or URL to the client.
				ch := p.cs.cand.Channel
				ev.Raw = []byte(upstream.Redact(ch, string(ev.Raw)))
				ev.Data = []byte(upstream.Redact(ch, string(ev.Data)))
				if upstreamErr == nil {
					upstreamErr = upstream.RedactError(ch, ge)
				}
			}
		}
		// Events that arrived together leave in one flush, but never the
		// first: the caller's time to first token should not wait on the
		// processing of everything behind it.
		if err := sw.Event(ev, first || !rd.EventBuffered()); err != nil {
			clientGone = true
			break
		}
		if ev.Data != nil {
			first = false
			cp.observe(&m, &counter)
		}
	}
	if ctx.Err() != nil {
		clientGone = true
	}
	res.usage, res.source = m.bill(c, &counter)
	if sm, ok := p.spec.(endpoint.StreamMeter); ok {
		res.units = sm.StreamUnits(c.Peek, c.Body, m.got)
	}
	switch {
	case clientGone:
		p.cs.rec.Status, p.cs.rec.ErrorMessage = 499, "client disconnected mid-stream"
	case upstreamErr != nil:
		p.cs.rec.Status, p.cs.rec.ErrorMessage = upstreamErr.HTTPStatus(), upstreamErr.Message
	case errors.Is(streamErr, upstream.ErrMaxStreamDuration):
		// The operator's limit, not a broken channel.
		p.cs.rec.Status, p.cs.rec.ErrorMessage = http.StatusGatewayTimeout, streamErr.Error()
	case streamErr != nil || (terminal == nil && st.NeedsTerminal()):
		p.cs.rec.Status, p.cs.rec.ErrorMessage = http.StatusBadGateway, "upstream stream ended abnormally"
		e.report(p.cs, gateway.OutcomeFailure, 0, "stream cut")
	}
	e.finish(ctx, p.cs, *res)
	if clientGone {
		return nil
	}
	if p.cs.rec.Status == http.StatusGatewayTimeout && upstreamErr == nil {
		_ = sw.Error(errMaxDuration(), c.RequestID)
		return nil
	}
	if p.cs.rec.Status == http.StatusBadGateway && upstreamErr == nil {
		_ = sw.Error(&gateway.Error{Kind: gateway.KindUpstream, Message: "the upstream stream ended before the answer was complete"}, c.RequestID)
		return nil
	}
	_ = sw.End(terminal)
	return nil
}

// errMaxDuration is how a stream cut at its channel's max_stream_duration
// ends for the client.
func errMaxDuration() *gateway.Error {
	return &gateway.Error{Kind: gateway.KindTimeout, Message: "the stream reached the maximum duration the gateway allows for this channel"}
}

// upstreamJSON vets upstream answers before gjson.ValidBytes or a format
// decoder (both recursive) sees them: a hostile upstream's nesting must
// not overflow the stack. Deeper than any real answer, shallow enough for
// recursion.
var upstreamJSON = jsonguard.New(jsonguard.Options{MaxDepth: jsonguard.MaxDepthLimit})

// streamMeter collects the usage a stream reports as it goes.
type streamMeter struct {
	usage llm.Usage
	got   bool // some usage was reported
	final bool // the usage that ends the answer was reported
}

func (m *streamMeter) add(u llm.Usage, final bool) {
	m.usage = m.usage.Merge(u)
	m.got = true
	m.final = m.final || final
}

// bill is what a stream is billed: the upstream's usage when it reported
// its final count; otherwise (it reported none, or the client left before
// it did) what was produced, counted with the tokenizer, and never less
// than a placeholder count the upstream sent early.
//
// The counter is only read when the upstream's count is not enough:
// tokenizing is the expensive part, and most streams end with usage.
func (m *streamMeter) bill(c *Call, counter *tokencount.Stream) (llm.Usage, gateway.UsageSource) {
	if m.got && m.final && (m.usage.OutputTokens > 0 || counter.Total() == 0) {
		return m.usage, gateway.UsageFromUpstream
	}
	est := estimateUsage(c, max(counter.Total(), m.usage.OutputTokens))
	if m.usage.InputTokens > 0 {
		est.InputTokens = m.usage.InputTokens
		est.CachedInputTokens = m.usage.CachedInputTokens
		est.CacheWriteTokens = m.usage.CacheWriteTokens
	}
	return est, gateway.UsageEstimated
}
