package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"time"

	"switchboard/internal/endpoint"
	"switchboard/internal/gateway"
	"switchboard/internal/upstream"
)

// exchange is how one attempt is carried: pass-through or translation.
type exchange interface {
	// upstreamSpec is the spec the channel is addressed with.
	upstreamSpec() endpoint.Spec
	passThrough() bool
	requestBody(ctx context.Context) (upstream.Body, *gateway.Error)
	// complete relays a non-streaming answer; stream relays a stream. Both
	// record the ledger before the client sees the end of the answer.
	complete(ctx context.Context, w http.ResponseWriter, resp *http.Response, res *result) *gateway.Error
	stream(ctx context.Context, w http.ResponseWriter, resp *http.Response, res *result, idle *idleTimer) *gateway.Error
}

// oneShot is an exchange that asks the upstream for a whole answer even
// when its client streams (and writes the client's stream itself).
type oneShot interface{ oneShot() bool }

// idleTimer cancels an attempt that makes no progress: first while it
// waits for headers, then over each gap between stream events (a stream
// is alive as long as it moves), or over the rest of a non-streaming call.
type idleTimer struct {
	t   *time.Timer
	gap time.Duration
}

// Touch restarts the gap: the stream made progress.
func (i *idleTimer) Touch() { i.t.Reset(i.gap) }

func (e *Engine) timeoutFor(ch *gateway.Channel) time.Duration {
	if ch.Timeout > 0 {
		return ch.Timeout
	}
	if e.DefaultTimeout > 0 {
		return e.DefaultTimeout
	}
	return 120 * time.Second
}

// try sends one attempt. A failure it returns says by its kind whether
// another channel may be tried (gateway.Error.Failover).
func (e *Engine) try(ctx context.Context, w http.ResponseWriter, cs *callState, x exchange, res *result) *gateway.Error {
	c := cs.call
	ch := cs.cand.Channel
	body, gerr := x.requestBody(ctx)
	if gerr != nil {
		return gerr
	}
	op := x.upstreamSpec().Op()
	limit := upstream.MaxOutputTokens(ch)
	if cs.outLimit > 0 && (limit == 0 || cs.outLimit < limit) {
		limit = cs.outLimit // what the budget hold affords
	}
	if limit > 0 && op == upstream.OpChat && body.Open == nil {
		// The channel's (or the budget's) cap on output, enforced by the
		// provider.
		b, err := upstream.CapOutput(ch, body.Bytes, limit)
		if err != nil {
			return &gateway.Error{Kind: gateway.KindInvalidRequest, Message: "cannot set the output limit in the request body", Err: err}
		}
		body.Bytes = b
	}
	stream := c.Peek.Stream
	if o, ok := x.(oneShot); ok && o.oneShot() {
		stream = false
	}
	upCall := &upstream.Call{
		Channel: ch, APIKey: cs.cand.APIKey, Model: cs.cand.UpstreamModel,
		Op: op, Stream: stream, Body: body,
	}
	// The client's own headers and query go to a channel of its format,
	// whether the body passes through or was translated.
	if x.passThrough() || x.upstreamSpec().Family() == c.Spec.Family() {
		upCall.ClientHeader = c.Header
		upCall.ClientQuery = c.Query
	}
	attemptCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if d := settingDuration(ch, "connect_timeout"); d > 0 {
		attemptCtx = context.WithValue(attemptCtx, connectTimeoutKey{}, d)
	}
	// Whether the upstream has the whole request: from then on it works
	// (and bills) even if the client leaves.
	cs.sent.Store(false)
	attemptCtx = httptrace.WithClientTrace(attemptCtx, &httptrace.ClientTrace{WroteRequest: func(i httptrace.WroteRequestInfo) {
		if i.Err == nil {
			cs.sent.Store(true)
		}
	}})
	hreq, err := upstream.NewRequest(attemptCtx, upCall)
	if err != nil {
		return &gateway.Error{Kind: gateway.KindUpstream, Message: "cannot build the upstream request", Err: err}
	}
	if e.Tracer != nil {
		var end func(Attempt)
		cs.attempt = Attempt{Channel: ch, KeyIndex: cs.cand.KeyIndex, UpstreamModel: cs.cand.UpstreamModel, PassThrough: x.passThrough()}
		hreq, end = e.Tracer.TraceAttempt(hreq, c, cs.attempt)
		defer func() { end(cs.attempt) }()
	}
	timeout := e.timeoutFor(ch)
	firstByte := timeout
	if d := settingDuration(ch, "first_byte_timeout"); d > 0 && d < firstByte {
		firstByte = d
	}
	idleGap := timeout
	if d := settingDuration(ch, "idle_timeout"); d > 0 {
		idleGap = d
	}
	idle := &idleTimer{t: time.AfterFunc(firstByte, cancel), gap: idleGap}
	defer idle.t.Stop()
	sent := time.Now()
	cs.clock.begin(sent)
	defer func() { cs.clock.end(time.Now()) }()

	var resp *http.Response
	carried := false
	if c.Carrier != nil && x.passThrough() && stream {
		resp, carried, err = c.Carrier.Carry(e.Client, hreq, ch, cs.cand.KeyIndex)
	}
	if !carried {
		resp, err = e.Client.Do(hreq)
	}
	if err != nil {
		if ctx.Err() != nil {
			return errClientGone(ctx.Err())
		}
		reason := "upstream connection failed"
		kind := gateway.KindUpstream
		if attemptCtx.Err() != nil {
			reason, kind = "upstream timed out before answering", gateway.KindTimeout
		}
		gerr := &gateway.Error{Kind: kind, Message: reason, Err: err}
		if kind == gateway.KindTimeout {
			e.report(cs, gateway.OutcomeFailure, 0, reason)
		} else {
			// A connection no request content can break: the channel's alone.
			e.reportAs(cs, 0, gateway.OutcomeFailure, 0, reason)
		}
		e.attempted(cs, x, 0, gerr, sent)
		e.Log.Warn("upstream attempt failed", "request_id", c.RequestID, "channel", ch.Name, "err", redactURL(err))
		return gerr
	}
	defer resp.Body.Close()
	cs.clock.lastRead = time.Now()
	resp.Body = &timedBody{ReadCloser: resp.Body, clock: &cs.clock}

	if upstream.IsRedirect(resp.StatusCode) {
		// Never followed (upstream.NewClient) and never relayed: like a
		// 5xx, the channel is broken for this call and another may answer.
		e.report(cs, gateway.OutcomeFailure, 0, fmt.Sprintf("upstream answered %d, a redirect", resp.StatusCode))
		gerr := &gateway.Error{Kind: gateway.KindUpstream, Status: resp.StatusCode, Message: "the upstream answered with a redirect, which the gateway does not follow"}
		e.attempted(cs, x, resp.StatusCode, gerr, sent)
		return gerr
	}
	if resp.StatusCode >= 400 {
		gerr := e.upstreamFailure(cs, x, resp)
		e.attempted(cs, x, resp.StatusCode, gerr, sent)
		return gerr
	}
	// Health hears of success once the answer proves usable (its first
	// event, or a body that parses), not at a 2xx that may carry garbage.
	e.attempted(cs, x, resp.StatusCode, nil, sent)
	if stream {
		idle.Touch()
		if d := upstream.MaxStreamDuration(ch); d > 0 {
			resp.Body = upstream.LimitDuration(resp.Body, d, cancel)
			defer resp.Body.Close()
		}
		return x.stream(ctx, w, resp, res, idle)
	}
	idle.t.Reset(max(timeout-time.Since(sent), time.Millisecond))
	return x.complete(ctx, w, resp, res)
}

// upstreamFailure reads an upstream's error answer, reports what it says
// of the channel's health and returns it as the attempt's error.
func (e *Engine) upstreamFailure(cs *callState, x exchange, resp *http.Response) *gateway.Error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	gerr := upstream.RedactError(cs.cand.Channel, x.upstreamSpec().UpstreamError(resp.StatusCode, b))
	gerr.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"))
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		e.report(cs, gateway.OutcomeRateLimited, gerr.RetryAfter, "rate limited by upstream")
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		// Perhaps provoked by the caller's input: the key is suspect until
		// the gateway checks it with a request of its own.
		e.report(cs, gateway.OutcomeAuthFailure, 0, fmt.Sprintf("upstream answered %d for this key", resp.StatusCode))
		if e.Keys != nil {
			e.Keys.Suspect(cs.cand.Channel, cs.cand.KeyIndex)
		}
		// Another key or channel may work; the caller did nothing wrong.
		return &gateway.Error{Kind: gateway.KindUnavailable, Status: http.StatusBadGateway, Message: "the upstream rejected the gateway's credentials", Err: gerr}
	case resp.StatusCode >= 500:
		e.report(cs, gateway.OutcomeFailure, 0, fmt.Sprintf("upstream answered %d", resp.StatusCode))
	default:
		// A caller mistake: the channel is healthy.
		e.report(cs, gateway.OutcomeSuccess, 0, "")
	}
	return gerr
}

type connectTimeoutKey struct{}

// ConnectTimeout is a channel's connect_timeout for the attempt whose
// context is ctx (0: none); the transport's dialer applies it.
func ConnectTimeout(ctx context.Context) time.Duration {
	d, _ := ctx.Value(connectTimeoutKey{}).(time.Duration)
	return d
}

// settingDuration reads a duration from a channel's settings (the config
// extensions first_byte_timeout and idle_timeout travel there).
func settingDuration(ch *gateway.Channel, name string) time.Duration {
	v, ok := ch.Settings[name]
	if !ok || v == "" {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0
	}
	return d
}

// accepted reports that an attempt's answer is usable.
func (e *Engine) accepted(cs *callState) { e.report(cs, gateway.OutcomeSuccess, 0, "") }

// report records an attempt's outcome as its caller's: what a request can
// provoke counts once per client key (gateway.HealthReport.Caller).
func (e *Engine) report(cs *callState, o gateway.Outcome, retryAfter time.Duration, reason string) {
	e.reportAs(cs, cs.call.Key.ID, o, retryAfter, reason)
}

func (e *Engine) reportAs(cs *callState, caller int64, o gateway.Outcome, retryAfter time.Duration, reason string) {
	if e.Health == nil {
		return
	}
	e.Health.Report(gateway.HealthReport{ChannelID: cs.cand.Channel.ID, KeyIndex: cs.cand.KeyIndex, Outcome: o, RetryAfter: retryAfter, Reason: reason, Caller: caller})
}

func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	var secs int
	if _, err := fmt.Sscanf(v, "%d", &secs); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

// redactURL drops URLs from transport errors before they are logged,
// since some providers put keys in query strings.
func redactURL(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + " upstream: " + ue.Err.Error()
	}
	return err.Error()
}
