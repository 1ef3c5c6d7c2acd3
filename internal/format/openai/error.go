package openai

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/tidwall/gjson"

	"switchboard/internal/gateway"
)

// errorType is OpenAI's `type` field for a kind.
func errorType(e *gateway.Error) string {
	if e.Type != "" {
		return e.Type
	}
	switch e.Kind {
	case gateway.KindInvalidRequest, gateway.KindNotFound, gateway.KindRequestTooLarge:
		return "invalid_request_error"
	case gateway.KindAuthentication:
		return "authentication_error"
	case gateway.KindPermission:
		return "permission_error"
	case gateway.KindRateLimited:
		return "rate_limit_error"
	case gateway.KindInsufficientQuota:
		return "insufficient_quota"
	case gateway.KindUpstream:
		return "upstream_error"
	case gateway.KindUnavailable, gateway.KindOverloaded:
		return "service_unavailable"
	case gateway.KindTimeout:
		return "timeout_error"
	}
	return "server_error"
}

func errorCode(e *gateway.Error) string {
	if e.Code != "" {
		return e.Code
	}
	switch e.Kind {
	case gateway.KindAuthentication:
		return "invalid_api_key"
	case gateway.KindInsufficientQuota:
		return "insufficient_quota"
	case gateway.KindRateLimited:
		return "rate_limit_exceeded"
	case gateway.KindRequestTooLarge:
		return "request_too_large"
	}
	return ""
}

type errorEnvelope struct {
	Error errorObject `json:"error"`
}

type errorObject struct {
	Message   string  `json:"message"`
	Type      string  `json:"type"`
	Param     *string `json:"param"`
	Code      *string `json:"code"`
	RequestID string  `json:"request_id,omitempty"`
}

// ErrorBody renders e as OpenAI's {"error":{"message","type","param","code"}}.
// The request id rides inside the object as well as in X-Request-Id, so a
// user pasting an error into a ticket pastes the id too.
func ErrorBody(e *gateway.Error, requestID string) []byte {
	obj := errorObject{Message: e.Message, Type: errorType(e), RequestID: requestID}
	if e.Param != "" {
		obj.Param = &e.Param
	}
	if c := errorCode(e); c != "" {
		obj.Code = &c
	}
	if requestID != "" {
		obj.Message = e.Message + " (request id: " + requestID + ")"
	}
	b, _ := json.Marshal(errorEnvelope{Error: obj})
	return b
}

// WriteError sends e in OpenAI's shape with its status.
func WriteError(w http.ResponseWriter, e *gateway.Error, requestID string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if e.RetryAfter > 0 {
		secs := int(e.RetryAfter.Seconds() + 0.999)
		h.Set("Retry-After", strconv.Itoa(secs))
	}
	w.WriteHeader(e.HTTPStatus())
	_, _ = w.Write(ErrorBody(e, requestID))
}

// ParseUpstreamError turns an OpenAI-format upstream error body into a
// gateway.Error that keeps the upstream's status, message, type and code but
// nothing else (no URLs, no headers).
func ParseUpstreamError(status int, body []byte) *gateway.Error {
	e := &gateway.Error{Kind: KindForStatus(status), Status: status}
	r := gjson.ParseBytes(body)
	msg := r.Get("error.message")
	if !msg.Exists() {
		// Some compatible servers answer {"message": ...} or {"detail": ...}.
		msg = r.Get("message")
		if !msg.Exists() {
			msg = r.Get("detail")
		}
	}
	if msg.Type == gjson.String && msg.Str != "" {
		e.Message = msg.Str
	} else {
		e.Message = http.StatusText(status)
		if e.Message == "" {
			e.Message = "upstream error"
		}
		e.Message = "upstream returned " + strconv.Itoa(status) + " " + e.Message
	}
	if t := r.Get("error.type"); t.Type == gjson.String {
		e.Type = t.Str
	}
	if c := r.Get("error.code"); c.Type == gjson.String {
		e.Code = c.Str
	}
	if p := r.Get("error.param"); p.Type == gjson.String {
		e.Param = p.Str
	}
	return e
}

// KindForStatus classifies an upstream HTTP status.
func KindForStatus(status int) gateway.ErrorKind {
	switch {
	case status == http.StatusBadRequest, status == http.StatusUnprocessableEntity:
		return gateway.KindInvalidRequest
	case status == http.StatusUnauthorized:
		return gateway.KindAuthentication
	case status == http.StatusForbidden:
		return gateway.KindPermission
	case status == http.StatusNotFound:
		return gateway.KindNotFound
	case status == http.StatusRequestEntityTooLarge:
		return gateway.KindRequestTooLarge
	case status == http.StatusTooManyRequests:
		return gateway.KindRateLimited
	case status == http.StatusGatewayTimeout:
		return gateway.KindTimeout
	}
	return gateway.KindUpstream
}
