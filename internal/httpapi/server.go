// Package httpapi serves the public API: the OpenAI, Anthropic and Gemini
// routes, with request ids, panic recovery, client-key auth in each
// format's own style, rate limits and body limits in front of the relay.
// Every error is written in the caller's own protocol shape.
package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"switchboard/internal/format/openai"
	"switchboard/internal/gateway"
	"switchboard/internal/jsonguard"
	"switchboard/internal/relay"
	"switchboard/internal/route"
	"switchboard/internal/shed"
)

// Server is the public HTTP API.
type Server struct {
	Relay   *relay.Relay
	Router  *route.Router
	Keys    *KeyCache
	Limiter gateway.Limiter
	Log     *slog.Logger
	// MaxBodyBytes bounds request bodies (default 32 MiB).
	MaxBodyBytes int64
	// Extra lets other packages (admin, console) mount routes on the mux.
	Extra func(mux *http.ServeMux)
	// JSON vets JSON bodies before anything parses them (nil: RoutingGuard(0)).
	JSON *jsonguard.Guard
	// Shed bounds the request-body bytes in flight across the process
	// (nil: no bound); a call that finds no room is refused as overloaded.
	Shed *shed.Limiter

	mux *http.ServeMux
}

// Handler builds the route table.
func (s *Server) Handler() http.Handler {
	if s.MaxBodyBytes <= 0 {
		s.MaxBodyBytes = 32 << 20
	}
	if s.JSON == nil {
		s.JSON = RoutingGuard(0)
	}
	mux := http.NewServeMux()
	// Clients configure the base URL with or without /v1; both work.
	for _, prefix := range []string{"/v1", ""} {
		mux.HandleFunc("GET "+prefix+"/models", s.models)
		mux.HandleFunc("POST "+prefix+"/chat/completions", s.openAIChat)
	}
	s.mountAnthropic(mux)
	s.mountGemini(mux)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	})
	if s.Extra != nil {
		s.Extra(mux)
	}
	// Unknown paths answer in OpenAI's shape, the most common client.
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		openai.WriteError(w, gateway.Errorf(gateway.KindNotFound, "unknown endpoint %s %s", r.Method, r.URL.Path).WithCode("not_found"), RequestID(r.Context()))
	})
	s.mux = mux
	return s.middleware(mux)
}

type ctxKey int

const requestIDKey ctxKey = 1

// reqState is what the middleware keeps for a request: its id, and the
// body bytes it holds against Server.Shed (released when the request ends,
// since the relay references the body until then).
type reqState struct {
	id   string
	body shed.Reservation
}

// RequestID returns the id the middleware gave the request.
func RequestID(ctx context.Context) string {
	st, _ := ctx.Value(requestIDKey).(*reqState)
	if st == nil {
		return ""
	}
	return st.id
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "req_" + hex.EncodeToString(b[:])
}

// middleware gives every request an id (echoed in X-Request-Id and in every
// error body) and turns panics into 500s in OpenAI's shape.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := newRequestID()
		w.Header().Set("X-Request-Id", id)
		st := &reqState{id: id, body: s.Shed.Reserve()}
		defer st.body.Release()
		ctx := context.WithValue(r.Context(), requestIDKey, st)
		r = r.WithContext(ctx)
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.Log.Error("panic in handler", "request_id", id, "panic", v, "stack", string(debug.Stack()))
				openai.WriteError(w, gateway.Errorf(gateway.KindInternal, "internal error"), id)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// bearer extracts a key from "Authorization: Bearer <key>".
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// authenticate resolves the client key from any of the formats' places.
func (s *Server) authenticate(r *http.Request, secret string) (*gateway.Key, *gateway.Error) {
	if secret == "" {
		return nil, gateway.Errorf(gateway.KindAuthentication, "missing API key: send it as a Bearer token (or x-api-key / x-goog-api-key / ?key=)")
	}
	k, err := s.Keys.Lookup(r.Context(), secret)
	if err != nil {
		s.Log.Error("key lookup failed", "request_id", RequestID(r.Context()), "err", err)
		return nil, &gateway.Error{Kind: gateway.KindUnavailable, Message: "key store unavailable", Err: err}
	}
	if k == nil {
		return nil, gateway.Errorf(gateway.KindAuthentication, "invalid API key")
	}
	return k, nil
}

// modelAllowed applies a key's allow-list globs.
func modelAllowed(k *gateway.Key, model string) bool {
	if len(k.Models) == 0 {
		return true
	}
	for _, pat := range k.Models {
		if pat == "*" || pat == model || route.Match(pat, model) {
			return true
		}
	}
	return false
}

// readBody reads a size-limited body, holding its bytes against the
// process-wide bound until the request ends.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *gateway.Error) {
	var res *shed.Reservation
	if st, _ := r.Context().Value(requestIDKey).(*reqState); st != nil {
		res = &st.body
	}
	body, err := shed.ReadBody(r.Context(), res, http.MaxBytesReader(w, r.Body, s.MaxBodyBytes), r.ContentLength, s.MaxBodyBytes)
	if err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe), errors.Is(err, shed.ErrTooLarge):
			return nil, gateway.Errorf(gateway.KindRequestTooLarge, "request body exceeds the limit of %d bytes", s.MaxBodyBytes)
		case errors.Is(err, shed.ErrOverloaded):
			return nil, &gateway.Error{Kind: gateway.KindOverloaded, Code: "overloaded", RetryAfter: 2 * time.Second,
				Message: "the gateway is at its limit of request bytes in flight: retry shortly"}
		}
		return nil, gateway.Errorf(gateway.KindInvalidRequest, "cannot read request body")
	}
	return body, nil
}

// RoutingGuard vets a JSON body before gjson (which recurses once per
// nesting level) or a decoder sees it: syntax, nesting up to maxDepth
// (0: jsonguard.DefaultMaxDepth), and no field that routing, admission or
// metering reads given twice, so the value checked is the value an upstream
// runs whichever duplicate its parser would take.
func RoutingGuard(maxDepth int) *jsonguard.Guard {
	return jsonguard.New(jsonguard.Options{MaxDepth: maxDepth, RequireObject: true, UniqueFields: []string{
		"model", "messages", "contents", "input", "stream", "stream_options.include_usage",
		"max_tokens", "max_completion_tokens", "max_output_tokens",
		"generationConfig|generation_config.maxOutputTokens|max_output_tokens",
		"generateContentRequest",
	}})
}

// checkJSON vets body (the 400 when the guard refuses it) and, in the same
// pass, hands fields each top-level member: its key, unescaped, and the
// raw bytes of its value, aliasing body. Routing reads what it needs with
// field; nothing copies the body (gjson.ParseBytes would, whole).
func (s *Server) checkJSON(body []byte, fields func(key string, raw []byte)) *gateway.Error {
	var keyBuf []byte
	err := s.JSON.Fields(body, func(k jsonguard.String, raw []byte) {
		if fields == nil {
			return
		}
		if !k.Escaped {
			fields(string(k.Raw), raw)
			return
		}
		keyBuf, _ = jsonguard.AppendUnescaped(keyBuf[:0], k.Raw, -1)
		fields(string(keyBuf), raw)
	})
	if err == nil {
		return nil
	}
	e := gateway.Errorf(gateway.KindInvalidRequest, "%s", err.Error())
	var je *jsonguard.Error
	if errors.As(err, &je) {
		switch je.Kind {
		case jsonguard.Syntax:
			e.Code = "invalid_json"
		case jsonguard.DuplicateKey:
			e.Code, e.Param = "duplicate_field", je.Field
		case jsonguard.TooDeep:
			e.Code = "json_too_deep"
		}
	}
	return e
}

// shallowOver is the size above which field does not parse a container:
// routing needs only its kind (is messages an array?), and parsing would
// copy it.
const shallowOver = 64 << 10

// field parses a top-level value handed out by checkJSON. A container over
// shallowOver comes back shallow: its type and opening bracket only, so
// IsArray and IsObject answer and nothing is copied.
func field(raw []byte) gjson.Result {
	if len(raw) > shallowOver && (raw[0] == '[' || raw[0] == '{') {
		return gjson.Result{Type: gjson.JSON, Raw: string(raw[:1])}
	}
	return gjson.ParseBytes(raw)
}

// nonEmptyArray reports a raw value that is an array with an element.
func nonEmptyArray(raw []byte) bool {
	if len(raw) == 0 || raw[0] != '[' {
		return false
	}
	rest := bytes.TrimLeft(raw[1:], " \t\r\n")
	return len(rest) > 0 && rest[0] != ']'
}

// admit runs the checks shared by every model call after the body is
// parsed: allow-list, model existence and per-key limits. It returns the
// release func of the concurrency slot.
func (s *Server) admit(r *http.Request, k *gateway.Key, model string) (func(), *gateway.Error) {
	if !modelAllowed(k, model) {
		return nil, gateway.Errorf(gateway.KindPermission, "this key may not use model %q", model).WithCode("model_not_allowed")
	}
	if !s.Router.HasModel(model) {
		return nil, gateway.Errorf(gateway.KindNotFound, "the model %q does not exist or no channel serves it", model).WithCode("model_not_found").WithParam("model")
	}
	if s.Limiter == nil {
		return func() {}, nil
	}
	release, err := s.Limiter.Acquire(r.Context(), *k)
	if err != nil {
		return nil, gateway.AsError(err)
	}
	return release, nil
}

func (s *Server) newCall(r *http.Request, format, endpoint string, k *gateway.Key, body []byte, model string, stream bool) *relay.Call {
	return &relay.Call{
		Format: format, Endpoint: endpoint, Key: k, RequestID: RequestID(r.Context()),
		Start: time.Now(), Body: body, Model: model, Stream: stream,
		Header: r.Header, Query: r.URL.Query(),
	}
}
