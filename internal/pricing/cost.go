package pricing

import (
	"math"
	"math/bits"
	"strings"

	"switchboard/internal/gateway"
	"switchboard/internal/llm"
)

// perMTok is the number of tokens a per-million price refers to.
const perMTok = 1_000_000

// Cost is what one call with usage u costs at price p, in nano-USD,
// counting the server-tool calls its usage reports (web searches,
// grounded prompts) at p's unit prices. See CostUnits.
func Cost(p gateway.Price, u llm.Usage) int64 {
	c, _ := CostUnits(p, u, nil)
	return c
}

// CostUnits is what one call with usage u and metered units costs at price
// p, in nano-USD, and whether every unit it used has a price (a call that
// used an unpriced unit is not priced, though its other parts are summed).
//
// The prompt's size picks the rates: when u.InputTokens exceeds a tier's
// AbovePromptTokens, the whole call's tokens are priced at the highest
// such tier (long-context pricing). Token classes are priced separately and
// each falls back to a base price when its own is zero: cached input, cache
// writes, audio and image input to the input price (one-hour cache writes
// to the five-minute price); reasoning, audio and image output to the
// output price. Sub-counts are billed as reported and the plain remainder
// (input minus cached, cache-write, audio and image input; output minus
// reasoning, audio and image output) is clamped at zero, so an upstream that
// reports inconsistent counts is never billed less than its parts. Units
// are priced per million (with variants falling back to their general
// unit, see gateway.UnitImage). All products are summed in 128 bits and
// divided by one million once, rounding half up, so the result is exact;
// it saturates at MaxInt64. Negative counts and prices count as zero.
func CostUnits(p gateway.Price, u llm.Usage, units []gateway.Metered) (int64, bool) {
	r := ratesFor(p, u.InputTokens)
	cached, audioIn, imageIn := pos(u.CachedInputTokens), pos(u.AudioInputTokens), pos(u.ImageInputTokens)
	write := pos(u.CacheWriteTokens)
	write1h := min(pos(u.CacheWrite1hTokens), write)
	write5m := write - write1h
	plainIn := rest(pos(u.InputTokens), cached, write, audioIn, imageIn)
	reason, audioOut, imageOut := pos(u.ReasoningTokens), pos(u.AudioOutputTokens), pos(u.ImageOutputTokens)
	plainOut := rest(pos(u.OutputTokens), reason, audioOut, imageOut)

	var acc acc128
	acc.add(plainIn, r.in)
	acc.add(cached, r.cached)
	acc.add(write5m, r.write)
	acc.add(write1h, r.write1h)
	acc.add(audioIn, r.audioIn)
	acc.add(imageIn, r.imageIn)
	acc.add(plainOut, r.out)
	acc.add(reason, r.reason)
	acc.add(audioOut, r.audioOut)
	acc.add(imageOut, r.imageOut)
	priced := true
	add := func(unit string, n int64) {
		if n <= 0 {
			return
		}
		per, ok := unitPrice(p, unit)
		if !ok {
			priced = false
			return
		}
		acc.add(n, per)
	}
	add(gateway.UnitWebSearch, u.WebSearchRequests)
	add(gateway.UnitGroundedPrompt, u.GroundedPrompts)
	for _, m := range units {
		add(m.Unit, m.Count)
	}
	return addSat(acc.perMillion(), pos(p.PerCall)), priced
}

// rates are one price's token rates with every fallback applied.
type rates struct {
	in, cached, write, write1h, audioIn, imageIn int64
	out, reason, audioOut, imageOut              int64
}

// ratesFor returns the token rates of p for a prompt of promptTokens: the
// highest tier the prompt exceeds, else p's own.
func ratesFor(p gateway.Price, promptTokens int64) rates {
	base := p
	var above int64 = -1
	for _, t := range p.Tiers {
		if promptTokens > t.AbovePromptTokens && t.AbovePromptTokens > above {
			base, above = t.Price, t.AbovePromptTokens
		}
	}
	return tokenRates(base)
}

func tokenRates(p gateway.Price) rates {
	in, out := pos(p.InputPerMTok), pos(p.OutputPerMTok)
	write := or(p.CacheWritePerMTok, in)
	return rates{
		in: in, cached: or(p.CachedInputPerMTok, in), write: write, write1h: or(p.CacheWrite1hPerMTok, write),
		audioIn: or(p.AudioInputPerMTok, in), imageIn: or(p.ImageInputPerMTok, in),
		out: out, reason: or(p.ReasoningPerMTok, out), audioOut: or(p.AudioOutputPerMTok, out), imageOut: or(p.ImageOutputPerMTok, out),
	}
}

// maxIn is the dearest rate any prompt token can be billed at; maxOut the
// dearest for an output token.
func (r rates) maxIn() int64  { return max(r.in, r.cached, r.write, r.write1h, r.audioIn, r.imageIn) }
func (r rates) maxOut() int64 { return max(r.out, r.reason, r.audioOut, r.imageOut) }

// unitPrice finds the price of unit in p, dropping variants from the end
// ("image:1024x1792:hd", then "image:1024x1792", then "image").
func unitPrice(p gateway.Price, unit string) (int64, bool) {
	for {
		for _, up := range p.Units {
			if strings.EqualFold(up.Unit, unit) {
				return pos(up.PerMUnits), true
			}
		}
		i := strings.LastIndexByte(unit, ':')
		if i < 0 {
			return 0, false
		}
		unit = unit[:i]
	}
}

// Estimate is the most a call with inputTokens of prompt and at most
// maxOutputTokens of answer can cost at price p: every input token at the
// dearest input class, every output token at the dearest output class,
// at the tier the prompt reaches, plus the per-call price. Hold is the
// fuller worst case of a routed call.
func Estimate(p gateway.Price, inputTokens, maxOutputTokens int64) int64 {
	r := worstRates(p, inputTokens)
	var acc acc128
	acc.add(pos(inputTokens), r.maxIn())
	acc.add(pos(maxOutputTokens), r.maxOut())
	return addSat(acc.perMillion(), pos(p.PerCall))
}

func pos(v int64) int64 { return max(v, 0) }

// or returns v if positive, else def.
func or(v, def int64) int64 {
	if v > 0 {
		return v
	}
	return def
}

// rest is total minus the parts, clamped at zero, without overflow.
func rest(total int64, parts ...int64) int64 {
	for _, p := range parts {
		if p >= total {
			return 0
		}
		total -= p
	}
	return total
}

// acc128 is an unsigned 128-bit accumulator of token×price products.
type acc128 struct{ hi, lo uint64 }

func (a *acc128) add(tokens, price int64) {
	hi, lo := bits.Mul64(uint64(tokens), uint64(price))
	var carry uint64
	a.lo, carry = bits.Add64(a.lo, lo, 0)
	a.hi, carry = bits.Add64(a.hi, hi, carry)
	if carry != 0 { // past 2^128: saturate
		a.hi, a.lo = math.MaxUint64, math.MaxUint64
	}
}

// mulSat multiplies non-negative a and b, saturating at MaxInt64.
func mulSat(a, b int64) int64 {
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi != 0 || lo > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(lo)
}

// addSat adds non-negative a and b, saturating at MaxInt64.
func addSat(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// perMillion divides by one million rounding half up, saturating at
// MaxInt64.
func (a *acc128) perMillion() int64 {
	lo, carry := bits.Add64(a.lo, perMTok/2, 0)
	hi, overflow := bits.Add64(a.hi, 0, carry)
	if overflow != 0 || hi >= perMTok {
		return math.MaxInt64
	}
	q, _ := bits.Div64(hi, lo, perMTok)
	if q > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(q)
}

// WorstUnits is the most the metered units can cost at price p, in
// nano-USD: each unit at its own price, or, when p prices variants of it
// ("image:1024x1792:hd" for "image", "image:1024x1024:hd" for
// "image:1024x1024"), at the dearest of them. Units p does not price at
// all count nothing here (Hold reports them unpriced; a hold of a
// token-priced image model is its tokens).
func WorstUnits(p gateway.Price, units []gateway.Metered) int64 {
	var acc acc128
	for _, m := range units {
		if m.Count <= 0 {
			continue
		}
		if per, found := worstUnitPrice(p, m.Unit); found {
			acc.add(m.Count, per)
		}
	}
	return acc.perMillion()
}

// worstUnitPrice is the price per million of unit at p; a unit named
// without its variants ("image" rather than "image:1024x1024:hd") costs
// its dearest variant.
func worstUnitPrice(p gateway.Price, unit string) (int64, bool) {
	per, found := int64(0), false
	for _, up := range p.Units {
		if len(up.Unit) > len(unit) && up.Unit[len(unit)] == ':' && strings.EqualFold(up.Unit[:len(unit)], unit) {
			per, found = max(per, pos(up.PerMUnits)), true
		}
	}
	if own, ok := unitPrice(p, unit); ok {
		per, found = max(per, own), true
	}
	return per, found
}
