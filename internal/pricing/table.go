// Package pricing knows what model calls cost and may cost: a built-in
// table of public list prices and model limits, operator prices and
// aliases, a price-file loader (Switchboard's own format and LiteLLM's
// community catalog), exact integer cost arithmetic in nano-USD, the
// cost-versus-price split of a call, and the worst-case hold of a call
// before it is sent.
//
// A model the table does not know is reported as unknown (Lookup's false),
// never priced at $0 silently, and never priced as a sibling: a name
// matches an entry exactly, through an explicit alias, or through an
// explicit "prefix*" pattern entry, after case and provider prefixes
// ("openai/", "models/") are set aside. Nothing else.
package pricing

import (
	"maps"
	"slices"
	"strings"

	"switchboard/internal/gateway"
)

// Origin says who set a table entry, which decides what a key pays.
type Origin int

const (
	// List prices are what providers publish (the built-in table, a
	// LiteLLM catalog): they price the cost of a call, and are passed on
	// as its price unless the operator set one.
	List Origin = iota
	// Operator prices are the operator's own (`prices:`, the price file):
	// a key calling a model by such a name pays that price.
	Operator
)

type entry struct {
	price  gateway.Price
	origin Origin
}

type alias struct {
	target string
	origin Origin
}

// Table maps model names to prices and limits. It is immutable after
// construction and safe for concurrent use.
type Table struct {
	entries map[string]entry
	aliases map[string]alias
	limits  map[string]Limits
	// patterns are the entry names ending in "*", longest first.
	patterns []string
}

func norm(name string) string { return strings.ToLower(strings.TrimSpace(name)) }

// New builds a table of list prices keyed by model name. Names are matched
// case-insensitively; a name ending in "*" prices every name it prefixes.
func New(prices map[string]gateway.Price) *Table {
	t := &Table{entries: map[string]entry{}, aliases: map[string]alias{}, limits: map[string]Limits{}}
	for name, p := range prices {
		t.entries[norm(name)] = entry{price: p, origin: List}
	}
	t.index()
	return t
}

// Builtin returns the built-in table: list prices, the aliases of dated
// snapshots, and model limits.
func Builtin() *Table {
	t := New(builtin)
	for from, to := range builtinAliases {
		t.aliases[norm(from)] = alias{target: norm(to), origin: List}
	}
	maps.Copy(t.limits, builtinLimits)
	return t
}

func (t *Table) clone() *Table {
	out := &Table{entries: map[string]entry{}, aliases: map[string]alias{}, limits: map[string]Limits{}}
	if t != nil {
		maps.Copy(out.entries, t.entries)
		maps.Copy(out.aliases, t.aliases)
		maps.Copy(out.limits, t.limits)
	}
	return out
}

func (t *Table) index() {
	t.patterns = t.patterns[:0]
	for name := range t.entries {
		if strings.HasSuffix(name, "*") {
			t.patterns = append(t.patterns, name)
		}
	}
	slices.SortFunc(t.patterns, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
}

// With returns a copy of t with operator prices: each replaces the whole
// entry of its model (fields are not merged: a zero field means "same as
// input" or "same as output", so merging would be ambiguous), and a key
// calling that model pays it.
func (t *Table) With(overrides map[string]gateway.Price) *Table {
	return t.with(overrides, Operator)
}

// WithList returns a copy of t with more list prices (a catalog file):
// they replace entries like With does, but price only the cost of calls.
func (t *Table) WithList(prices map[string]gateway.Price) *Table {
	return t.with(prices, List)
}

func (t *Table) with(prices map[string]gateway.Price, origin Origin) *Table {
	out := t.clone()
	for name, p := range prices {
		n := norm(name)
		out.entries[n] = entry{price: p, origin: origin}
		delete(out.aliases, n) // an entry of its own wins over an alias
	}
	out.index()
	return out
}

// WithAliases returns a copy of t in which each name is priced as its
// target (which must itself be priced when the call is billed). Aliases set
// this way are the operator's: a key calling the alias pays the target's
// price.
func (t *Table) WithAliases(aliases map[string]string) *Table {
	return t.withAliases(aliases, Operator)
}

func (t *Table) withAliases(aliases map[string]string, origin Origin) *Table {
	out := t.clone()
	for from, to := range aliases {
		n := norm(from)
		out.aliases[n] = alias{target: norm(to), origin: origin}
		delete(out.entries, n)
	}
	out.index()
	return out
}

// WithLimits returns a copy of t with model limits replaced, field by
// field: a zero field keeps the limit t had.
func (t *Table) WithLimits(limits map[string]Limits) *Table {
	out := t.clone()
	for name, l := range limits {
		n := norm(name)
		out.limits[n] = out.limits[n].merge(l)
	}
	out.patterns = slices.Clone(t.patterns)
	return out
}

// Models lists the table's priced model names (entries and aliases),
// sorted.
func (t *Table) Models() []string {
	if t == nil {
		return nil
	}
	names := slices.Collect(maps.Keys(t.entries))
	for a := range t.aliases {
		names = append(names, a)
	}
	slices.Sort(names)
	return names
}

// Lookup returns the price of model. See Match for how names are matched.
func (t *Table) Lookup(model string) (gateway.Price, bool) {
	_, p, ok := t.Match(model)
	return p, ok
}

// Match returns the table entry model is priced as: the exact name
// (case-insensitive), else an alias of it, else an explicit "prefix*"
// pattern entry (longest first); each tried again without a provider
// prefix ("openai/gpt-4o", "models/gemini-2.5-pro",
// "openrouter/anthropic/claude-sonnet-4"), one leading segment at a time.
// There is no fallback to a family: "gpt-audio-mini" is never priced as
// "gpt-audio", nor "gpt-4o-2025-01-01" as "gpt-4o", unless an alias says so.
func (t *Table) Match(model string) (string, gateway.Price, bool) {
	name, e, ok := t.match(model)
	return name, e.price, ok
}

// OperatorPrice returns model's price when the operator set it (an entry
// or alias from `prices:` or the price file); list prices do not count.
func (t *Table) OperatorPrice(model string) (gateway.Price, bool) {
	_, e, ok := t.match(model)
	if !ok || e.origin != Operator {
		return gateway.Price{}, false
	}
	return e.price, true
}

func (t *Table) match(model string) (string, entry, bool) {
	if t == nil {
		return "", entry{}, false
	}
	name := norm(model)
	for name != "" {
		if n, e, ok := t.exact(name); ok {
			return n, e, true
		}
		i := strings.IndexByte(name, '/')
		if i < 0 {
			break
		}
		name = name[i+1:]
	}
	name = norm(model)
	for name != "" {
		for _, p := range t.patterns {
			if prefix := p[:len(p)-1]; strings.HasPrefix(name, prefix) {
				return p, t.entries[p], true
			}
		}
		i := strings.IndexByte(name, '/')
		if i < 0 {
			break
		}
		name = name[i+1:]
	}
	return "", entry{}, false
}

// maxAliasHops bounds alias chains (an operator alias of a dated
// snapshot's alias), which also makes cycles harmless.
const maxAliasHops = 4

// exact resolves name as an entry or an alias chain to one.
func (t *Table) exact(name string) (string, entry, bool) {
	operator := false
	for range maxAliasHops + 1 {
		if e, ok := t.entries[name]; ok {
			if operator {
				e.origin = Operator
			}
			return name, e, true
		}
		a, ok := t.aliases[name]
		if !ok {
			break
		}
		operator = operator || a.origin == Operator
		name = a.target
	}
	return "", entry{}, false
}
