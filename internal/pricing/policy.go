package pricing

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"switchboard/internal/gateway"
)

// UnpricedPolicy says what happens to a call whose price is unknown
// (config `pricing.unpriced`).
type UnpricedPolicy string

const (
	// UnpricedRefuse refuses such calls for keys with a budget, before any
	// upstream call (a budget cannot bound what it cannot price); keys
	// without a budget go ahead and the record is marked unpriced. The
	// default.
	UnpricedRefuse UnpricedPolicy = "refuse"
	// UnpricedWarn lets every key through, charges nothing, marks the
	// record unpriced and logs the model once.
	UnpricedWarn UnpricedPolicy = "warn"
	// UnpricedFree is UnpricedWarn without the log line.
	UnpricedFree UnpricedPolicy = "free"
)

// ParseUnpricedPolicy validates a policy name; "" is UnpricedRefuse.
func ParseUnpricedPolicy(s string) (UnpricedPolicy, error) {
	switch p := UnpricedPolicy(strings.TrimSpace(s)); p {
	case "":
		return UnpricedRefuse, nil
	case UnpricedRefuse, UnpricedWarn, UnpricedFree:
		return p, nil
	}
	return "", fmt.Errorf("unknown unpriced policy %q (want refuse, warn or free)", s)
}

// Admit decides a call whose price is unknown: whether it may go ahead
// for key, and whether to log the model (once per model: the caller
// remembers which it logged).
func (p UnpricedPolicy) Admit(key *gateway.Key) (admit, warn bool) {
	switch p {
	case UnpricedFree:
		return true, false
	case UnpricedWarn:
		return true, true
	}
	return key == nil || key.BudgetNanoUSD <= 0, true
}

// RefuseUnpriced is the error for a budget key calling a model without a
// price, rendered in the caller's format by the relay.
func RefuseUnpriced(clientModel string, upstreamModels []string) *gateway.Error {
	msg := fmt.Sprintf("model %q has no price, and this key has a budget: the gateway cannot bound what the call would cost", clientModel)
	if len(upstreamModels) > 0 && !(len(upstreamModels) == 1 && upstreamModels[0] == clientModel) {
		msg += fmt.Sprintf(" (unpriced upstream models: %s)", strings.Join(upstreamModels, ", "))
	}
	return &gateway.Error{Kind: gateway.KindPermission, Message: msg + "; ask the operator to add a price", Code: "model_not_priced"}
}

// UnpricedRoute is a model a channel serves that has no price.
type UnpricedRoute struct {
	Channel       string
	Model         string // client-facing name, or the channel's glob
	UpstreamModel string
	// Glob: the channel serves a pattern; names matching it are priced
	// only if the table knows them, which cannot be checked in advance.
	Glob bool
}

// UnpricedRoutes lists every routable model without a price, for a
// one-time warning at start: each enabled channel's model names and
// model_map entries that neither the operator priced (client name) nor the
// table prices (upstream name), and the glob patterns no explicit pattern
// entry covers.
func (t *Table) UnpricedRoutes(channels []gateway.Channel) []UnpricedRoute {
	var out []UnpricedRoute
	for i := range channels {
		ch := &channels[i]
		if !ch.Enabled {
			continue
		}
		names := slices.Clone(ch.Models)
		for m := range ch.ModelMap {
			if !slices.Contains(names, m) {
				names = append(names, m)
			}
		}
		slices.Sort(names)
		for _, m := range names {
			if isGlob(m) {
				if _, mapped := ch.ModelMap[m]; !mapped && !t.coversGlob(m) {
					out = append(out, UnpricedRoute{Channel: ch.Name, Model: m, Glob: true})
				}
				continue
			}
			up := ch.UpstreamModel(m)
			if _, ok := t.OperatorPrice(m); ok {
				continue
			}
			if _, ok := t.Lookup(up); ok {
				continue
			}
			out = append(out, UnpricedRoute{Channel: ch.Name, Model: m, UpstreamModel: up})
		}
	}
	return out
}

func isGlob(m string) bool { return strings.ContainsAny(m, "*?[") }

// coversGlob reports whether an explicit pattern entry prices every name
// glob can match ("simulator-*" is covered by the entry "simulator-*").
func (t *Table) coversGlob(glob string) bool {
	g := norm(glob)
	for _, p := range t.patterns {
		if g == p {
			return true
		}
		if prefix, ok := strings.CutSuffix(g, "*"); ok && !isGlob(prefix) && strings.HasPrefix(prefix, p[:len(p)-1]) {
			return true
		}
	}
	_, err := path.Match(g, "")
	return err != nil // an invalid glob matches nothing
}
