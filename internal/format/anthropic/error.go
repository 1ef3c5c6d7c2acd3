package anthropic

import (
	"net/http"
	"strconv"

	"github.com/tidwall/gjson"

	"switchboard/internal/gateway"
)

// StatusOverloaded is Anthropic's non-standard "overloaded" status.
const StatusOverloaded = 529

// errorTypes are the error.type values Anthropic's SDKs know.
var errorTypes = map[string]bool{
	"invalid_request_error": true, "authentication_error": true, "billing_error": true,
	"permission_error": true, "not_found_error": true, "request_too_large": true,
	"rate_limit_error": true, "timeout_error": true, "api_error": true, "overloaded_error": true,
}

// errorType is Anthropic's error.type for e: the upstream's own type when
// it is one of Anthropic's, otherwise derived from the kind.
func errorType(e *gateway.Error) string {
	if errorTypes[e.Type] {
		return e.Type
	}
	switch e.Kind {
	case gateway.KindInvalidRequest:
		return "invalid_request_error"
	case gateway.KindAuthentication:
		return "authentication_error"
	case gateway.KindPermission:
		return "permission_error"
	case gateway.KindNotFound:
		return "not_found_error"
	case gateway.KindRequestTooLarge:
		return "request_too_large"
	case gateway.KindRateLimited:
		return "rate_limit_error"
	case gateway.KindInsufficientQuota:
		return "billing_error"
	case gateway.KindTimeout:
		return "timeout_error"
	case gateway.KindUnavailable, gateway.KindOverloaded:
		return "overloaded_error"
	}
	return "api_error"
}

// status is the HTTP status e is sent with: KindOverloaded is 529 here.
func status(e *gateway.Error) int {
	if e.Status == 0 && e.Kind == gateway.KindOverloaded {
		return StatusOverloaded
	}
	return e.HTTPStatus()
}

func appendErrorObject(b []byte, typ, msg string) []byte {
	b = append(b, `{"type":"error","error":{"type":`...)
	b = appendString(b, typ)
	b = append(b, `,"message":`...)
	b = appendString(b, msg)
	return append(b, '}')
}

// ErrorBody renders e as {"type":"error","error":{"type","message"},"request_id"}.
func ErrorBody(e *gateway.Error, requestID string) []byte {
	b := appendErrorObject(make([]byte, 0, 128+len(e.Message)), errorType(e), e.Message)
	if requestID != "" {
		b = append(b, `,"request_id":`...)
		b = appendString(b, requestID)
	}
	return append(b, '}')
}

// WriteError sends e in Anthropic's shape.
func WriteError(w http.ResponseWriter, e *gateway.Error, requestID string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int(e.RetryAfter.Seconds()+0.999)))
	}
	w.WriteHeader(status(e))
	_, _ = w.Write(ErrorBody(e, requestID))
}

// KindForStatus classifies an Anthropic upstream's HTTP status.
func KindForStatus(status int) gateway.ErrorKind {
	switch status {
	case http.StatusBadRequest, http.StatusUnprocessableEntity:
		return gateway.KindInvalidRequest
	case http.StatusUnauthorized:
		return gateway.KindAuthentication
	case http.StatusForbidden:
		return gateway.KindPermission
	case http.StatusNotFound:
		return gateway.KindNotFound
	case http.StatusRequestEntityTooLarge:
		return gateway.KindRequestTooLarge
	case http.StatusTooManyRequests:
		return gateway.KindRateLimited
	case StatusOverloaded:
		return gateway.KindOverloaded
	}
	return gateway.KindUpstream
}

// ParseUpstreamError turns an Anthropic error body into a gateway.Error
// keeping status, message and type, nothing else.
func ParseUpstreamError(status int, body []byte) *gateway.Error {
	e := &gateway.Error{Kind: KindForStatus(status), Status: status}
	r := gjson.ParseBytes(body)
	if t := r.Get("error.type"); t.Type == gjson.String {
		e.Type = t.Str
		if t.Str == "overloaded_error" {
			e.Kind = gateway.KindOverloaded
		}
	}
	msg := r.Get("error.message")
	if msg.Type != gjson.String || msg.Str == "" {
		msg = r.Get("message")
	}
	if msg.Type == gjson.String && msg.Str != "" {
		e.Message = msg.Str
	} else {
		text := http.StatusText(status)
		if text == "" {
			text = "error"
		}
		e.Message = "upstream returned " + strconv.Itoa(status) + " " + text
	}
	return e
}

// streamErrorType maps a hub stream error to Anthropic's error.type.
func streamErrorType(status int, typ string) string {
	if errorTypes[typ] {
		return typ
	}
	if status == 0 {
		return "api_error"
	}
	return errorType(&gateway.Error{Kind: KindForStatus(status), Status: status})
}
