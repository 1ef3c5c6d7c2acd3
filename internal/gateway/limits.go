package gateway

import (
	"context"
	"time"
)

// Limiter enforces per-key RPM, TPM and concurrency. One in-memory implementation (internal/inmem) for one node,
// one Redis implementation (internal/redisstore) shared by many nodes.
type Limiter interface {
	// Acquire admits one request for k, counting it against k.RPM and k.MaxConcurrent and refusing it when the
	// key's TPM window is already spent. On refusal it returns *Error{Kind: KindRateLimited, RetryAfter: >0,
	// Message says which limit}. release must be called exactly once when the request ends (it frees the
	// concurrency slot; safe to call from any goroutine; idempotent).
	Acquire(ctx context.Context, k Key) (release func(), err error)
	// AddTokens charges tokens used by a finished (or ongoing) request to the key's TPM window.
	AddTokens(ctx context.Context, k Key, tokens int64)
}

// Outcome is what one upstream attempt did, for health tracking.
type Outcome int

const (
	OutcomeSuccess     Outcome = iota
	OutcomeFailure             // dial error, timeout, 5xx, malformed answer: counts toward opening the breaker
	OutcomeRateLimited         // 429: cool the channel/key down for RetryAfter without counting as broken
	OutcomeAuthFailure         // 401/403 for this upstream key: take the key out of rotation, record why (see HealthReport.Caller)
	OutcomeKeyVerified         // the gateway's own request with this key succeeded: back in rotation; says nothing of the breaker
)

// String names the outcome for logs and metrics labels.
func (o Outcome) String() string {
	switch o {
	case OutcomeSuccess:
		return "success"
	case OutcomeFailure:
		return "failure"
	case OutcomeRateLimited:
		return "rate_limited"
	case OutcomeAuthFailure:
		return "auth_failure"
	case OutcomeKeyVerified:
		return "key_verified"
	}
	return "unknown"
}

// HealthReport is one attempt's result.
type HealthReport struct {
	ChannelID  int64
	KeyIndex   int
	Outcome    Outcome
	RetryAfter time.Duration
	Reason     string // short, safe text (no upstream URL/key)
	// Caller is the client key whose request had this outcome, or 0 when
	// no request content can have caused it (a connection that failed,
	// the gateway's own probe). Outcomes a caller can provoke with its
	// input count once per caller: a failure streak opens a breaker only
	// across distinct callers, and an AuthFailure disables a shared key
	// at once only with Caller 0 (a probe confirmed it), otherwise only
	// once distinct callers saw it.
	Caller int64
}

// Health is a circuit breaker per channel and per upstream key.
type Health interface {
	// Available reports whether (channel, key) may take a request now: closed, or half-open with the probe slot
	// free (taking it). Must be cheap: called on the hot path for every candidate.
	Available(channelID int64, keyIndex int, now time.Time) bool
	Report(r HealthReport)
	Snapshot() []ChannelHealth
}

// Breaker and key states as they appear in ChannelHealth and KeyHealth.
const (
	StateClosed   = "closed"
	StateOpen     = "open"
	StateHalfOpen = "half-open"

	KeyStateOK       = "ok"
	KeyStateCooling  = "cooling"
	KeyStateDisabled = "disabled"
)

// ChannelHealth is the admin-visible state.
type ChannelHealth struct {
	ChannelID int64
	State     string // closed | open | half-open
	Failures  int    // consecutive
	OpenUntil time.Time
	LastError string
	Keys      []KeyHealth
}

// KeyHealth is the admin-visible state of one upstream key of a channel.
type KeyHealth struct {
	Index  int
	State  string // ok | cooling | disabled
	Until  time.Time
	Reason string
}
