package admin

import (
	"net/http"
	"strings"

	"switchboard/internal/gateway"
)

// priceJSON is one entry of the price table in effect. Rates are USD per
// million tokens (per call for per_call_usd); the *_nano fields of the
// config are what the gateway bills with exactly.
type priceJSON struct {
	Model              string  `json:"model"`
	Operator           bool    `json:"operator"` // set by the operator (prices:, the price file), not a list price
	InputPerMTok       float64 `json:"input_per_mtok"`
	OutputPerMTok      float64 `json:"output_per_mtok"`
	CachedInputPerMTok float64 `json:"cached_input_per_mtok,omitempty"`
	CacheWritePerMTok  float64 `json:"cache_write_per_mtok,omitempty"`
	ReasoningPerMTok   float64 `json:"reasoning_per_mtok,omitempty"`
	PerCallUSD         float64 `json:"per_call_usd,omitempty"`
	Units              int     `json:"priced_units,omitempty"`
	Tiers              int     `json:"long_context_tiers,omitempty"`
}

type unpricedJSON struct {
	Channel       string `json:"channel"`
	Model         string `json:"model"`
	UpstreamModel string `json:"upstream_model,omitempty"`
	Glob          bool   `json:"glob"`
}

type pricesJSON struct {
	Object string      `json:"object"`
	Data   []priceJSON `json:"data"`
	// Unpriced lists what the enabled channels route today without a price.
	Unpriced []unpricedJSON `json:"unpriced"`
}

func toPriceJSON(model string, p gateway.Price, operator bool) priceJSON {
	return priceJSON{
		Model: model, Operator: operator,
		InputPerMTok: usd(p.InputPerMTok), OutputPerMTok: usd(p.OutputPerMTok),
		CachedInputPerMTok: usd(p.CachedInputPerMTok), CacheWritePerMTok: usd(p.CacheWritePerMTok),
		ReasoningPerMTok: usd(p.ReasoningPerMTok), PerCallUSD: usd(p.PerCall),
		Units: len(p.Units), Tiers: len(p.Tiers),
	}
}

// prices serves GET /admin/api/prices: the table in effect (?model= keeps
// names containing it; ?operator=true only the operator's entries) and the
// routed models without a price.
func (a *API) prices(w http.ResponseWriter, r *http.Request) {
	t := a.d.Prices
	if t == nil {
		a.fail(w, r, errorf(http.StatusNotImplemented, "this node has no price table"))
		return
	}
	q := r.URL.Query()
	filter := strings.ToLower(q.Get("model"))
	onlyOperator := q.Get("operator") == "true"
	out := pricesJSON{Object: "list", Data: []priceJSON{}, Unpriced: []unpricedJSON{}}
	for _, m := range t.Models() {
		if filter != "" && !strings.Contains(strings.ToLower(m), filter) {
			continue
		}
		p, ok := t.Lookup(m)
		if !ok {
			continue
		}
		_, op := t.OperatorPrice(m)
		if onlyOperator && !op {
			continue
		}
		out.Data = append(out.Data, toPriceJSON(m, p, op))
	}
	chs, err := a.d.Store.ListChannels(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	for _, u := range t.UnpricedRoutes(chs) {
		out.Unpriced = append(out.Unpriced, unpricedJSON{Channel: u.Channel, Model: u.Model, UpstreamModel: u.UpstreamModel, Glob: u.Glob})
	}
	writeJSON(w, http.StatusOK, out)
}
