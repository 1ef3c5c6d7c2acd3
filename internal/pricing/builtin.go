package pricing

import "switchboard/internal/gateway"

// usd converts a list price in dollars (per million tokens, or per call) to
// nano-USD.
func usd(d float64) int64 { return gateway.NanoUSD(d) }

// text prices a model by input, output and cached-input dollars per Mtok.
func text(in, out, cached float64) gateway.Price {
	return gateway.Price{InputPerMTok: usd(in), OutputPerMTok: usd(out), CachedInputPerMTok: usd(cached)}
}

// claude prices an Anthropic model: cache writes (5-minute TTL) cost 1.25×
// input and cache reads 0.1× input, computed in integers so they are exact.
func claude(in, out float64) gateway.Price {
	i := usd(in)
	return gateway.Price{InputPerMTok: i, OutputPerMTok: usd(out), CacheWritePerMTok: i * 5 / 4, CachedInputPerMTok: i / 10}
}

// audio adds audio-token prices to a text price.
func audio(p gateway.Price, in, out float64) gateway.Price {
	p.AudioInputPerMTok, p.AudioOutputPerMTok = usd(in), usd(out)
	return p
}

// perCall prices a model per unit: an image, an action, a second of video or
// a minute of audio, as documented at each entry; Cost charges one unit,
// CostN charges n.
func perCall(d float64) gateway.Price { return gateway.Price{PerCall: usd(d)} }

// builtin holds public list prices as published by the providers, checked
// in 2025-11: standard (not batch or priority) tier, and the ≤200k-token
// context tier where a provider tiers by prompt length. They are meant to be
// plausible defaults; operators override them under `prices:`.
var builtin = map[string]gateway.Price{
	// OpenAI chat and reasoning models.
	"gpt-5":             text(1.25, 10, 0.125),
	"gpt-5-mini":        text(0.25, 2, 0.025),
	"gpt-5-nano":        text(0.05, 0.40, 0.005),
	"gpt-5-pro":         text(15, 120, 0),
	"gpt-4.1":           text(2, 8, 0.50),
	"gpt-4.1-mini":      text(0.40, 1.60, 0.10),
	"gpt-4.1-nano":      text(0.10, 0.40, 0.025),
	"gpt-4o":            text(2.50, 10, 1.25),
	"gpt-4o-2024-05-13": text(5, 15, 0),
	"gpt-4o-mini":       text(0.15, 0.60, 0.075),
	"chatgpt-4o-latest": text(5, 15, 0),
	"gpt-4.5-preview":   text(75, 150, 37.5),
	"gpt-4-turbo":       text(10, 30, 0),
	"gpt-4":             text(30, 60, 0),
	"gpt-3.5-turbo":     text(0.50, 1.50, 0),
	"o1":                text(15, 60, 7.50),
	"o1-mini":           text(1.10, 4.40, 0.55),
	"o1-pro":            text(150, 600, 0),
	"o3":                text(2, 8, 0.50),
	"o3-pro":            text(20, 80, 0),
	"o3-mini":           text(1.10, 4.40, 0.55),
	"o4-mini":           text(1.10, 4.40, 0.275),
	"codex-mini-latest": text(1.50, 6, 0.375),

	// OpenAI audio: text tokens at the text price, audio tokens separately.
	"gpt-4o-audio-preview":      audio(text(2.50, 10, 0), 40, 80),
	"gpt-4o-mini-audio-preview": audio(text(0.15, 0.60, 0), 10, 20),
	"gpt-audio":                 audio(text(2.50, 10, 0), 32, 64),
	"gpt-realtime":              audio(text(4, 16, 0.40), 32, 64),
	"gpt-4o-realtime-preview":   audio(text(5, 20, 2.50), 40, 80),
	"gpt-4o-transcribe":         audio(text(2.50, 10, 0), 6, 0),
	"gpt-4o-mini-transcribe":    audio(text(1.25, 5, 0), 3, 0),
	"gpt-4o-mini-tts":           audio(text(0.60, 12, 0), 0, 12),
	// whisper-1 is $0.006 per minute of audio: one unit = one minute.
	"whisper-1": perCall(0.006),
	// tts-1 is $15 (tts-1-hd $30) per million input characters: the
	// relay reports characters as input tokens for these models.
	"tts-1":    {InputPerMTok: usd(15)},
	"tts-1-hd": {InputPerMTok: usd(30)},

	// OpenAI embeddings and moderation (free, but known).
	"text-embedding-3-small": text(0.02, 0, 0),
	"text-embedding-3-large": text(0.13, 0, 0),
	"text-embedding-ada-002": text(0.10, 0, 0),
	"omni-moderation":        {},
	"text-moderation":        {},

	// OpenAI images. dall-e: one unit = one standard 1024×1024 image.
	// gpt-image-1 bills tokens; image *input* tokens cost $10/Mtok there,
	// which the Price type cannot express, so they are priced as text input.
	"dall-e-3":         perCall(0.04),
	"dall-e-2":         perCall(0.02),
	"gpt-image-1":      {InputPerMTok: usd(5), CachedInputPerMTok: usd(1.25), OutputPerMTok: usd(40), ImageOutputPerMTok: usd(40)},
	"gpt-image-1-mini": {InputPerMTok: usd(2), CachedInputPerMTok: usd(0.20), OutputPerMTok: usd(8), ImageOutputPerMTok: usd(8)},

	// OpenAI video: one unit = one second of 720p video.
	"sora-2":     perCall(0.10),
	"sora-2-pro": perCall(0.30),

	// Anthropic.
	"claude-opus-4-5":   claude(5, 25),
	"claude-opus-4-1":   claude(15, 75),
	"claude-opus-4":     claude(15, 75),
	"claude-sonnet-4-5": claude(3, 15),
	"claude-sonnet-4":   claude(3, 15),
	"claude-haiku-4-5":  claude(1, 5),
	"claude-3-7-sonnet": claude(3, 15),
	"claude-3-5-sonnet": claude(3, 15),
	"claude-3-5-haiku":  claude(0.80, 4),
	"claude-3-opus":     claude(15, 75),
	"claude-3-haiku":    claude(0.25, 1.25),

	// Google Gemini (≤200k-token prompts; audio input priced apart).
	"gemini-3-pro-preview":           text(2, 12, 0.20),
	"gemini-2.5-pro":                 text(1.25, 10, 0.125),
	"gemini-2.5-flash":               audio(text(0.30, 2.50, 0.03), 1, 0),
	"gemini-2.5-flash-lite":          audio(text(0.10, 0.40, 0.01), 0.30, 0),
	"gemini-2.5-flash-image-preview": {InputPerMTok: usd(0.30), OutputPerMTok: usd(2.50), ImageOutputPerMTok: usd(30)},
	"gemini-2.5-flash-image":         {InputPerMTok: usd(0.30), OutputPerMTok: usd(2.50), ImageOutputPerMTok: usd(30)},
	"gemini-2.0-flash":               audio(text(0.10, 0.40, 0.025), 0.70, 0),
	"gemini-2.0-flash-lite":          text(0.075, 0.30, 0),
	"gemini-1.5-pro":                 text(1.25, 5, 0),
	"gemini-1.5-flash":               text(0.075, 0.30, 0),
	"gemini-embedding-001":           text(0.15, 0, 0),
	"text-embedding-004":             {},
	// Veo: one unit = one second of video.
	"veo-3.0-generate":      perCall(0.40),
	"veo-3.0-fast-generate": perCall(0.15),

	// DeepSeek (V3.2 pricing; cache hits at the cached price).
	"deepseek-chat":     text(0.28, 0.42, 0.028),
	"deepseek-reasoner": text(0.28, 0.42, 0.028),

	// The built-in simulator: small but non-zero so a demo ledger shows
	// costs. Covers "simulator" and every "simulator-*" model, and the
	// sim-1 family that `serve --demo` offers.
	"simulator": text(0.10, 0.40, 0.01),
	"sim-1":     text(0.10, 0.40, 0.01),

	// Midjourney-proxy tasks, one unit per submitted action ("mj/" plus the
	// action in lower case).
	"mj/imagine":   perCall(0.05),
	"mj/variation": perCall(0.05),
	"mj/reroll":    perCall(0.05),
	"mj/blend":     perCall(0.05),
	"mj/upscale":   perCall(0.025),
	"mj/describe":  perCall(0.025),
	"mj/shorten":   perCall(0.025),
	"mj/zoom":      perCall(0.05),
	"mj/pan":       perCall(0.05),
	"mj/modal":     perCall(0.05),
	"mj/inpaint":   perCall(0.05),
	"mj/swap_face": perCall(0.05),
}
