package gateway

import "strings"

// IsGlob reports whether a model pattern contains a wildcard.
func IsGlob(pattern string) bool { return strings.IndexByte(pattern, '*') >= 0 }

// Match reports whether model matches pattern. The only wildcard is '*',
// which matches any run of characters, '/' included (model names such as
// "meta-llama/Llama-3.1-8B" or "mj/imagine" contain slashes, which is why
// path.Match semantics would be wrong here). Everything else, '?' and '['
// included, matches itself, and matching is case-sensitive.
func Match(pattern, model string) bool {
	// Greedy matching that backtracks only to the last star: O(len*len) in
	// the worst case, linear for the usual "prefix*" and "*suffix".
	p, m := 0, 0
	star, mark := -1, 0
	for m < len(model) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, m
			p++
		case p < len(pattern) && pattern[p] == model[m]:
			p++
			m++
		case star >= 0:
			p = star + 1
			mark++
			m = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// Allows reports whether the key's allow-list lets it use model. An empty
// list allows every model.
func (k *Key) Allows(model string) bool {
	if len(k.Models) == 0 {
		return true
	}
	for _, pat := range k.Models {
		if pat == "*" || pat == model || Match(pat, model) {
			return true
		}
	}
	return false
}
