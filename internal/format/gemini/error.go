package gemini

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"switchboard/internal/gateway"
)

// statusName is the google.rpc.Code name Gemini puts in error.status.
func statusName(e *gateway.Error) string {
	if t := e.Type; t != "" && strings.ToUpper(t) == t && !strings.ContainsAny(t, " -") {
		return t // an upstream Gemini status, relayed
	}
	switch e.Kind {
	case gateway.KindInvalidRequest, gateway.KindRequestTooLarge:
		return "INVALID_ARGUMENT"
	case gateway.KindAuthentication:
		return "UNAUTHENTICATED"
	case gateway.KindPermission:
		return "PERMISSION_DENIED"
	case gateway.KindNotFound:
		return "NOT_FOUND"
	case gateway.KindRateLimited, gateway.KindInsufficientQuota:
		return "RESOURCE_EXHAUSTED"
	case gateway.KindUnavailable, gateway.KindOverloaded:
		return "UNAVAILABLE"
	case gateway.KindTimeout:
		return "DEADLINE_EXCEEDED"
	case gateway.KindUpstream:
		return statusNameForHTTP(e.HTTPStatus())
	}
	return "INTERNAL"
}

func statusNameForHTTP(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		return "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	case http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	case http.StatusGatewayTimeout:
		return "DEADLINE_EXCEEDED"
	}
	return "INTERNAL"
}

type errorObject struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Status  string `json:"status"`
}

// ErrorBody renders e as Google's {"error":{"code","message","status"}}.
// Authentication failures are 401 UNAUTHENTICATED; the real Gemini API
// answers a bad key with 400 INVALID_ARGUMENT, but every Gemini SDK treats
// both as errors and a 401 tells the truth to generic HTTP tooling. The
// request id is appended to the message, the one field every SDK shows.
func ErrorBody(e *gateway.Error, requestID string) []byte {
	obj := errorObject{Code: e.HTTPStatus(), Message: e.Message, Status: statusName(e)}
	if requestID != "" {
		obj.Message += " (request id: " + requestID + ")"
	}
	b, _ := marshal(struct {
		Error errorObject `json:"error"`
	}{obj})
	return b
}

// WriteError sends e in Gemini's shape with its status.
func WriteError(w http.ResponseWriter, e *gateway.Error, requestID string) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=UTF-8")
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int(e.RetryAfter.Seconds()+0.999)))
	}
	w.WriteHeader(e.HTTPStatus())
	_, _ = w.Write(ErrorBody(e, requestID))
}

// errorFrame is the stream chunk that ends a Gemini stream with an error.
func errorFrame(code int, message, status string) []byte {
	b, _ := marshal(struct {
		Error errorObject `json:"error"`
	}{errorObject{Code: code, Message: message, Status: status}})
	return b
}

// ParseUpstreamError turns a Gemini error body ({"error":{...}}, also
// wrapped in an array as :streamGenerateContent answers without alt=sse)
// into a gateway.Error with the upstream's status, message and status name
// (as Type). A key Gemini rejects (400 with reason API_KEY_INVALID) is
// classified as an authentication failure so the relay treats it as the
// channel's fault, not the caller's.
func ParseUpstreamError(status int, body []byte) *gateway.Error {
	e := &gateway.Error{Kind: KindForStatus(status), Status: status}
	r := gjson.ParseBytes(body)
	if r.IsArray() {
		r = r.Get("0")
	}
	obj := r.Get("error")
	if msg := obj.Get("message"); msg.Type == gjson.String && msg.Str != "" {
		e.Message = msg.Str
	} else if msg := r.Get("message"); msg.Type == gjson.String && msg.Str != "" {
		e.Message = msg.Str
	} else {
		text := http.StatusText(status)
		if text == "" {
			text = "error"
		}
		e.Message = "upstream returned " + strconv.Itoa(status) + " " + text
	}
	if s := obj.Get("status"); s.Type == gjson.String {
		e.Type = s.Str
	}
	for _, d := range obj.Get("details").Array() {
		if d.Get("reason").String() == "API_KEY_INVALID" {
			e.Kind = gateway.KindAuthentication
		}
		if delay := d.Get("retryDelay").String(); delay != "" {
			// google.rpc.RetryInfo: "12s" or "0.5s".
			if secs, err := strconv.ParseFloat(strings.TrimSuffix(delay, "s"), 64); err == nil && secs > 0 {
				e.RetryAfter = secondsDuration(secs)
			}
		}
	}
	return e
}

// KindForStatus classifies an upstream HTTP status.
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
	case http.StatusGatewayTimeout:
		return gateway.KindTimeout
	}
	return gateway.KindUpstream
}

func secondsDuration(secs float64) time.Duration {
	return time.Duration(secs * float64(time.Second))
}
