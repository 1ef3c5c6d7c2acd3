package pricing

import (
	"math"
	"math/bits"

	"switchboard/internal/gateway"
	"switchboard/internal/llm"
)

// perMTok is the number of tokens a per-million price refers to.
const perMTok = 1_000_000

// Cost is what one call with usage u costs at price p, in nano-USD.
//
// Token classes are priced separately and each falls back to a base price
// when its own is zero: cached input and cache writes and audio input to the
// input price; reasoning, audio output and image output to the output
// price. Sub-counts are billed as reported and the plain remainder
// (input minus cached, cache-write and audio input; output minus
// reasoning, audio and image output) is clamped at zero, so an upstream
// that reports inconsistent counts is never billed less than its parts.
// All products are summed in 128 bits and divided by one million once,
// rounding half up, so the result is exact; it saturates at MaxInt64.
// Negative counts and prices count as zero.
func Cost(p gateway.Price, u llm.Usage) int64 { return CostN(p, u, 1) }

// CostN is Cost with the per-call price charged n times: n images, n
// seconds of video, n minutes of audio, as the price table documents for
// the model. n < 0 counts as 0.
func CostN(p gateway.Price, u llm.Usage, n int64) int64 {
	in := pos(p.InputPerMTok)
	out := pos(p.OutputPerMTok)
	cachedP := or(p.CachedInputPerMTok, in)
	writeP := or(p.CacheWritePerMTok, in)
	audioInP := or(p.AudioInputPerMTok, in)
	reasonP := or(p.ReasoningPerMTok, out)
	audioOutP := or(p.AudioOutputPerMTok, out)
	imageOutP := or(p.ImageOutputPerMTok, out)

	cached, write, audioIn := pos(u.CachedInputTokens), pos(u.CacheWriteTokens), pos(u.AudioInputTokens)
	plainIn := rest(pos(u.InputTokens), cached, write, audioIn)
	reason, audioOut, imageOut := pos(u.ReasoningTokens), pos(u.AudioOutputTokens), pos(u.ImageOutputTokens)
	plainOut := rest(pos(u.OutputTokens), reason, audioOut, imageOut)

	var acc acc128
	acc.add(plainIn, in)
	acc.add(cached, cachedP)
	acc.add(write, writeP)
	acc.add(audioIn, audioInP)
	acc.add(plainOut, out)
	acc.add(reason, reasonP)
	acc.add(audioOut, audioOutP)
	acc.add(imageOut, imageOutP)
	return addSat(acc.perMillion(), mulSat(pos(n), pos(p.PerCall)))
}

// Estimate is the most a call with inputTokens of prompt and at most
// maxOutputTokens of answer can cost at price p: every input token at the
// dearest input class, every output token at the dearest output class,
// plus one per-call unit. It is what budgets reserve before a call.
// Callers pass their own cap when the request sets no max_tokens.
func Estimate(p gateway.Price, inputTokens, maxOutputTokens int64) int64 {
	in := pos(p.InputPerMTok)
	out := pos(p.OutputPerMTok)
	inP := max(in, or(p.CachedInputPerMTok, in), or(p.CacheWritePerMTok, in), or(p.AudioInputPerMTok, in))
	outP := max(out, or(p.ReasoningPerMTok, out), or(p.AudioOutputPerMTok, out), or(p.ImageOutputPerMTok, out))
	var acc acc128
	acc.add(pos(inputTokens), inP)
	acc.add(pos(maxOutputTokens), outP)
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
