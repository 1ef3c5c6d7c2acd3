// Package relay carries one client call end to end: it reserves budget,
// walks the route plan across channels with failover before the first byte,
// sends the call on the pass-through fast path when the client speaks the
// channel's format (or through the llm hub when it does not), streams the
// answer back flushing per event, meters usage (from the upstream, or with
// the embedded tokenizer when the upstream reports none) and writes the
// ledger record before the client sees the end of its answer.
package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"switchboard/internal/gateway"
	"switchboard/internal/llm"
	"switchboard/internal/pricing"
	"switchboard/internal/route"
	"switchboard/internal/upstream"
)

// Recorder is the durable ledger sink (internal/ledger.Writer).
type Recorder interface {
	Record(rec *gateway.UsageRecord, settle bool) error
}

// Relay is shared by all requests; it is safe for concurrent use.
type Relay struct {
	Router  *route.Router
	Health  gateway.Health
	Limiter gateway.Limiter
	Budget  gateway.Budget
	Prices  *pricing.Table
	Ledger  Recorder
	Client  *http.Client
	// Fetcher inlines media URLs for upstreams that take only inline data;
	// nil refuses such calls with a 400 that says why.
	Fetcher MediaFetcher
	// Keys checks an upstream key with a request of the gateway's own
	// after a client's call got 401/403 (internal/keyprobe); nil leaves
	// it to the distinct-callers rule of Health.
	Keys KeyChecker
	Log  *slog.Logger

	// MaxAttempts bounds channels tried per call (default 3); AttemptBudget
	// bounds the time spent failing over before the first byte (default 60s).
	MaxAttempts   int
	AttemptBudget time.Duration
	// DefaultTimeout is a channel's first-byte and idle timeout when it sets none.
	DefaultTimeout time.Duration
	// MaxResponseBytes bounds a non-streaming upstream answer (default 32 MiB).
	MaxResponseBytes int64
	// DefaultMaxTokens is assumed for budget reservations when the caller
	// sets no output limit.
	DefaultMaxTokens int64
}

// KeyChecker checks key keyIndex of ch in the background.
type KeyChecker interface {
	Suspect(ch *gateway.Channel, keyIndex int)
}

// Call is the client side of one call, filled by httpapi.
type Call struct {
	Format    string // the client's wire format: upstream.FormatOpenAI, ...
	Endpoint  string // ledger label, e.g. "chat.completions"
	Key       *gateway.Key
	RequestID string
	Start     time.Time

	Body   []byte // the client's body, already size-limited and read
	Model  string // client-visible model
	Stream bool
	// MaxTokens is the caller's output limit (0: unset), for reservations.
	MaxTokens int64
	// IncludeUsage: an OpenAI client asked for stream_options.include_usage.
	IncludeUsage bool

	Header http.Header
	Query  url.Values

	// GeminiSSE: a Gemini client streaming with ?alt=sse (else JSON array).
	GeminiSSE bool
}

func (r *Relay) maxAttempts() int {
	if r.MaxAttempts > 0 {
		return r.MaxAttempts
	}
	return 3
}

func (r *Relay) attemptBudget() time.Duration {
	if r.AttemptBudget > 0 {
		return r.AttemptBudget
	}
	return 60 * time.Second
}

func (r *Relay) timeoutFor(ch *gateway.Channel) time.Duration {
	if ch.Timeout > 0 {
		return ch.Timeout
	}
	if r.DefaultTimeout > 0 {
		return r.DefaultTimeout
	}
	return 120 * time.Second
}

// attempt is the state of one call across its tries.
type attempt struct {
	call     *Call
	rec      gateway.UsageRecord
	reserved bool
	cand     route.Candidate
}

// Chat relays a chat-like call (OpenAI chat completions, Anthropic
// messages, Gemini generateContent). Errors are written in the caller's
// format by writeErr.
func (r *Relay) Chat(w http.ResponseWriter, req *http.Request, c *Call, writeErr func(*gateway.Error)) {
	a := &attempt{call: c}
	a.rec = gateway.UsageRecord{
		RequestID: c.RequestID, Time: c.Start.UTC(), KeyID: c.Key.ID, KeyName: c.Key.Name,
		Endpoint: c.Endpoint, Model: c.Model, Stream: c.Stream, UsageSource: gateway.UsageMissing,
	}
	ctx := req.Context()

	if c.Key.BudgetNanoUSD > 0 {
		if err := r.Budget.Reserve(ctx, c.Key.ID, c.RequestID, r.estimate(c)); err != nil {
			if errors.Is(err, gateway.ErrBudgetExceeded) {
				writeErr(&gateway.Error{Kind: gateway.KindInsufficientQuota, Message: "this key's budget is exhausted", Code: "insufficient_quota"})
				return
			}
			r.Log.Error("reserve budget", "request_id", c.RequestID, "err", err)
			writeErr(&gateway.Error{Kind: gateway.KindInternal, Message: "could not check the key's budget", Err: err})
			return
		}
		a.reserved = true
	}

	res, gerr := r.dispatch(ctx, w, a)
	if gerr != nil && !res.started {
		a.rec.Status = gerr.HTTPStatus()
		a.rec.ErrorMessage = gerr.Message
		r.finish(a, res)
		writeErr(gerr)
		return
	}
	// The success paths record the ledger themselves, before the final
	// bytes reach the client.
}

// estimate is the worst-case cost of c, held against the key's budget.
func (r *Relay) estimate(c *Call) int64 {
	p, ok := r.Prices.Lookup(c.Model)
	if !ok {
		return 1 // unknown price: still hold something so an exhausted budget refuses
	}
	maxOut := c.MaxTokens
	if maxOut <= 0 {
		maxOut = r.DefaultMaxTokens
		if maxOut <= 0 {
			maxOut = 4096
		}
	}
	// A text token is at least one byte, so the body's length bounds the
	// prompt's tokens without running a tokenizer on the hot path (images
	// bill far fewer tokens than their base64 bytes). Holds that never
	// undershoot are what keep a budget's overdraw to one call.
	in := int64(len(c.Body))
	return max(pricing.Estimate(p, in, maxOut), 1)
}

// result is what dispatch learned.
type result struct {
	started  bool // bytes reached the client: no more failover
	usage    llm.Usage
	source   gateway.UsageSource
	ttft     time.Duration
	attempts int
}

// dispatch walks the plan. It returns a non-nil error only when it wrote
// nothing to the client; once started, failures end the stream in-band.
func (r *Relay) dispatch(ctx context.Context, w http.ResponseWriter, a *attempt) (result, *gateway.Error) {
	var res result
	c := a.call
	now := time.Now()
	plan := r.Router.Plan(c.Model, now)
	deadline := now.Add(r.attemptBudget())
	var last *gateway.Error
	for res.attempts < r.maxAttempts() {
		cand, ok := plan.Next(time.Now())
		if !ok {
			break
		}
		if res.attempts > 0 && time.Now().After(deadline) {
			break
		}
		res.attempts++
		a.cand = cand
		a.rec.ChannelID = cand.Channel.ID
		a.rec.ChannelName = cand.Channel.Name
		a.rec.UpstreamModel = cand.UpstreamModel

		gerr, retry := r.try(ctx, w, a, &res)
		if gerr == nil || res.started {
			return res, gerr
		}
		last = gerr
		// Retry-After is honoured by health: the channel or key cools down
		// for that long, and the next candidate is another channel.
		if !retry || ctx.Err() != nil {
			break
		}
	}
	if last == nil {
		last = &gateway.Error{Kind: gateway.KindUnavailable, Message: fmt.Sprintf("no healthy channel is available for model %q", c.Model), Code: "no_available_channel"}
	}
	if ctx.Err() != nil {
		last = &gateway.Error{Kind: gateway.KindInvalidRequest, Status: 499, Message: "client closed the request", Err: ctx.Err()}
	}
	return res, last
}

// try sends one attempt. It reports whether a failure may move on to
// another channel.
func (r *Relay) try(ctx context.Context, w http.ResponseWriter, a *attempt, res *result) (*gateway.Error, bool) {
	c := a.call
	ch := a.cand.Channel
	upFormat := upstream.FormatOf(ch.Type)
	var x exchange
	if upFormat == c.Format {
		x = &passThrough{relay: r, a: a}
	} else {
		tx, gerr := newTranslation(r, a, upFormat)
		if gerr != nil {
			return gerr, false
		}
		x = tx
	}
	body, gerr := x.requestBody(ctx)
	if gerr != nil {
		return gerr, false
	}
	if limit := upstream.MaxOutputTokens(ch); limit > 0 {
		// The channel's cap on output, enforced by the provider.
		var err error
		if body, err = upstream.CapOutput(ch, body, limit); err != nil {
			return &gateway.Error{Kind: gateway.KindInvalidRequest, Message: "cannot set the output limit in the request body", Err: err}, false
		}
	}
	upCall := &upstream.Call{
		Channel: ch, APIKey: a.cand.APIKey, Model: a.cand.UpstreamModel,
		Op: upstream.OpChat, Stream: c.Stream, Body: body,
	}
	if x.passThrough() {
		upCall.ClientHeader = c.Header
		upCall.ClientQuery = c.Query
	}
	attemptCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if d := settingDuration(ch, "connect_timeout"); d > 0 {
		attemptCtx = context.WithValue(attemptCtx, connectTimeoutKey{}, d)
	}
	hreq, err := upstream.NewRequest(attemptCtx, upCall)
	if err != nil {
		return &gateway.Error{Kind: gateway.KindInternal, Message: "cannot build the upstream request", Err: err}, true
	}
	timeout := r.timeoutFor(ch)
	firstByte := timeout
	if d := settingDuration(ch, "first_byte_timeout"); d > 0 && d < firstByte {
		firstByte = d
	}
	idleGap := timeout
	if d := settingDuration(ch, "idle_timeout"); d > 0 {
		idleGap = d
	}
	// One timer covers the wait for headers, then either the rest of a
	// non-streaming call or each idle gap of a stream (a stream is alive as
	// long as it makes progress). It cancels only this attempt.
	idle := time.AfterFunc(firstByte, cancel)
	defer idle.Stop()
	sent := time.Now()

	resp, err := r.Client.Do(hreq)
	if err != nil {
		if ctx.Err() != nil {
			return &gateway.Error{Kind: gateway.KindInvalidRequest, Status: 499, Message: "client closed the request", Err: ctx.Err()}, false
		}
		reason := "upstream connection failed"
		kind := gateway.KindUpstream
		if attemptCtx.Err() != nil {
			reason, kind = "upstream timed out before answering", gateway.KindTimeout
		}
		if kind == gateway.KindTimeout {
			r.report(a, gateway.OutcomeFailure, 0, reason)
		} else {
			// A connection no request content can break: the channel's alone.
			r.reportAs(a, 0, gateway.OutcomeFailure, 0, reason)
		}
		r.Log.Warn("upstream attempt failed", "request_id", c.RequestID, "channel", ch.Name, "err", redact(err))
		return &gateway.Error{Kind: kind, Message: reason, Err: err}, true
	}
	defer resp.Body.Close()

	if upstream.IsRedirect(resp.StatusCode) {
		// Never followed (upstream.NewClient) and never relayed: like a
		// 5xx, the channel is broken for this call and another may answer.
		r.report(a, gateway.OutcomeFailure, 0, fmt.Sprintf("upstream answered %d, a redirect", resp.StatusCode))
		return &gateway.Error{Kind: gateway.KindUpstream, Message: "the upstream answered with a redirect, which the gateway does not follow"}, true
	}
	if resp.StatusCode >= 400 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		gerr := upstream.RedactError(ch, x.upstreamError(resp.StatusCode, b))
		gerr.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"))
		switch {
		case resp.StatusCode == http.StatusTooManyRequests:
			r.report(a, gateway.OutcomeRateLimited, gerr.RetryAfter, "rate limited by upstream")
		case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
			// Perhaps provoked by the caller's input: the key is suspect
			// until the gateway checks it with a request of its own.
			r.report(a, gateway.OutcomeAuthFailure, 0, fmt.Sprintf("upstream answered %d for this key", resp.StatusCode))
			if r.Keys != nil {
				r.Keys.Suspect(ch, a.cand.KeyIndex)
			}
			// Another key or channel may work; the caller did nothing wrong.
			gerr = &gateway.Error{Kind: gateway.KindUnavailable, Status: http.StatusBadGateway, Message: "the upstream rejected the gateway's credentials", Err: gerr}
			return gerr, true
		case resp.StatusCode >= 500:
			r.report(a, gateway.OutcomeFailure, 0, fmt.Sprintf("upstream answered %d", resp.StatusCode))
		default:
			// A caller mistake: the channel is healthy.
			r.report(a, gateway.OutcomeSuccess, 0, "")
		}
		return gerr, upstream.Retryable(resp.StatusCode)
	}
	r.report(a, gateway.OutcomeSuccess, 0, "")
	if c.Stream {
		idle.Reset(idleGap)
		if d := upstream.MaxStreamDuration(ch); d > 0 {
			resp.Body = upstream.LimitDuration(resp.Body, d, cancel)
			defer resp.Body.Close()
		}
		gerr = x.stream(ctx, w, resp, res, idle, idleGap)
		return gerr, gerr != nil && !res.started && ctx.Err() == nil
	}
	idle.Reset(max(timeout-time.Since(sent), time.Millisecond))
	gerr = x.complete(ctx, w, resp, res)
	// An answer that could not be read or understood reached no client
	// byte yet: another channel may still answer.
	return gerr, gerr != nil && !res.started && ctx.Err() == nil
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

// report records an attempt's outcome as its caller's: what a request can
// provoke counts once per client key (gateway.HealthReport.Caller).
func (r *Relay) report(a *attempt, o gateway.Outcome, retryAfter time.Duration, reason string) {
	r.reportAs(a, a.call.Key.ID, o, retryAfter, reason)
}

func (r *Relay) reportAs(a *attempt, caller int64, o gateway.Outcome, retryAfter time.Duration, reason string) {
	if r.Health == nil {
		return
	}
	r.Health.Report(gateway.HealthReport{ChannelID: a.cand.Channel.ID, KeyIndex: a.cand.KeyIndex, Outcome: o, RetryAfter: retryAfter, Reason: reason, Caller: caller})
}

// exchange is one attempt's format handling: pass-through or translation.
type exchange interface {
	passThrough() bool
	requestBody(ctx context.Context) ([]byte, *gateway.Error)
	upstreamError(status int, body []byte) *gateway.Error
	// complete relays a non-streaming answer; stream relays a stream. Both
	// record the ledger before the client sees the end of the answer.
	complete(ctx context.Context, w http.ResponseWriter, resp *http.Response, res *result) *gateway.Error
	stream(ctx context.Context, w http.ResponseWriter, resp *http.Response, res *result, idle *time.Timer, timeout time.Duration) *gateway.Error
}

// finish computes cost and writes the ledger record; it must run before
// the last byte of a successful answer is written.
func (r *Relay) finish(a *attempt, res result) {
	rec := &a.rec
	rec.Latency = time.Since(a.call.Start)
	rec.TTFT = res.ttft
	rec.Attempts = res.attempts
	rec.Usage = res.usage
	if res.source != "" {
		rec.UsageSource = res.source
	}
	if rec.Status == 0 {
		rec.Status = http.StatusOK
	}
	if !res.usage.IsZero() {
		p, ok := r.Prices.Lookup(rec.UpstreamModel)
		if !ok {
			p, ok = r.Prices.Lookup(rec.Model)
		}
		if ok {
			rec.CostNanoUSD = pricing.Cost(p, res.usage)
		} else {
			// Never price an unknown model at $0 silently: say so.
			rec.ErrorMessage = appendNote(rec.ErrorMessage, "no price known for model")
			if unpricedCount.Load() < 1000 {
				if _, seen := unpricedWarned.LoadOrStore(rec.UpstreamModel, true); !seen {
					unpricedCount.Add(1)
					r.Log.Warn("no price for model; cost recorded as 0 and noted in the ledger (add it under prices:)", "model", rec.Model, "upstream_model", rec.UpstreamModel)
				}
			}
		}
	}
	if r.Limiter != nil && res.usage.Total() > 0 {
		r.Limiter.AddTokens(context.Background(), *a.call.Key, res.usage.Total())
	}
	if err := r.Ledger.Record(rec, a.reserved); err != nil {
		r.Log.Error("ledger record failed", "request_id", rec.RequestID, "err", err)
		if a.reserved {
			_ = r.Budget.Release(context.Background(), rec.KeyID, rec.RequestID)
		}
	}
}

// unpricedWarned remembers models already warned about, so an unpriced
// model logs once rather than on every call; unpricedCount bounds it,
// since glob channels let clients choose upstream model names.
var (
	unpricedWarned sync.Map
	unpricedCount  atomic.Int64
)

func appendNote(s, note string) string {
	if s == "" {
		return note
	}
	return s + "; " + note
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

// redact drops URLs from transport errors before they are logged, since
// some providers put keys in query strings.
func redact(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + " upstream: " + ue.Err.Error()
	}
	return err.Error()
}
