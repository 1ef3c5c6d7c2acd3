package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// ErrorKind classifies an error independently of any wire format; each
// inbound format renders a kind in its own shape.
type ErrorKind int

const (
	KindInternal          ErrorKind = iota // 500
	KindInvalidRequest                     // 400
	KindAuthentication                     // 401
	KindPermission                         // 403
	KindNotFound                           // 404
	KindRequestTooLarge                    // 413
	KindRateLimited                        // 429
	KindInsufficientQuota                  // 429, budget exhausted
	KindUpstream                           // upstream answered an error; Status is its status
	KindUnavailable                        // 503, no healthy channel
	KindTimeout                            // 504
	KindOverloaded                         // 529-like; rendered as 503 except by Anthropic
)

// Error is the one error model of the gateway. Only Message (and Code,
// Param) reach clients; Err keeps the cause for logs and never leaks
// upstream URLs or keys into responses.
type Error struct {
	Kind       ErrorKind
	Status     int    // HTTP status; 0 means the kind's default
	Message    string // public, safe to show
	Code       string // machine code, e.g. "model_not_found"
	Param      string
	Type       string // upstream's own error type, relayed when known
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %v", e.Message, e.Err)
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// HTTPStatus is the status the error is sent with.
func (e *Error) HTTPStatus() int {
	if e.Status != 0 {
		return e.Status
	}
	switch e.Kind {
	case KindInvalidRequest:
		return http.StatusBadRequest
	case KindAuthentication:
		return http.StatusUnauthorized
	case KindPermission:
		return http.StatusForbidden
	case KindNotFound:
		return http.StatusNotFound
	case KindRequestTooLarge:
		return http.StatusRequestEntityTooLarge
	case KindRateLimited, KindInsufficientQuota:
		return http.StatusTooManyRequests
	case KindUpstream:
		return http.StatusBadGateway
	case KindUnavailable, KindOverloaded:
		return http.StatusServiceUnavailable
	case KindTimeout:
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// Errorf builds an Error of a kind with a public message.
func Errorf(kind ErrorKind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// WithCode sets the machine code and returns e.
func (e *Error) WithCode(code string) *Error { e.Code = code; return e }

// WithParam sets the offending parameter and returns e.
func (e *Error) WithParam(p string) *Error { e.Param = p; return e }

// AsError converts any error into *Error, hiding unknown causes behind a
// generic message.
func AsError(err error) *Error {
	var ge *Error
	if errors.As(err, &ge) {
		return ge
	}
	return &Error{Kind: KindInternal, Message: "internal error", Err: err}
}

// Failover reports whether a failed upstream attempt may be retried on
// another channel: the upstream was unreachable, timed out, throttled,
// overloaded, rejected the gateway's own credentials or answered something
// broken. A request the upstream refused as the caller's mistake (400, 404,
// 413, 422, ...) is never retried elsewhere: it would fail there too, and
// cost a second time.
func (e *Error) Failover() bool {
	switch e.Kind {
	case KindTimeout, KindUnavailable, KindRateLimited, KindOverloaded:
		return true
	case KindUpstream:
		s := e.Status
		return s == 0 || s >= 500 || s == 408 || s == 429 || (s >= 300 && s < 400)
	}
	return false
}
