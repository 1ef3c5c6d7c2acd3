// Package relay is the engine that carries one client call end to end, for
// any endpoint: it admits the call (allow-list, limits), holds budget, walks
// the route plan across channels with failover decided by the error's kind,
// sends each attempt on the pass-through path when the channel speaks the
// client's spec natively (or through the spec's hub codec when it does not),
// streams the answer back flushing per event, meters it (upstream usage,
// the embedded tokenizer when there is none, and units) and writes the
// ledger record before the client sees the end of its answer.
//
// The engine knows no wire format by name: everything format-specific comes
// from the specs of internal/endpoint. It has two entry points: Serve, for
// an HTTP call, and Generate, for Go callers (tasks, tools, the console's
// playground), which yields hub events.
package relay

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"switchboard/internal/endpoint"
	"switchboard/internal/gateway"
	"switchboard/internal/llm"
	"switchboard/internal/payload"
	"switchboard/internal/pricing"
	"switchboard/internal/route"
	"switchboard/internal/upstream"
)

// Recorder is the durable ledger sink (internal/ledger.Writer).
type Recorder interface {
	Record(rec *gateway.UsageRecord, settle bool) error
}

// MediaFetcher downloads a client-supplied media URL (internal/safefetch).
type MediaFetcher interface {
	Fetch(ctx context.Context, rawURL string) (mediaType string, b64 string, err error)
}

// Engine is shared by all calls; it is safe for concurrent use.
type Engine struct {
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
	// Observer hears about every call's start, attempts, first token and
	// end; nil observes nothing.
	Observer Observer
	// Tracer puts each call and attempt in a span and propagates the trace
	// upstream; nil traces nothing.
	Tracer Tracer
	// Media stores images an upstream returned as bytes to a client that
	// asked for URLs, and returns the signed path it serves them at; nil
	// answers with data: URLs.
	Media MediaStore
	// ProxyMedia: media links in answers (MediaLinker) are fetched through
	// Fetcher, stored in Media and replaced by the gateway's own, so that
	// clients never see upstream hosts.
	ProxyMedia bool

	// Specs are the upstream sides the engine may translate to, in order
	// of preference: for a channel that does not serve the client's spec
	// natively, the first spec of the channel's family that shares the
	// client spec's hub is used.
	Specs []endpoint.Spec

	// MaxAttempts bounds channels tried per call (default 3); AttemptBudget
	// bounds the time spent failing over before the first byte (default 60s).
	MaxAttempts   int
	AttemptBudget time.Duration
	// DefaultTimeout is a channel's first-byte and idle timeout when it sets none.
	DefaultTimeout time.Duration
	// MaxResponseBytes bounds a non-streaming upstream answer (default 32 MiB).
	MaxResponseBytes int64
	// Unpriced decides calls whose price is unknown (config
	// pricing.unpriced; "" is refuse for keys with a budget).
	Unpriced pricing.UnpricedPolicy
	// MinOutputTokens is the smallest output limit a budget may lower a
	// call to (config pricing.min_output_tokens; 0: the package default).
	MinOutputTokens int64
	// SettleTimeout bounds the ledger and budget work done after a call
	// ended, which must outlive the client's request (default 10s).
	SettleTimeout time.Duration
}

// MediaStore keeps media the gateway serves (internal/mediastore).
type MediaStore interface {
	Put(keyID int64, contentType string, data []byte) (path string, err error)
}

// KeyChecker checks key keyIndex of ch in the background.
type KeyChecker interface {
	Suspect(ch *gateway.Channel, keyIndex int)
}

// Call is one client call.
type Call struct {
	Spec      endpoint.Spec
	Key       *gateway.Key
	RequestID string
	Start     time.Time
	Peek      endpoint.Peek
	Body      payload.Body
	// Header and Query are the client's, forwarded on pass-through (minus
	// credentials and hop-by-hop headers).
	Header http.Header
	Query  url.Values
	// BaseURL is the gateway's own scheme and host as the client reached
	// it ("https://gw.example"), for URLs of media it serves.
	BaseURL string

	// hub is set for Go callers: the request is already in hub form and
	// its answer goes to hubSink as events.
	hub     *llm.Request
	hubSink *hubEncoder

	// overhead is what the gateway added before the answer's headers
	// (timing.go), set when they are written.
	overhead     time.Duration
	upstreamWait time.Duration
	overheadSet  bool
	// answer is what a trace records of the answer (trace.go).
	answer Answer
	// pin restricts routing to one channel (HubCall.ChannelID).
	pin int64

	// Carrier, if set, may carry a streamed pass-through attempt another
	// way than the engine's HTTP client (the Responses WebSocket mode).
	Carrier Carrier
}

// Carrier sends one attempt's upstream request by other means and answers
// as the HTTP client would (an SSE stream for a stream). ok false leaves
// the request, its body unread, to the engine's client.
type Carrier interface {
	Carry(client *http.Client, req *http.Request, ch *gateway.Channel, keyIndex int) (resp *http.Response, ok bool, err error)
}

// Serve runs c and writes its answer to w. It returns an error (a
// *gateway.Error) only when nothing was written, for the caller to render
// in the client's shape; once an answer started, failures end it in-band.
func (e *Engine) Serve(ctx context.Context, w http.ResponseWriter, c *Call) error {
	cs := newCallState(e, c)
	if e.Tracer != nil {
		var end func(*gateway.UsageRecord)
		ctx, end = e.Tracer.TraceCall(ctx, c)
		defer func() { end(&cs.rec) }()
	}
	release, gerr := e.admit(ctx, c)
	if gerr != nil {
		setOverhead(w.Header(), time.Since(c.Start), 0)
		cs.rec.Status, cs.rec.ErrorMessage = gerr.HTTPStatus(), gerr.Message
		return gerr
	}
	defer release()
	tw := &timedWriter{ResponseWriter: w, cs: cs}
	w = tw
	e.observer().Started(c)
	if gerr := cs.hold(ctx, w); gerr != nil {
		tw.stampError()
		cs.rec.Status = gerr.HTTPStatus()
		cs.rec.ErrorMessage = gerr.Message
		e.observer().Finished(c, &cs.rec)
		return gerr
	}
	res, gerr := e.dispatch(ctx, w, cs)
	if gerr != nil && !res.started {
		tw.stampError()
		cs.rec.Status = gerr.HTTPStatus()
		cs.rec.ErrorMessage = gerr.Message
		if ctx.Err() != nil && cs.sent.Load() && res.usage.IsZero() {
			// The client left after the upstream had the request: the
			// provider bills its input, and so does the gateway.
			res.usage, res.source = estimateUsage(c, 0), gateway.UsageEstimated
			cs.rec.ErrorMessage = appendNote(cs.rec.ErrorMessage, abandonedNote)
		}
		e.finish(ctx, cs, res)
		return gerr
	}
	// The success paths recorded the ledger themselves, before the final
	// bytes reached the client.
	return nil
}

// admit runs the checks every model call passes before any upstream work:
// the key's allow-list, a route for the model, and the key's limits. It
// returns the release func of the key's concurrency slot.
func (e *Engine) admit(ctx context.Context, c *Call) (func(), *gateway.Error) {
	model := c.Peek.Model
	if !c.Key.Allows(model) {
		return nil, gateway.Errorf(gateway.KindPermission, "this key may not use model %q", model).WithCode("model_not_allowed")
	}
	if !e.Router.HasModel(model) {
		return nil, gateway.Errorf(gateway.KindNotFound, "the model %q does not exist or no channel serves it", model).WithCode("model_not_found").WithParam("model")
	}
	if e.Limiter == nil {
		return func() {}, nil
	}
	release, err := e.Limiter.Acquire(ctx, *c.Key)
	if err != nil {
		return nil, gateway.AsError(err)
	}
	return release, nil
}

// callState is one call across its attempts.
type callState struct {
	e        *Engine
	call     *Call
	rec      gateway.UsageRecord
	free     bool
	reserved bool
	// sent: the current attempt's request reached the upstream whole.
	sent atomic.Bool
	// outLimit, when set, is the output limit sent upstream: what the
	// key's budget hold affords.
	outLimit  int64
	cand      route.Candidate
	attemptNo int // 1 for the first channel tried
	// The client's request decoded to a hub, once per call, when some
	// attempt translates it.
	chatReq  *llm.Request
	embedReq *llm.EmbedRequest
	// clock is the time spent waiting on upstreams (overhead headers).
	clock upstreamClock
	// attempt is the current attempt's outcome, for its span.
	attempt  Attempt
	imageReq *llm.ImageRequest
}

func newCallState(e *Engine, c *Call) *callState {
	_, free := c.Spec.(endpoint.Free)
	return &callState{e: e, call: c, free: free, rec: gateway.UsageRecord{
		RequestID: c.RequestID, Time: c.Start.UTC(), KeyID: c.Key.ID, KeyName: c.Key.Name,
		Endpoint: c.Spec.Endpoint(), Model: c.Peek.Model, Stream: c.Peek.Stream, UsageSource: gateway.UsageMissing,
	}}
}

// result is what dispatch learned.
type result struct {
	started  bool // bytes reached the client: no more failover
	usage    llm.Usage
	units    []gateway.Metered
	source   gateway.UsageSource
	ttft     time.Duration
	attempts int
}

func (e *Engine) maxAttempts() int {
	if e.MaxAttempts > 0 {
		return e.MaxAttempts
	}
	return 3
}

func (e *Engine) attemptBudget() time.Duration {
	if e.AttemptBudget > 0 {
		return e.AttemptBudget
	}
	return 60 * time.Second
}

// abandonedNote marks the ledger record of a call its client left before
// any answer, after the upstream had the request: billed for its input.
const abandonedNote = "client left before the answer; billed for the input the upstream received"

// errClientGone is what a call that its client abandoned ends with.
func errClientGone(cause error) *gateway.Error {
	return &gateway.Error{Kind: gateway.KindInvalidRequest, Status: 499, Message: "client closed the request", Err: cause}
}

// dispatch walks the plan. It returns a non-nil error only when it wrote
// nothing to the client; once started, failures end the answer in-band.
func (e *Engine) dispatch(ctx context.Context, w http.ResponseWriter, cs *callState) (result, *gateway.Error) {
	var res result
	c := cs.call
	now := time.Now()
	plan := e.Router.Plan(c.Peek.Model, now)
	if c.Peek.Affinity != "" {
		plan.Stick(c.Peek.Affinity)
	}
	deadline := now.Add(e.attemptBudget())
	var last *gateway.Error
	skipped := false
	for res.attempts < e.maxAttempts() {
		cand, ok := plan.Next(time.Now())
		if !ok {
			break
		}
		if c.pin != 0 && cand.Channel.ID != c.pin {
			continue
		}
		x := e.exchangeFor(cs, cand.Channel)
		if x == nil {
			// The channel serves the model but not this endpoint, natively
			// or by translation: not an attempt, and not its fault.
			skipped = true
			continue
		}
		if res.attempts > 0 && time.Now().After(deadline) {
			break
		}
		res.attempts++
		cs.attemptNo = res.attempts
		cs.cand = cand
		cs.rec.ChannelID = cand.Channel.ID
		cs.rec.ChannelName = cand.Channel.Name
		cs.rec.UpstreamModel = cand.UpstreamModel

		gerr := e.try(ctx, w, cs, x, &res)
		if gerr == nil || res.started {
			return res, gerr
		}
		last = gerr
		cs.rec.Tried = append(cs.rec.Tried, fmt.Sprintf("%s: %d %s", cand.Channel.Name, gerr.HTTPStatus(), gerr.Message))
		// Retry-After is honoured by health: the channel or key cools down
		// for that long, and the next candidate is another channel.
		if ctx.Err() != nil || !gerr.Failover() {
			break
		}
	}
	if ctx.Err() != nil {
		return res, errClientGone(ctx.Err())
	}
	if last != nil {
		return res, last
	}
	if la, ok := c.Spec.(endpoint.LocalAnswerer); ok && skipped {
		return res, e.answerLocally(w, cs, la, &res)
	}
	if skipped {
		return res, &gateway.Error{Kind: gateway.KindInvalidRequest, Status: http.StatusNotImplemented,
			Message: fmt.Sprintf("no channel serving model %q supports %s", c.Peek.Model, c.Spec.Endpoint()), Code: "unsupported_endpoint"}
	}
	return res, &gateway.Error{Kind: gateway.KindUnavailable, Message: fmt.Sprintf("no healthy channel is available for model %q", c.Peek.Model), Code: "no_available_channel"}
}

// answerLocally serves a spec the gateway can answer itself.
func (e *Engine) answerLocally(w http.ResponseWriter, cs *callState, la endpoint.LocalAnswerer, res *result) *gateway.Error {
	body, err := la.AnswerLocally(cs.call.Peek, cs.call.Body)
	if err != nil {
		return gateway.AsError(err)
	}
	cs.rec.ChannelName = "gateway"
	e.answerJSON(context.Background(), w, cs, res, body)
	return nil
}

// answerJSON sends a complete JSON answer the gateway wrote (translated,
// or its own) once the ledger has the call, so a client that has the
// answer is always billed for it.
func (e *Engine) answerJSON(ctx context.Context, w http.ResponseWriter, cs *callState, res *result, body []byte) {
	res.started = true
	e.finish(ctx, cs, *res)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// exchangeFor picks how an attempt on ch is carried: pass-through when ch
// speaks the client's spec natively, else translation to the first spec of
// ch's family sharing the client spec's hub; nil when there is neither.
func (e *Engine) exchangeFor(cs *callState, ch *gateway.Channel) exchange {
	client := cs.call.Spec
	family := upstream.FormatOf(ch.Type)
	// A body holding another provider's token in the gateway's envelope
	// (llm.WrapToken) is translated even to a channel of its own format:
	// the token must be dropped, which the pass-through path cannot do.
	_, strips := client.(endpoint.TokenStripper)
	if cs.call.hub == nil && servesNatively(client, family, ch) && (strips || !llm.HoldsWrappedToken(cs.call.Body.JSON)) {
		if p, ok := client.(endpoint.Passer); ok {
			return &passThrough{engine: e, cs: cs, spec: client, pass: p}
		}
	}
	// A call asking for images goes through the image hub when the
	// channel's family has an image endpoint (a Gemini image request to
	// an OpenAI image model), before any chat translation is tried.
	if ic, ok := client.(endpoint.ImageClient); ok && cs.call.hub == nil && ic.ImageCall(cs.call.Peek) {
		var ups []endpoint.Spec
		for _, up := range e.Specs {
			if _, ok := up.(endpoint.ImageUpstream); ok && servesNatively(up, family, ch) {
				ups = append(ups, up)
			}
		}
		if len(ups) > 0 {
			return &imageTranslation{engine: e, cs: cs, in: ic, ups: ups}
		}
	}
	for _, up := range e.Specs {
		if !servesNatively(up, family, ch) {
			continue
		}
		if x := newTranslation(e, cs, client, up); x != nil {
			return x
		}
	}
	return nil
}

func servesNatively(s endpoint.Spec, family string, ch *gateway.Channel) bool {
	if s.Family() != family {
		return false
	}
	if f, ok := s.(endpoint.ChannelFilter); ok {
		return f.ServedBy(ch)
	}
	return true
}

// newTranslation pairs the client's spec with an upstream spec of the same
// hub, or returns nil.
func newTranslation(e *Engine, cs *callState, client, up endpoint.Spec) exchange {
	if cc, ok := client.(endpoint.ChatCodec); ok || cs.call.hub != nil {
		uc, ok2 := up.(endpoint.ChatCodec)
		if !ok2 {
			return nil
		}
		return &chatTranslation{engine: e, cs: cs, in: cc, up: up, out: uc}
	}
	if ic, ok := client.(endpoint.ImageClient); ok {
		uc, ok2 := up.(endpoint.ImageUpstream)
		if !ok2 {
			return nil
		}
		return &imageTranslation{engine: e, cs: cs, in: ic, ups: []endpoint.Spec{up}, up: up, out: uc}
	}
	if ec, ok := client.(endpoint.EmbedCodec); ok {
		uc, ok2 := up.(endpoint.EmbedCodec)
		if !ok2 {
			return nil
		}
		return &embedTranslation{engine: e, cs: cs, in: ec, up: up, out: uc}
	}
	return nil
}
