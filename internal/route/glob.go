package route

import "switchboard/internal/gateway"

// IsGlob reports whether a model pattern contains a wildcard.
func IsGlob(pattern string) bool { return gateway.IsGlob(pattern) }

// Match reports whether model matches pattern (see gateway.Match).
func Match(pattern, model string) bool { return gateway.Match(pattern, model) }
