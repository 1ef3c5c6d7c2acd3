// Package pricing knows what model calls cost: a built-in table of public
// list prices, operator overrides, model-name normalisation, and exact
// integer cost arithmetic in nano-USD.
//
// A model the table does not know is reported as unknown (Lookup's false),
// never priced at $0 silently: callers record that the cost is missing.
package pricing

import (
	"maps"
	"slices"
	"strings"

	"switchboard/internal/gateway"
)

// Table maps model names to prices. It is immutable after construction and
// safe for concurrent use.
type Table struct {
	prices map[string]gateway.Price
	// units prices metered units per model: model → "kind/variant" or
	// "kind" → nano-USD per unit.
	units map[string]map[string]int64
	// families holds the names usable as prefix families, longest first.
	families []string
}

// New builds a table from prices keyed by model name. Names are matched
// case-insensitively.
func New(prices map[string]gateway.Price) *Table {
	t := &Table{prices: make(map[string]gateway.Price, len(prices))}
	for name, p := range prices {
		t.prices[strings.ToLower(strings.TrimSpace(name))] = p
	}
	t.index()
	return t
}

func (t *Table) index() {
	t.families = slices.Collect(maps.Keys(t.prices))
	slices.SortFunc(t.families, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
}

// Builtin returns the built-in table of list prices.
func Builtin() *Table { return New(builtin) }

// With returns a copy of t in which each override replaces the whole entry
// of its model (fields are not merged: a zero field means "same as input"
// or "same as output", so merging would be ambiguous).
func (t *Table) With(overrides map[string]gateway.Price) *Table {
	out := &Table{prices: maps.Clone(t.prices), units: t.units}
	if out.prices == nil {
		out.prices = map[string]gateway.Price{}
	}
	for name, p := range overrides {
		out.prices[strings.ToLower(strings.TrimSpace(name))] = p
	}
	out.index()
	return out
}

// Models lists the table's model names, sorted.
func (t *Table) Models() []string {
	return slices.Sorted(maps.Keys(t.prices))
}

// Lookup returns the price of model. See Match for how names are matched.
func (t *Table) Lookup(model string) (gateway.Price, bool) {
	_, p, ok := t.Match(model)
	return p, ok
}

// Match returns the table entry model is priced as. It tries, in order:
// the exact name; the name without a provider prefix ("openai/",
// "anthropic/", "models/", or anything up to the last "/"); without a date
// or "-latest" suffix ("-2024-11-20", "-20250514", "-latest"); without a
// "-thinking" suffix; and finally the longest table entry that is a prefix
// of the name followed by "-" (so "gpt-4o-mini-tts-x" is priced as
// "gpt-4o-mini-tts" or else "gpt-4o-mini", never "gpt-4o"). Matching is
// case-insensitive.
func (t *Table) Match(model string) (string, gateway.Price, bool) {
	if t == nil {
		return "", gateway.Price{}, false
	}
	name := strings.TrimSpace(model)
	if p, ok := t.prices[name]; ok {
		return name, p, true
	}
	name = strings.ToLower(name)
	if p, ok := t.prices[name]; ok {
		return name, p, true
	}
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
		if p, ok := t.prices[name]; ok {
			return name, p, true
		}
	}
	for range 3 {
		trimmed := trimSuffixes(name)
		if trimmed == name {
			break
		}
		name = trimmed
		if p, ok := t.prices[name]; ok {
			return name, p, true
		}
	}
	for _, fam := range t.families {
		if len(fam) < len(name) && name[len(fam)] == '-' && strings.HasPrefix(name, fam) {
			return fam, t.prices[fam], true
		}
	}
	return "", gateway.Price{}, false
}

// trimSuffixes removes one layer of version-like suffixes.
func trimSuffixes(name string) string {
	for _, s := range []string{"-latest", "-thinking"} {
		if n, ok := strings.CutSuffix(name, s); ok && n != "" {
			return n
		}
	}
	// -YYYYMMDD (Anthropic) or -YYYY-MM-DD (OpenAI).
	if i := strings.LastIndexByte(name, '-'); i > 0 && len(name)-i-1 == 8 && allDigits(name[i+1:]) {
		return name[:i]
	}
	if n := len(name); n > 11 && name[n-11] == '-' && name[n-6] == '-' && name[n-3] == '-' &&
		allDigits(name[n-10:n-6]) && allDigits(name[n-5:n-3]) && allDigits(name[n-2:]) {
		return name[:n-11]
	}
	return name
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// WithUnitPrices returns a copy of t that also prices units: for each
// model, nano-USD per unit keyed "kind/variant" (an image size and
// quality) or "kind" (every variant without its own entry).
func (t *Table) WithUnitPrices(prices map[string]map[string]int64) *Table {
	out := &Table{prices: t.prices, families: t.families, units: maps.Clone(t.units)}
	if out.units == nil {
		out.units = map[string]map[string]int64{}
	}
	for model, m := range prices {
		out.units[strings.ToLower(strings.TrimSpace(model))] = maps.Clone(m)
	}
	return out
}

// UnitCost is what units of model cost. ok is false when some unit has
// no price: the caller must record the call as not fully priced.
func (t *Table) UnitCost(model string, units []gateway.Unit) (cost int64, ok bool) {
	m := t.units[strings.ToLower(strings.TrimSpace(model))]
	ok = true
	for _, u := range units {
		price, found := m[u.Kind+"/"+u.Variant]
		if !found {
			price, found = m[u.Kind]
		}
		if !found {
			ok = false
			continue
		}
		cost = addSat(cost, mulSat(pos(u.Quantity), pos(price)))
	}
	return cost, ok
}
