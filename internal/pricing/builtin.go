package pricing

import "switchboard/internal/gateway"

// usd converts a list price in dollars (per million tokens, or per call) to
// nano-USD.
func usd(d float64) int64 { return gateway.NanoUSD(d) }

// text prices a model by input, output and cached-input dollars per Mtok.
func text(in, out, cached float64) gateway.Price {
	return gateway.Price{InputPerMTok: usd(in), OutputPerMTok: usd(out), CachedInputPerMTok: usd(cached)}
}

// claude prices an Anthropic model: five-minute cache writes cost 1.25×
// input, one-hour writes 2× and cache reads 0.1×, computed in integers so
// they are exact; web searches are $10 per thousand.
func claude(in, out float64) gateway.Price {
	i := usd(in)
	return gateway.Price{InputPerMTok: i, OutputPerMTok: usd(out), CacheWritePerMTok: i * 5 / 4,
		CacheWrite1hPerMTok: i * 2, CachedInputPerMTok: i / 10, Units: []gateway.UnitPrice{unit(gateway.UnitWebSearch, 0.01)}}
}

// claudeLong is claude with Anthropic's long-context tier: a prompt over
// 200k tokens (1M-context models) bills the whole call at 2× input and
// 1.5× output, cache prices scaled alike.
func claudeLong(in, out float64) gateway.Price {
	return tier(claude(in, out), 200_000, claude(in*2, out*1.5))
}

// tier adds a long-context tier to p.
func tier(p gateway.Price, above int64, t gateway.Price) gateway.Price {
	t.Units, t.Tiers = nil, nil
	p.Tiers = append(p.Tiers, gateway.PriceTier{AbovePromptTokens: above, Price: t})
	return p
}

// audio adds audio-token prices to a text price.
func audio(p gateway.Price, in, out float64) gateway.Price {
	p.AudioInputPerMTok, p.AudioOutputPerMTok = usd(in), usd(out)
	return p
}

// unit prices one unit (an image, a second of video, a search) in
// dollars, stored per million units.
func unit(name string, dollars float64) gateway.UnitPrice {
	return gateway.UnitPrice{Unit: name, PerMUnits: usd(dollars) * 1_000_000}
}

// units prices a model by units only.
func units(us ...gateway.UnitPrice) gateway.Price { return gateway.Price{Units: us} }

// withUnits adds unit prices to p.
func withUnits(p gateway.Price, us ...gateway.UnitPrice) gateway.Price {
	p.Units = append(append([]gateway.UnitPrice(nil), p.Units...), us...)
	return p
}

// perCall prices a model per call (a Midjourney action).
func perCall(d float64) gateway.Price { return gateway.Price{PerCall: usd(d)} }

// Grounding with Google Search: Gemini 2.x bills $35 per thousand grounded
// prompts, Gemini 3 $14 per thousand search queries (past the free daily
// allowance, which a gateway cannot see: operators override to 0).
var (
	grounded2 = unit(gateway.UnitGroundedPrompt, 0.035)
	search3   = unit(gateway.UnitWebSearch, 0.014)
)

// builtin holds public list prices as published by the providers, checked
// in 2025-11: standard (not batch, flex or priority) tier, with the
// long-context tiers providers publish. Operators override them under
// `prices:` or in a price file.
var builtin = map[string]gateway.Price{
	// OpenAI chat and reasoning models.
	"gpt-5.1":               text(1.25, 10, 0.125),
	"gpt-5.1-chat-latest":   text(1.25, 10, 0.125),
	"gpt-5.1-codex":         text(1.25, 10, 0.125),
	"gpt-5.1-codex-max":     text(1.25, 10, 0.125),
	"gpt-5.1-codex-mini":    text(0.25, 2, 0.025),
	"gpt-5":                 text(1.25, 10, 0.125),
	"gpt-5-chat-latest":     text(1.25, 10, 0.125),
	"gpt-5-codex":           text(1.25, 10, 0.125),
	"gpt-5-mini":            text(0.25, 2, 0.025),
	"gpt-5-nano":            text(0.05, 0.40, 0.005),
	"gpt-5-pro":             text(15, 120, 0),
	"gpt-4.1":               text(2, 8, 0.50),
	"gpt-4.1-mini":          text(0.40, 1.60, 0.10),
	"gpt-4.1-nano":          text(0.10, 0.40, 0.025),
	"gpt-4o":                text(2.50, 10, 1.25),
	"gpt-4o-2024-05-13":     text(5, 15, 0),
	"gpt-4o-mini":           text(0.15, 0.60, 0.075),
	"chatgpt-4o-latest":     text(5, 15, 0),
	"gpt-4.5-preview":       text(75, 150, 37.5),
	"gpt-4-turbo":           text(10, 30, 0),
	"gpt-4":                 text(30, 60, 0),
	"gpt-3.5-turbo":         text(0.50, 1.50, 0),
	"o1":                    text(15, 60, 7.50),
	"o1-mini":               text(1.10, 4.40, 0.55),
	"o1-pro":                text(150, 600, 0),
	"o3":                    text(2, 8, 0.50),
	"o3-pro":                text(20, 80, 0),
	"o3-mini":               text(1.10, 4.40, 0.55),
	"o4-mini":               text(1.10, 4.40, 0.275),
	"o3-deep-research":      text(10, 40, 2.50),
	"o4-mini-deep-research": text(2, 8, 0.50),
	"codex-mini-latest":     text(1.50, 6, 0.375),
	"computer-use-preview":  text(3, 12, 0),
	// The search models' per-call search fee is not in their usage.
	"gpt-4o-search-preview":      text(2.50, 10, 0),
	"gpt-4o-mini-search-preview": text(0.15, 0.60, 0),

	// OpenAI audio: text tokens at the text price, audio tokens apart
	// (cached audio is billed at the cached text price: the table has one
	// cached rate).
	"gpt-4o-audio-preview":         audio(text(2.50, 10, 0), 40, 80),
	"gpt-4o-mini-audio-preview":    audio(text(0.15, 0.60, 0), 10, 20),
	"gpt-audio":                    audio(text(2.50, 10, 0), 32, 64),
	"gpt-audio-mini":               audio(text(0.60, 2.40, 0), 10, 20),
	"gpt-realtime":                 audio(text(4, 16, 0.40), 32, 64),
	"gpt-realtime-mini":            audio(text(0.60, 2.40, 0.06), 10, 20),
	"gpt-4o-realtime-preview":      audio(text(5, 20, 2.50), 40, 80),
	"gpt-4o-mini-realtime-preview": audio(text(0.60, 2.40, 0.30), 10, 20),
	"gpt-4o-transcribe":            audio(text(2.50, 10, 0), 6, 0),
	"gpt-4o-mini-transcribe":       audio(text(1.25, 5, 0), 3, 0),
	"gpt-4o-mini-tts":              audio(text(0.60, 12, 0), 0, 12),
	// whisper-1 is $0.006 per minute of audio, billed by the second.
	"whisper-1": units(unit(gateway.UnitAudioSecond, 0.0001)),
	// tts-1 is $15 (tts-1-hd $30) per million input characters: the
	// relay reports characters as input tokens for these models, and the
	// character unit prices them the same when metered as units.
	"tts-1":    withUnits(gateway.Price{InputPerMTok: usd(15)}, unit(gateway.UnitCharacter, 0.000015)),
	"tts-1-hd": withUnits(gateway.Price{InputPerMTok: usd(30)}, unit(gateway.UnitCharacter, 0.00003)),

	// OpenAI embeddings and moderation (free, but known).
	"text-embedding-3-small":     text(0.02, 0, 0),
	"text-embedding-3-large":     text(0.13, 0, 0),
	"text-embedding-ada-002":     text(0.10, 0, 0),
	"omni-moderation-latest":     {},
	"omni-moderation-2024-09-26": {},
	"text-moderation-latest":     {},
	"text-moderation-stable":     {},

	// OpenAI images. gpt-image-1 bills tokens (image input apart; cached
	// image input at the cached text rate); dall-e bills per image by
	// size and quality ("image" alone is the default 1024x1024 standard).
	"gpt-image-1": {InputPerMTok: usd(5), CachedInputPerMTok: usd(1.25), ImageInputPerMTok: usd(10),
		OutputPerMTok: usd(40), ImageOutputPerMTok: usd(40)},
	"gpt-image-1-mini": {InputPerMTok: usd(2), CachedInputPerMTok: usd(0.20), ImageInputPerMTok: usd(2.50),
		OutputPerMTok: usd(8), ImageOutputPerMTok: usd(8)},
	"dall-e-3": units(
		unit("image", 0.04), unit("image:1024x1024", 0.04), unit("image:1024x1024:standard", 0.04),
		unit("image:1024x1792:standard", 0.08), unit("image:1792x1024:standard", 0.08),
		unit("image:1024x1024:hd", 0.08), unit("image:1024x1792:hd", 0.12), unit("image:1792x1024:hd", 0.12)),
	"dall-e-2": units(unit("image", 0.02), unit("image:1024x1024", 0.02), unit("image:512x512", 0.018),
		unit("image:256x256", 0.016)),

	// OpenAI video, per second by resolution.
	"sora-2": units(unit("video_second", 0.10), unit("video_second:720x1280", 0.10), unit("video_second:1280x720", 0.10)),
	"sora-2-pro": units(unit("video_second", 0.30), unit("video_second:720x1280", 0.30), unit("video_second:1280x720", 0.30),
		unit("video_second:1024x1792", 0.50), unit("video_second:1792x1024", 0.50)),

	// Anthropic. Sonnet 4.x and Opus 4.6 take 1M-token prompts, billed at
	// the long-context tier above 200k. Claude Haiku 3 caches at its own
	// published rates.
	"claude-opus-4-6":   claudeLong(5, 25),
	"claude-sonnet-4-6": claudeLong(3, 15),
	"claude-opus-4-5":   claude(5, 25),
	"claude-opus-4-1":   claude(15, 75),
	"claude-opus-4":     claude(15, 75),
	"claude-sonnet-4-5": claudeLong(3, 15),
	"claude-sonnet-4":   claudeLong(3, 15),
	"claude-haiku-4-5":  claude(1, 5),
	"claude-3-7-sonnet": claude(3, 15),
	"claude-3-5-sonnet": claude(3, 15),
	"claude-3-5-haiku":  claude(0.80, 4),
	"claude-3-opus":     claude(15, 75),
	"claude-3-haiku": {InputPerMTok: usd(0.25), OutputPerMTok: usd(1.25), CacheWritePerMTok: usd(0.30),
		CacheWrite1hPerMTok: usd(0.50), CachedInputPerMTok: usd(0.03)},

	// Google Gemini (audio input priced apart; long prompts tiered).
	"gemini-3-pro-preview":       withUnits(tier(text(2, 12, 0.20), 200_000, text(4, 18, 0.40)), search3),
	"gemini-3-pro-image-preview": {InputPerMTok: usd(2), OutputPerMTok: usd(12), ImageOutputPerMTok: usd(120)},
	"gemini-2.5-pro":             withUnits(tier(text(1.25, 10, 0.125), 200_000, text(2.50, 15, 0.25)), grounded2),
	"gemini-2.5-flash":           withUnits(audio(text(0.30, 2.50, 0.03), 1, 0), grounded2),
	"gemini-2.5-flash-lite":      withUnits(audio(text(0.10, 0.40, 0.01), 0.30, 0), grounded2),
	"gemini-2.5-flash-image":     {InputPerMTok: usd(0.30), OutputPerMTok: usd(2.50), ImageOutputPerMTok: usd(30)},
	"gemini-2.0-flash":           withUnits(audio(text(0.10, 0.40, 0.025), 0.70, 0), grounded2),
	"gemini-2.0-flash-lite":      text(0.075, 0.30, 0),
	"gemini-1.5-pro":             tier(text(1.25, 5, 0), 128_000, text(2.50, 10, 0)),
	"gemini-1.5-flash":           tier(text(0.075, 0.30, 0), 128_000, text(0.15, 0.60, 0)),
	"gemini-embedding-001":       text(0.15, 0, 0),
	"text-embedding-004":         {},
	// Veo and Imagen: per second of video, per image.
	"veo-3.1-generate-preview":      units(unit("video_second", 0.40)),
	"veo-3.1-fast-generate-preview": units(unit("video_second", 0.15)),
	"veo-3.0-generate-001":          units(unit("video_second", 0.40)),
	"veo-3.0-fast-generate-001":     units(unit("video_second", 0.15)),
	"veo-2.0-generate-001":          units(unit("video_second", 0.35)),
	"imagen-4.0-generate-001":       units(unit("image", 0.04)),
	"imagen-4.0-ultra-generate-001": units(unit("image", 0.06)),
	"imagen-4.0-fast-generate-001":  units(unit("image", 0.02)),
	"imagen-3.0-generate-002":       units(unit("image", 0.03)),

	// DeepSeek (V3.2 pricing; cache hits at the cached price).
	"deepseek-chat":     text(0.28, 0.42, 0.028),
	"deepseek-reasoner": text(0.28, 0.42, 0.028),

	// xAI (prompts over 128k tokens at the long-context tier) and Mistral.
	"grok-4":                    tier(text(3, 15, 0.75), 128_000, text(6, 30, 1.50)),
	"grok-4-fast-reasoning":     tier(text(0.20, 0.50, 0.05), 128_000, text(0.40, 1, 0.05)),
	"grok-4-fast-non-reasoning": tier(text(0.20, 0.50, 0.05), 128_000, text(0.40, 1, 0.05)),
	"grok-code-fast-1":          text(0.20, 1.50, 0.02),
	"grok-3":                    text(3, 15, 0.75),
	"grok-3-mini":               text(0.30, 0.50, 0.075),
	"mistral-large-latest":      text(2, 6, 0),
	"mistral-medium-latest":     text(0.40, 2, 0),
	"mistral-small-latest":      text(0.10, 0.30, 0),
	"codestral-latest":          text(0.30, 0.90, 0),
	"mistral-embed":             text(0.10, 0, 0),

	// The built-in simulator: small but non-zero so a demo ledger shows
	// costs. "simulator-*" and "sim-1-*" are explicit pattern entries:
	// every model the demo channels offer is priced on purpose.
	"simulator":   text(0.10, 0.40, 0.01),
	"simulator-*": text(0.10, 0.40, 0.01),
	"sim-1":       text(0.10, 0.40, 0.01),
	"sim-1-*":     text(0.10, 0.40, 0.01),

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

// builtinAliases prices dated snapshots and "-latest" names as the model
// they are a version of, where the provider bills them alike. A snapshot
// not listed here is unpriced until an operator aliases or prices it:
// snapshots have been priced differently (gpt-4o-2024-05-13).
var builtinAliases = map[string]string{
	"gpt-5.1-2025-11-13":                      "gpt-5.1",
	"gpt-5-2025-08-07":                        "gpt-5",
	"gpt-5-mini-2025-08-07":                   "gpt-5-mini",
	"gpt-5-nano-2025-08-07":                   "gpt-5-nano",
	"gpt-5-pro-2025-10-06":                    "gpt-5-pro",
	"gpt-4.1-2025-04-14":                      "gpt-4.1",
	"gpt-4.1-mini-2025-04-14":                 "gpt-4.1-mini",
	"gpt-4.1-nano-2025-04-14":                 "gpt-4.1-nano",
	"gpt-4o-2024-08-06":                       "gpt-4o",
	"gpt-4o-2024-11-20":                       "gpt-4o",
	"gpt-4o-mini-2024-07-18":                  "gpt-4o-mini",
	"gpt-4.5-preview-2025-02-27":              "gpt-4.5-preview",
	"gpt-4-turbo-2024-04-09":                  "gpt-4-turbo",
	"gpt-4-0613":                              "gpt-4",
	"gpt-3.5-turbo-0125":                      "gpt-3.5-turbo",
	"o1-2024-12-17":                           "o1",
	"o1-mini-2024-09-12":                      "o1-mini",
	"o1-pro-2025-03-19":                       "o1-pro",
	"o3-2025-04-16":                           "o3",
	"o3-pro-2025-06-10":                       "o3-pro",
	"o3-mini-2025-01-31":                      "o3-mini",
	"o4-mini-2025-04-16":                      "o4-mini",
	"o3-deep-research-2025-06-26":             "o3-deep-research",
	"o4-mini-deep-research-2025-06-26":        "o4-mini-deep-research",
	"computer-use-preview-2025-03-11":         "computer-use-preview",
	"gpt-4o-search-preview-2025-03-11":        "gpt-4o-search-preview",
	"gpt-4o-mini-search-preview-2025-03-11":   "gpt-4o-mini-search-preview",
	"gpt-4o-audio-preview-2024-12-17":         "gpt-4o-audio-preview",
	"gpt-4o-audio-preview-2025-06-03":         "gpt-4o-audio-preview",
	"gpt-4o-mini-audio-preview-2024-12-17":    "gpt-4o-mini-audio-preview",
	"gpt-audio-2025-08-28":                    "gpt-audio",
	"gpt-audio-mini-2025-10-06":               "gpt-audio-mini",
	"gpt-realtime-2025-08-28":                 "gpt-realtime",
	"gpt-realtime-mini-2025-10-06":            "gpt-realtime-mini",
	"gpt-4o-realtime-preview-2024-12-17":      "gpt-4o-realtime-preview",
	"gpt-4o-realtime-preview-2025-06-03":      "gpt-4o-realtime-preview",
	"gpt-4o-mini-realtime-preview-2024-12-17": "gpt-4o-mini-realtime-preview",
	"gpt-4o-mini-tts-2025-03-20":              "gpt-4o-mini-tts",
	"gpt-image-1-2025-04-23":                  "gpt-image-1",

	"claude-opus-4-5-20251101":   "claude-opus-4-5",
	"claude-opus-4-1-20250805":   "claude-opus-4-1",
	"claude-opus-4-20250514":     "claude-opus-4",
	"claude-opus-4-0":            "claude-opus-4",
	"claude-sonnet-4-5-20250929": "claude-sonnet-4-5",
	"claude-sonnet-4-20250514":   "claude-sonnet-4",
	"claude-sonnet-4-0":          "claude-sonnet-4",
	"claude-haiku-4-5-20251001":  "claude-haiku-4-5",
	"claude-3-7-sonnet-20250219": "claude-3-7-sonnet",
	"claude-3-7-sonnet-latest":   "claude-3-7-sonnet",
	"claude-3-5-sonnet-20241022": "claude-3-5-sonnet",
	"claude-3-5-sonnet-20240620": "claude-3-5-sonnet",
	"claude-3-5-sonnet-latest":   "claude-3-5-sonnet",
	"claude-3-5-haiku-20241022":  "claude-3-5-haiku",
	"claude-3-5-haiku-latest":    "claude-3-5-haiku",
	"claude-3-opus-20240229":     "claude-3-opus",
	"claude-3-opus-latest":       "claude-3-opus",
	"claude-3-haiku-20240307":    "claude-3-haiku",

	"gemini-2.5-pro-preview-06-05":          "gemini-2.5-pro",
	"gemini-2.5-pro-preview-05-06":          "gemini-2.5-pro",
	"gemini-2.5-flash-preview-09-2025":      "gemini-2.5-flash",
	"gemini-2.5-flash-preview-05-20":        "gemini-2.5-flash",
	"gemini-2.5-flash-lite-preview-09-2025": "gemini-2.5-flash-lite",
	"gemini-2.5-flash-lite-preview-06-17":   "gemini-2.5-flash-lite",
	"gemini-2.5-flash-image-preview":        "gemini-2.5-flash-image",
	"gemini-2.0-flash-001":                  "gemini-2.0-flash",
	"gemini-2.0-flash-lite-001":             "gemini-2.0-flash-lite",
	"gemini-1.5-pro-002":                    "gemini-1.5-pro",
	"gemini-1.5-flash-002":                  "gemini-1.5-flash",

	"grok-4-0709": "grok-4",
}

// Image worst cases per image part, from the providers' vision docs:
//   - OpenAI tile models (high detail: fit in 2048², shortest side 768,
//     at most 8 tiles of 512²): gpt-4o 85+170×8 = 1445, gpt-4o-mini
//     2833+5667×8 = 48169, o1/o3 75+150×8 = 1275. Patch models (32 px
//     patches, at most 1536, times a multiplier): gpt-4.1-mini 1.62 →
//     2489, gpt-4.1-nano 2.46 → 3779, o4-mini 1.72 → 2642. The GPT-5
//     family is given the largest patch bound, 3779, as its rule is not
//     published in this form.
//   - Anthropic: tokens ≈ width×height/750 after resizing to at most
//     ~1.15 megapixels: about 1,600 per image.
//   - Gemini: 258 tokens per 768² tile; 2.x is given 16 tiles (4128),
//     Gemini 3 twice its 1120-token high resolution (2240), as the largest
//     counts are not published.
//
// Audio, video and documents have no per-part bound here: they bound the
// prompt by the context window.
const (
	imgGPT4o     = 1445
	imgGPT4oMini = 48169
	imgO         = 1275
	imgPatchMax  = 3779
	imgClaude    = 1600
	imgGemini2   = 4128
	imgGemini3   = 2240
)

var builtinLimits = map[string]Limits{
	"gpt-5.1":               {400_000, 128_000, imgPatchMax},
	"gpt-5.1-chat-latest":   {128_000, 16_384, imgPatchMax},
	"gpt-5.1-codex":         {400_000, 128_000, imgPatchMax},
	"gpt-5.1-codex-max":     {400_000, 128_000, imgPatchMax},
	"gpt-5.1-codex-mini":    {400_000, 128_000, imgPatchMax},
	"gpt-5":                 {400_000, 128_000, imgPatchMax},
	"gpt-5-chat-latest":     {128_000, 16_384, imgPatchMax},
	"gpt-5-codex":           {400_000, 128_000, imgPatchMax},
	"gpt-5-mini":            {400_000, 128_000, imgPatchMax},
	"gpt-5-nano":            {400_000, 128_000, imgPatchMax},
	"gpt-5-pro":             {400_000, 272_000, imgPatchMax},
	"gpt-4.1":               {1_047_576, 32_768, imgGPT4o},
	"gpt-4.1-mini":          {1_047_576, 32_768, 2489},
	"gpt-4.1-nano":          {1_047_576, 32_768, 3779},
	"gpt-4o":                {128_000, 16_384, imgGPT4o},
	"gpt-4o-2024-05-13":     {128_000, 4_096, imgGPT4o},
	"gpt-4o-mini":           {128_000, 16_384, imgGPT4oMini},
	"chatgpt-4o-latest":     {128_000, 16_384, imgGPT4o},
	"gpt-4.5-preview":       {128_000, 16_384, imgGPT4o},
	"gpt-4-turbo":           {128_000, 4_096, imgGPT4o},
	"gpt-4":                 {8_192, 8_192, 0},
	"gpt-3.5-turbo":         {16_385, 4_096, 0},
	"o1":                    {200_000, 100_000, imgO},
	"o1-mini":               {128_000, 65_536, 0},
	"o1-pro":                {200_000, 100_000, imgO},
	"o3":                    {200_000, 100_000, imgO},
	"o3-pro":                {200_000, 100_000, imgO},
	"o3-mini":               {200_000, 100_000, 0},
	"o4-mini":               {200_000, 100_000, 2642},
	"o3-deep-research":      {200_000, 100_000, imgO},
	"o4-mini-deep-research": {200_000, 100_000, 2642},
	"codex-mini-latest":     {200_000, 100_000, 2642},
	"computer-use-preview":  {8_192, 1_024, imgPatchMax},

	"gpt-4o-search-preview":        {128_000, 16_384, 0},
	"gpt-4o-mini-search-preview":   {128_000, 16_384, 0},
	"gpt-4o-audio-preview":         {128_000, 16_384, 0},
	"gpt-4o-mini-audio-preview":    {128_000, 16_384, 0},
	"gpt-audio":                    {128_000, 16_384, 0},
	"gpt-audio-mini":               {128_000, 16_384, 0},
	"gpt-realtime":                 {32_000, 4_096, imgGPT4o},
	"gpt-realtime-mini":            {32_000, 4_096, imgGPT4o},
	"gpt-4o-realtime-preview":      {32_000, 4_096, 0},
	"gpt-4o-mini-realtime-preview": {16_000, 4_096, 0},
	"gpt-4o-transcribe":            {16_000, 2_000, 0},
	"gpt-4o-mini-transcribe":       {16_000, 2_000, 0},
	// 2000 input tokens of text read aloud: about 27 minutes of speech at
	// the published ~1250 audio tokens a minute.
	"gpt-4o-mini-tts": {2_000, 64_000, 0},
	// gpt-image: one high-quality 1024x1536 image is 6240 output tokens.
	"gpt-image-1":      {0, 6_240, imgGPT4o},
	"gpt-image-1-mini": {0, 6_240, imgGPT4o},

	"claude-opus-4-6":   {1_000_000, 128_000, imgClaude},
	"claude-sonnet-4-6": {1_000_000, 64_000, imgClaude},
	"claude-opus-4-5":   {200_000, 64_000, imgClaude},
	"claude-opus-4-1":   {200_000, 32_000, imgClaude},
	"claude-opus-4":     {200_000, 32_000, imgClaude},
	"claude-sonnet-4-5": {1_000_000, 64_000, imgClaude},
	"claude-sonnet-4":   {1_000_000, 64_000, imgClaude},
	"claude-haiku-4-5":  {200_000, 64_000, imgClaude},
	// 128k with the output-128k beta header, which clients may send.
	"claude-3-7-sonnet": {200_000, 128_000, imgClaude},
	"claude-3-5-sonnet": {200_000, 8_192, imgClaude},
	"claude-3-5-haiku":  {200_000, 8_192, imgClaude},
	"claude-3-opus":     {200_000, 4_096, imgClaude},
	"claude-3-haiku":    {200_000, 4_096, imgClaude},

	"gemini-3-pro-preview":       {1_048_576, 65_536, imgGemini3},
	"gemini-3-pro-image-preview": {65_536, 32_768, imgGemini3},
	"gemini-2.5-pro":             {1_048_576, 65_536, imgGemini2},
	"gemini-2.5-flash":           {1_048_576, 65_536, imgGemini2},
	"gemini-2.5-flash-lite":      {1_048_576, 65_536, imgGemini2},
	"gemini-2.5-flash-image":     {32_768, 32_768, imgGemini2},
	"gemini-2.0-flash":           {1_048_576, 8_192, imgGemini2},
	"gemini-2.0-flash-lite":      {1_048_576, 8_192, imgGemini2},
	"gemini-1.5-pro":             {2_097_152, 8_192, imgGemini2},
	"gemini-1.5-flash":           {1_048_576, 8_192, imgGemini2},
	"gemini-embedding-001":       {2_048, 0, 0},

	"text-embedding-3-small": {8_191, 0, 0},
	"text-embedding-3-large": {8_191, 0, 0},
	"text-embedding-ada-002": {8_191, 0, 0},

	"deepseek-chat":     {128_000, 8_192, 0},
	"deepseek-reasoner": {128_000, 65_536, 0},

	"grok-4":                    {256_000, 0, 0},
	"grok-4-fast-reasoning":     {2_000_000, 0, 0},
	"grok-4-fast-non-reasoning": {2_000_000, 0, 0},
	"grok-code-fast-1":          {256_000, 0, 0},
	"grok-3":                    {131_072, 0, 0},
	"grok-3-mini":               {131_072, 0, 0},
	"mistral-large-latest":      {128_000, 0, 0},
	"mistral-medium-latest":     {128_000, 0, 0},
	"mistral-small-latest":      {128_000, 0, 0},
	"codestral-latest":          {256_000, 0, 0},

	"simulator":   {128_000, 4_096, 0},
	"simulator-*": {128_000, 4_096, 0},
	"sim-1":       {128_000, 4_096, 0},
	"sim-1-*":     {128_000, 4_096, 0},
}
