// Package httpapi serves the public API: the OpenAI, Anthropic and Gemini
// routes, with request ids, panic recovery, client-key auth in each
// format's own style, rate limits and body limits in front of the relay.
// Every error is written in the caller's own protocol shape.
package httpapi

import (
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

	"switchboard/internal/format/openai"
	"switchboard/internal/gateway"
	"switchboard/internal/jsonguard"
	"switchboard/internal/relay"
	"switchboard/internal/route"
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

// RequestID returns the id the middleware gave the request.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
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
		ctx := context.WithValue(r.Context(), requestIDKey, id)
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

// readBody reads a size-limited body.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *gateway.Error) {
	if r.ContentLength > s.MaxBodyBytes {
		return nil, gateway.Errorf(gateway.KindRequestTooLarge, "request body exceeds the limit of %d bytes", s.MaxBodyBytes)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, gateway.Errorf(gateway.KindRequestTooLarge, "request body exceeds the limit of %d bytes", s.MaxBodyBytes)
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

// checkJSON is the 400 for a body the guard refuses.
func (s *Server) checkJSON(body []byte) *gateway.Error {
	err := s.JSON.Check(body)
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
