package pricing

import (
	"slices"

	"switchboard/internal/gateway"
)

// Defaults of the worst-case hold.
const (
	// DefaultMinOutput is the smallest output limit the relay may lower a
	// call to when the budget cannot cover the request's own: below it the
	// call is refused.
	DefaultMinOutput = 64
	// DefaultMaxOutput bounds the output of a model whose limit is not in
	// the table, when the request sets none (the hold is then marked not
	// Bounded: the relay should send this limit upstream).
	DefaultMaxOutput = 32_768
	// DefaultContextWindow bounds the prompt of a model whose context
	// window is not in the table when its parts cannot bound it (audio,
	// video, files, or images of unknown size).
	DefaultContextWindow = 1_048_576
)

// Prompt describes a request's prompt by its parts, as the relay can count
// them without tokenizing.
type Prompt struct {
	// TextBytes is the size of everything in the request but inline media
	// payloads, JSON syntax included: a token is at least one byte, and the
	// syntax bounds the chat template's own tokens.
	TextBytes int64
	// Images is the number of image parts (inline or by URL), each billed
	// at most the model's Limits.ImageTokens.
	Images int64
	// OtherMedia is the number of audio, video and file parts: their
	// tokens are bounded only by the model's context window.
	OtherMedia int64
	// CacheWrites says the request may write the prompt cache (an
	// Anthropic cache_control marker), which bills input at up to 2×;
	// without it input is held at the dearest of the other input rates.
	CacheWrites bool
}

// Route is one candidate channel of a call with the model name it sends.
type Route struct {
	UpstreamModel string
	Channel       *gateway.Channel
}

// Call is a request as the relay is about to route it.
type Call struct {
	// ClientModel is the model the client asked for; an operator price for
	// it is what the key pays, whichever route serves it.
	ClientModel string
	// Routes are the candidate channels; none means the client model as
	// its own upstream on a channel without a multiplier.
	Routes []Route
	Prompt Prompt
	// MaxOutput is the output limit sent upstream (0: the request sets
	// none, so the model's maximum applies).
	MaxOutput int64
	// N is the number of choices (OpenAI n, Gemini candidateCount); 0 is 1.
	// Output is held N times, input once.
	N int64
	// Passes is how many model passes the provider may bill for one call:
	// 1 + the server-tool uses allowed (Anthropic web_search max_uses),
	// since each pass re-reads the prompt. 0 is 1.
	Passes int64
	// Units are the most of each unit the call may use (images asked for,
	// seconds of video, searches allowed).
	Units []gateway.Metered
	// MinOutput overrides DefaultMinOutput.
	MinOutput int64
}

// Hold is the worst case of a Call, and what a smaller budget affords.
type Hold struct {
	// Amount is the most the call can cost the key, in nano-USD, over its
	// priced routes.
	Amount int64
	// OutputLimit is the output limit Amount assumes.
	OutputLimit int64
	// Min is the worst case with the output lowered to the minimum: below
	// it the budget cannot cover even a minimal answer.
	Min int64
	// Priced is false when some route has no price; Unpriced names those
	// routes' upstream models.
	Priced   bool
	Unpriced []string
	// Bounded is false when a route's output or prompt had to be bounded by
	// the package defaults rather than the request or the model table.
	Bounded bool

	minOutput int64
	routes    []routeHold
}

// routeHold is one priced route's worst case as a function of the
// output limit: (input + min(out, outCap)·outRate·n)/1e6 + fixed, scaled.
type routeHold struct {
	inTokens, inRate int64
	outCap, outRate  int64
	n, mult          int64
	units            acc128 // unit prices × counts, before the division
	fixed            int64  // per-call price
}

func (r *routeHold) worst(out int64) int64 {
	acc := r.units
	acc.add(r.inTokens, r.inRate)
	acc.add(mulSat(min(out, r.outCap), r.n), r.outRate)
	return scale(addSat(acc.perMillion(), r.fixed), r.mult)
}

// Hold computes the worst case of c: for every route, the prompt bounded by
// its parts and the model's context window (times Passes), at the dearest
// input rate of the tier that bound reaches; the output bounded by the
// request's limit or else the model's maximum, times N, at the dearest
// output rate; the units; at the client model's operator price when there
// is one, else at the route's upstream price times its channel multiplier.
// Amount is the largest over the routes.
func (t *Table) Hold(c Call) Hold {
	h := Hold{Priced: true, Bounded: true, minOutput: c.MinOutput}
	if h.minOutput <= 0 {
		h.minOutput = DefaultMinOutput
	}
	routes := c.Routes
	if len(routes) == 0 {
		routes = []Route{{UpstreamModel: c.ClientModel}}
	}
	sale, hasSale := t.OperatorPrice(c.ClientModel)
	for _, rt := range routes {
		up := rt.UpstreamModel
		if up == "" {
			up = c.ClientModel
		}
		p, mult := sale, int64(ppm)
		if !hasSale {
			var ok bool
			if p, ok = t.Lookup(up); !ok {
				h.Priced = false
				if !slices.Contains(h.Unpriced, up) {
					h.Unpriced = append(h.Unpriced, up)
				}
				continue
			}
			mult = ChannelMultiplier(rt.Channel)
		}
		lim, _ := t.Limits(up)
		if lim == (Limits{}) {
			lim, _ = t.Limits(c.ClientModel)
		}
		r, bounded, ok := routeWorst(p, lim, c)
		if !ok {
			h.Priced = false
			if !slices.Contains(h.Unpriced, up) {
				h.Unpriced = append(h.Unpriced, up)
			}
			continue
		}
		r.mult = mult
		h.Bounded = h.Bounded && bounded
		h.routes = append(h.routes, r)
		h.OutputLimit = max(h.OutputLimit, r.outCap)
	}
	h.Amount = h.worst(h.OutputLimit)
	h.Min = h.worst(min(h.minOutput, h.OutputLimit))
	return h
}

func routeWorst(p gateway.Price, lim Limits, c Call) (routeHold, bool, bool) {
	bounded := true
	ctx := lim.ContextWindow
	if ctx <= 0 {
		ctx = DefaultContextWindow
	}
	in := pos(c.Prompt.TextBytes)
	unboundedMedia := c.Prompt.OtherMedia > 0 || (c.Prompt.Images > 0 && lim.ImageTokens <= 0)
	if c.Prompt.Images > 0 && lim.ImageTokens > 0 {
		in = addSat(in, mulSat(c.Prompt.Images, lim.ImageTokens))
	}
	if unboundedMedia || in > ctx {
		if lim.ContextWindow <= 0 {
			bounded = false
		}
		in = ctx
	}
	passes := max(c.Passes, 1)
	r := worstRates(p, in)
	inRate := max(r.in, r.cached)
	if c.Prompt.Images > 0 {
		inRate = max(inRate, r.imageIn)
	}
	if c.Prompt.OtherMedia > 0 {
		inRate = max(inRate, r.audioIn, r.imageIn)
	}
	if c.Prompt.CacheWrites {
		inRate = max(inRate, r.write, r.write1h)
	}
	outCap := lim.MaxOutput
	if outCap <= 0 {
		outCap = lim.ContextWindow
	}
	switch {
	case r.maxOut() == 0:
		outCap = 0 // output is free (embeddings) or billed in units
	case c.MaxOutput > 0 && outCap > 0:
		outCap = min(outCap, c.MaxOutput)
	case c.MaxOutput > 0:
		outCap = c.MaxOutput
	case outCap <= 0:
		outCap, bounded = DefaultMaxOutput, false
	}
	rh := routeHold{inTokens: mulSat(in, passes), inRate: inRate, outCap: outCap, outRate: r.maxOut(),
		n: max(c.N, 1), fixed: pos(p.PerCall)}
	for _, m := range c.Units {
		if m.Count <= 0 {
			continue
		}
		per, ok := worstUnitPrice(p, m.Unit)
		if !ok {
			return routeHold{}, bounded, false
		}
		rh.units.add(m.Count, per)
	}
	return rh, bounded, true
}

// worstRates is, rate by rate, the dearest of p's own rates and those of
// every tier a prompt of promptTokens can reach.
func worstRates(p gateway.Price, promptTokens int64) rates {
	r := tokenRates(p)
	for _, t := range p.Tiers {
		if promptTokens <= t.AbovePromptTokens {
			continue
		}
		o := tokenRates(t.Price)
		r = rates{
			in: max(r.in, o.in), cached: max(r.cached, o.cached), write: max(r.write, o.write),
			write1h: max(r.write1h, o.write1h), audioIn: max(r.audioIn, o.audioIn), imageIn: max(r.imageIn, o.imageIn),
			out: max(r.out, o.out), reason: max(r.reason, o.reason), audioOut: max(r.audioOut, o.audioOut),
			imageOut: max(r.imageOut, o.imageOut),
		}
	}
	return r
}

func (h *Hold) worst(out int64) int64 {
	var w int64
	for i := range h.routes {
		w = max(w, h.routes[i].worst(out))
	}
	return w
}

// Affordable returns the largest output limit whose worst case fits in
// budget, and false when not even the minimum output fits (the call must
// be refused). A budget that covers Amount affords OutputLimit.
func (h Hold) Affordable(budget int64) (int64, bool) {
	if budget >= h.Amount {
		return h.OutputLimit, true
	}
	lo := min(h.minOutput, h.OutputLimit)
	if budget < h.worst(lo) {
		return 0, false
	}
	hi := h.OutputLimit // worst(hi) > budget
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if h.worst(mid) <= budget {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo, true
}

// HoldFor is the worst case of the same call with its output limited to
// out (after Affordable lowered it).
func (h Hold) HoldFor(out int64) int64 {
	if out <= 0 || out > h.OutputLimit {
		out = h.OutputLimit
	}
	return h.worst(out)
}
