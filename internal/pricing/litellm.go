package pricing

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"switchboard/internal/gateway"
)

// litellmEntry is one model of LiteLLM's community catalog
// (model_prices_and_context_window.json): dollars per token, per image, per
// second or per character; fields this package has no use for are ignored,
// so newer catalogs still load.
type litellmEntry struct {
	Provider string `json:"litellm_provider"`

	MaxInputTokens  any `json:"max_input_tokens"`
	MaxOutputTokens any `json:"max_output_tokens"`
	MaxTokens       any `json:"max_tokens"`

	Input        *float64 `json:"input_cost_per_token"`
	Output       *float64 `json:"output_cost_per_token"`
	CacheRead    *float64 `json:"cache_read_input_token_cost"`
	CacheWrite   *float64 `json:"cache_creation_input_token_cost"`
	CacheWrite1h *float64 `json:"cache_creation_input_token_cost_above_1hr"`
	AudioIn      *float64 `json:"input_cost_per_audio_token"`
	AudioOut     *float64 `json:"output_cost_per_audio_token"`
	Reasoning    *float64 `json:"output_cost_per_reasoning_token"`
	ImageIn      *float64 `json:"input_cost_per_image_token"`
	ImageOut     *float64 `json:"output_cost_per_image_token"`

	Input200k      *float64 `json:"input_cost_per_token_above_200k_tokens"`
	Output200k     *float64 `json:"output_cost_per_token_above_200k_tokens"`
	CacheRead200k  *float64 `json:"cache_read_input_token_cost_above_200k_tokens"`
	CacheWrite200k *float64 `json:"cache_creation_input_token_cost_above_200k_tokens"`
	Input128k      *float64 `json:"input_cost_per_token_above_128k_tokens"`
	Output128k     *float64 `json:"output_cost_per_token_above_128k_tokens"`

	PerImage     *float64 `json:"output_cost_per_image"`
	PerVideoSec  *float64 `json:"output_cost_per_second"`
	PerAudioSec  *float64 `json:"input_cost_per_second"`
	PerCharacter *float64 `json:"input_cost_per_character"`
	PerQuery     *float64 `json:"search_cost_per_query"`
}

// firstParty are the catalog's providers whose models are also listed by
// their bare name ("gemini/gemini-2.5-pro" prices "gemini-2.5-pro" too),
// unless the catalog has the bare name itself.
var firstParty = []string{"openai", "text-completion-openai", "anthropic", "gemini", "xai", "mistral", "deepseek"}

// ParseLiteLLM reads LiteLLM's model_prices_and_context_window.json: list
// prices and model limits, by model name. Entries without any price
// (sample_spec, or models LiteLLM only describes) are skipped.
func ParseLiteLLM(data []byte) (map[string]gateway.Price, map[string]Limits, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, nil, fmt.Errorf("litellm catalog: %w", err)
	}
	prices := map[string]gateway.Price{}
	limits := map[string]Limits{}
	bare := map[string]string{} // bare name → catalog key
	names := make([]string, 0, len(raw))
	for name := range raw {
		names = append(names, name)
	}
	slices.Sort(names) // deterministic when two prefixed keys share a bare name
	for _, name := range names {
		if name == "sample_spec" {
			continue
		}
		var e litellmEntry
		if err := json.Unmarshal(raw[name], &e); err != nil {
			return nil, nil, fmt.Errorf("litellm catalog: model %q: %w", name, err)
		}
		p, ok, err := e.price()
		if err != nil {
			return nil, nil, fmt.Errorf("litellm catalog: model %q: %w", name, err)
		}
		if !ok {
			continue
		}
		prices[name] = p
		limits[name] = e.limits()
		if i := strings.LastIndexByte(name, '/'); i >= 0 && slices.Contains(firstParty, e.Provider) {
			if b := name[i+1:]; b != "" {
				if _, taken := bare[b]; !taken {
					bare[b] = name
				}
			}
		}
	}
	for b, key := range bare {
		if _, own := prices[b]; !own {
			prices[b] = prices[key]
			limits[b] = limits[key]
		}
	}
	return prices, limits, nil
}

// perMillion converts dollars per token (or per unit) to nano-USD per
// million of them.
func perMillion(v *float64) (int64, error) {
	if v == nil {
		return 0, nil
	}
	f := *v * 1e15
	if math.IsNaN(f) || f < 0 || f > math.MaxInt64/2 {
		return 0, fmt.Errorf("price %g out of range", *v)
	}
	return int64(math.Round(f)), nil
}

func (e *litellmEntry) price() (gateway.Price, bool, error) {
	var p gateway.Price
	var errs []error
	set := func(dst *int64, v *float64) {
		n, err := perMillion(v)
		if err != nil {
			errs = append(errs, err)
		}
		*dst = n
	}
	set(&p.InputPerMTok, e.Input)
	set(&p.OutputPerMTok, e.Output)
	set(&p.CachedInputPerMTok, e.CacheRead)
	set(&p.CacheWritePerMTok, e.CacheWrite)
	set(&p.CacheWrite1hPerMTok, e.CacheWrite1h)
	set(&p.AudioInputPerMTok, e.AudioIn)
	set(&p.AudioOutputPerMTok, e.AudioOut)
	set(&p.ReasoningPerMTok, e.Reasoning)
	set(&p.ImageInputPerMTok, e.ImageIn)
	set(&p.ImageOutputPerMTok, e.ImageOut)
	for _, u := range []struct {
		name string
		v    *float64
	}{
		{gateway.UnitImage, e.PerImage}, {gateway.UnitVideoSecond, e.PerVideoSec},
		{gateway.UnitAudioSecond, e.PerAudioSec}, {gateway.UnitCharacter, e.PerCharacter},
		{gateway.UnitWebSearch, e.PerQuery},
	} {
		if u.v == nil {
			continue
		}
		var per int64
		set(&per, u.v)
		p.Units = append(p.Units, gateway.UnitPrice{Unit: u.name, PerMUnits: per})
	}
	for _, tr := range []struct {
		above                       int64
		in, out, cacheRead, cacheWr *float64
	}{
		{128_000, e.Input128k, e.Output128k, nil, nil},
		{200_000, e.Input200k, e.Output200k, e.CacheRead200k, e.CacheWrite200k},
	} {
		if tr.in == nil && tr.out == nil {
			continue
		}
		t := p
		t.Units, t.Tiers = nil, nil
		for _, f := range []struct {
			dst *int64
			v   *float64
		}{{&t.InputPerMTok, tr.in}, {&t.OutputPerMTok, tr.out}, {&t.CachedInputPerMTok, tr.cacheRead}, {&t.CacheWritePerMTok, tr.cacheWr}} {
			if f.v != nil {
				set(f.dst, f.v)
			}
		}
		if tr.in != nil && p.InputPerMTok > 0 && p.CacheWrite1hPerMTok > 0 && t.InputPerMTok <= math.MaxInt64/ppm {
			// The catalog has no long-context one-hour write price:
			// provider cache multipliers stack on the tier's input price.
			t.CacheWrite1hPerMTok = scale(p.CacheWrite1hPerMTok, t.InputPerMTok*ppm/p.InputPerMTok)
		}
		p.Tiers = append(p.Tiers, gateway.PriceTier{AbovePromptTokens: tr.above, Price: t})
	}
	if len(errs) > 0 {
		return p, false, errs[0]
	}
	priced := e.Input != nil || e.Output != nil || len(p.Units) > 0
	return p, priced, nil
}

func (e *litellmEntry) limits() Limits {
	n := func(v any) int64 {
		switch x := v.(type) {
		case float64:
			if x > 0 && x < math.MaxInt32 {
				return int64(x)
			}
		case string:
			if i, err := strconv.ParseInt(x, 10, 64); err == nil && i > 0 {
				return i
			}
		}
		return 0
	}
	l := Limits{ContextWindow: n(e.MaxInputTokens), MaxOutput: n(e.MaxOutputTokens)}
	if l.MaxOutput == 0 && l.ContextWindow > 0 && n(e.MaxTokens) < l.ContextWindow {
		// Older entries carry only max_tokens, which then means output.
		l.MaxOutput = n(e.MaxTokens)
	}
	return l
}
