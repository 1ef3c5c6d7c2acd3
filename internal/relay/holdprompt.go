package relay

import (
	"encoding/json"
	"strings"

	"github.com/tidwall/gjson"

	"switchboard/internal/gateway"
	"switchboard/internal/llm"
	"switchboard/internal/pricing"
)

// inlineMin is the length from which a string inside a media part is taken
// for its inline payload (base64 data, a data: URL) rather than prompt
// text: payloads are billed per part, not per byte.
const inlineMin = 256

// maxServerSearches bounds the searches a request's tools may claim.
const maxServerSearches = 1 << 20

// maxScanDepth bounds the walk over a request body (jsonguard bounds the
// nesting of what reaches the relay far below this anyway).
const maxScanDepth = 64

// jsonPrompt describes a request body in any wire format (OpenAI chat,
// Anthropic messages, Gemini generateContent) by its parts: its bytes but
// inline media payloads, its image parts, its other media parts (audio,
// video, files, documents) and whether it marks content for caching.
func jsonPrompt(body []byte) pricing.Prompt {
	p := pricing.Prompt{TextBytes: int64(len(body))}
	var walk func(v gjson.Result, depth int)
	walk = func(v gjson.Result, depth int) {
		if depth > maxScanDepth {
			return
		}
		if v.IsArray() {
			v.ForEach(func(_, x gjson.Result) bool {
				walk(x, depth+1)
				return true
			})
			return
		}
		if !v.IsObject() {
			return
		}
		if image, media := mediaPart(v); media {
			if image {
				p.Images++
			} else {
				p.OtherMedia++
			}
			p.TextBytes -= inlineBytes(v, depth)
			return
		}
		v.ForEach(func(k, x gjson.Result) bool {
			if k.Str == "cache_control" {
				p.CacheWrites = true
			}
			walk(x, depth+1)
			return true
		})
	}
	walk(gjson.ParseBytes(body), 0)
	p.TextBytes = max(p.TextBytes, 0)
	return p
}

// mediaPart reports whether the object v is a media part of a prompt, and
// whether it is an image.
func mediaPart(v gjson.Result) (image, media bool) {
	switch v.Get("type").Str {
	case "image_url", "image", "input_image":
		return true, true
	case "input_audio", "audio", "input_file", "file", "document", "video_url", "input_video", "video":
		return false, true
	}
	// Gemini parts: {"inlineData": {"mimeType": ..., "data": ...}} or
	// {"fileData": {"mimeType": ..., "fileUri": ...}}.
	for _, k := range [...]string{"inlineData", "inline_data", "fileData", "file_data"} {
		d := v.Get(k)
		if !d.IsObject() {
			continue
		}
		mt := d.Get("mimeType")
		if !mt.Exists() {
			mt = d.Get("mime_type")
		}
		return strings.HasPrefix(mt.Str, "image/"), true
	}
	return false, false
}

// inlineBytes is the size of the inline payloads under v: strings of at
// least inlineMin bytes, as they appear in the body.
func inlineBytes(v gjson.Result, depth int) int64 {
	if depth > maxScanDepth {
		return 0
	}
	switch {
	case v.Type == gjson.String:
		if len(v.Raw) >= inlineMin {
			return int64(len(v.Raw))
		}
	case v.IsArray() || v.IsObject():
		var n int64
		v.ForEach(func(_, x gjson.Result) bool {
			n += inlineBytes(x, depth+1)
			return true
		})
		return n
	}
	return 0
}

// hubPrompt describes a Go caller's request by its parts, like jsonPrompt.
func hubPrompt(r *llm.Request) pricing.Prompt {
	var p pricing.Prompt
	b, err := json.Marshal(r)
	if err != nil {
		// Unreachable for the hub's plain types; bound the prompt by the
		// context window rather than guess.
		return pricing.Prompt{OtherMedia: 1}
	}
	p.TextBytes = int64(len(b))
	var parts func(ps []llm.Part)
	parts = func(ps []llm.Part) {
		for i := range ps {
			pt := &ps[i]
			if pt.CacheControl != nil {
				p.CacheWrites = true
			}
			switch pt.Type {
			case llm.PartImage:
				p.Images++
				p.TextBytes -= int64(len(pt.Data))
			case llm.PartAudio, llm.PartFile:
				p.OtherMedia++
				p.TextBytes -= int64(len(pt.Data))
			}
			parts(pt.Content)
		}
	}
	parts(r.System)
	for i := range r.Messages {
		parts(r.Messages[i].Parts)
	}
	for i := range r.Tools {
		if r.Tools[i].CacheControl != nil {
			p.CacheWrites = true
		}
	}
	p.TextBytes = max(p.TextBytes, 0)
	return p
}

// serverTools is the most server-side tool use a request allows, as
// metered units, and the model passes that use costs: an Anthropic
// web_search tool searches up to its max_uses (defaultServerSearches when
// unset), and each search re-reads the prompt; a Gemini search tool
// grounds every candidate.
func serverTools(body []byte, n int64) ([]gateway.Metered, int64) {
	var searches, grounded int64
	gjson.GetBytes(body, "tools").ForEach(func(_, t gjson.Result) bool {
		switch {
		case strings.HasPrefix(t.Get("type").Str, "web_search"):
			uses := t.Get("max_uses").Int()
			if uses <= 0 {
				uses = defaultServerSearches
			}
			// Bounded, so that sums cannot overflow; no model pass
			// searches a million times.
			searches = min(searches+min(uses, maxServerSearches), maxServerSearches)
		case t.Get("googleSearch").Exists() || t.Get("google_search").Exists() ||
			t.Get("googleSearchRetrieval").Exists() || t.Get("google_search_retrieval").Exists():
			grounded = n
		}
		return true
	})
	var units []gateway.Metered
	if searches > 0 {
		units = append(units, gateway.Metered{Unit: gateway.UnitWebSearch, Count: searches})
	}
	if grounded > 0 {
		units = append(units, gateway.Metered{Unit: gateway.UnitGroundedPrompt, Count: grounded})
	}
	return units, 1 + searches
}
