// Package httpapi serves the public API: a table of routes, each an
// endpoint spec of internal/format/* served by one generic handler
// (authenticate in the format's own style → read the body with bounded
// memory → peek → hand to the engine), plus the model lists. Handlers
// return errors, and one place renders them in the caller's own protocol
// shape. Request ids, panic recovery and body limits are here too.
package httpapi

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"switchboard/internal/endpoint"
	"switchboard/internal/format/openai"
	"switchboard/internal/gateway"
	"switchboard/internal/jsonguard"
	"switchboard/internal/mediastore"
	"switchboard/internal/payload"
	"switchboard/internal/relay"
	"switchboard/internal/respstate"
	"switchboard/internal/route"
	"switchboard/internal/shed"
)

// Server is the public HTTP API.
type Server struct {
	Engine *relay.Engine
	Router *route.Router
	Keys   *KeyCache
	Log    *slog.Logger
	// MaxBodyBytes bounds request bodies, JSON or multipart (default 32 MiB).
	MaxBodyBytes int64
	// UploadMemBytes is how much of a multipart upload may sit in memory;
	// the rest is spooled to UploadDir (defaults: 1 MiB, the system's
	// temporary directory).
	UploadMemBytes int64
	UploadDir      string
	// Extra lets other packages (admin, console) mount routes on the mux.
	Extra func(mux *http.ServeMux)
	// JSON vets JSON bodies before anything parses them (nil: RoutingGuard(0)).
	JSON *jsonguard.Guard
	// Shed bounds the request-body bytes in flight across the process
	// (nil: no bound); a call that finds no room is refused as overloaded.
	Shed *shed.Limiter
	// Responses keeps Responses API conversations (previous_response_id,
	// GET /v1/responses/{id}); nil keeps none.
	Responses *respstate.Service
	// RouteMaxBody bounds the bodies of one endpoint (by its ledger label,
	// "audio.transcriptions"), replacing MaxBodyBytes and the spec's own
	// limit (endpoint.BodyLimiter) for it.
	RouteMaxBody map[string]int64
	// ResponsesSocketLifetime bounds a Responses WebSocket (0: WSMaxLifetime).
	ResponsesSocketLifetime time.Duration
	// Media serves the objects of the media store at their signed URLs
	// (GET /v1/media/{key}/{id}); nil serves none. PublicURL, when set,
	// is the scheme and host those URLs name instead of the request's.
	Media     *mediastore.Store
	PublicURL string
}

// baseURL is the gateway's scheme and host as the client reached it.
func (s *Server) baseURL(r *http.Request) string {
	if s.PublicURL != "" {
		return strings.TrimRight(s.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// media serves one stored object to whoever holds its signed URL.
func (s *Server) media(w http.ResponseWriter, r *http.Request) error {
	if s.Media == nil {
		return gateway.Errorf(gateway.KindNotFound, "this gateway stores no media").WithCode("not_found")
	}
	obj, err := s.Media.Open(r.Context(), r.PathValue("key"), r.PathValue("id"), r.URL.Query().Get("exp"), r.URL.Query().Get("sig"))
	switch {
	case errors.Is(err, mediastore.ErrBadSignature):
		return gateway.Errorf(gateway.KindPermission, "the media link's signature does not match").WithCode("invalid_signature")
	case errors.Is(err, mediastore.ErrExpired):
		return &gateway.Error{Kind: gateway.KindNotFound, Status: http.StatusGone, Message: "the media link has expired", Code: "expired"}
	case errors.Is(err, mediastore.ErrNotFound):
		return gateway.Errorf(gateway.KindNotFound, "no such media").WithCode("not_found")
	case err != nil:
		return gateway.Errorf(gateway.KindInternal, "the media store is unavailable")
	}
	defer obj.Body.Close()
	w.Header().Set("Content-Type", obj.ContentType)
	w.Header().Set("Cache-Control", "private, max-age=3600")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Length", strconv.FormatInt(obj.Size, 10))
	_, _ = io.Copy(w, obj.Body)
	return nil
}

// maxBody is the body limit of spec's route.
func (s *Server) maxBody(spec endpoint.Spec) int64 {
	if n := s.RouteMaxBody[spec.Endpoint()]; n > 0 {
		return n
	}
	if bl, ok := spec.(endpoint.BodyLimiter); ok && bl.MaxBodyBytes() > 0 {
		return bl.MaxBodyBytes()
	}
	return s.MaxBodyBytes
}

// errorWriter renders an error in one format's shape.
type errorWriter func(w http.ResponseWriter, e *gateway.Error, requestID string)

// handler is an HTTP handler that returns its failure instead of writing
// it (the shape of Tailscale's tsweb.ReturnHandler): it returns an error
// only when it wrote nothing.
type handler func(w http.ResponseWriter, r *http.Request) error

// render turns a handler into an http.HandlerFunc, writing a returned
// error in the route's format. This is the one place errors are rendered.
func (s *Server) render(writeErr errorWriter, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		ge := gateway.AsError(err)
		if ge.Kind == gateway.KindInternal {
			s.Log.Error("request failed", "request_id", RequestID(r.Context()), "err", err)
		}
		writeErr(w, ge, RequestID(r.Context()))
	}
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
	for _, rt := range s.routes() {
		mux.HandleFunc(rt.pattern, s.render(rt.errors, rt.handle))
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	})
	if s.Extra != nil {
		s.Extra(mux)
	}
	// Unknown paths answer in OpenAI's shape, the most common client.
	mux.HandleFunc("/", s.render(openai.WriteError, func(_ http.ResponseWriter, r *http.Request) error {
		return gateway.Errorf(gateway.KindNotFound, "unknown endpoint %s %s", r.Method, r.URL.Path).WithCode("not_found")
	}))
	return s.middleware(mux)
}

// call is the one handler of every engine endpoint: authenticate the way
// the spec's clients send keys, read the body, peek what routing needs,
// and hand the call to the engine.
func (s *Server) call(spec endpoint.Spec) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		k, err := s.authenticate(r, spec.ClientKey(r))
		if err != nil {
			return err
		}
		body, err := s.readBody(w, r, s.maxBody(spec))
		if err != nil {
			return err
		}
		defer body.Close()
		p, err := spec.Peek(r, body)
		if err != nil {
			return err
		}
		c := &relay.Call{
			Spec: spec, Key: k, RequestID: RequestID(r.Context()), Start: time.Now(),
			Peek: p, Body: body, Header: r.Header, Query: r.URL.Query(), BaseURL: s.baseURL(r),
		}
		return s.Engine.Serve(r.Context(), w, c)
	}
}

type ctxKey int

const requestIDKey ctxKey = 1

// reqState is what the middleware keeps for a request: its id, and the
// body bytes it holds against Server.Shed (released when the request ends,
// since the engine references the body until then).
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

// middleware gives every request an id (echoed in X-Request-Id and in every
// error body) and turns panics into 500s in OpenAI's shape.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := gateway.NewRequestID()
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

// authenticate resolves the client key a spec read from the request.
func (s *Server) authenticate(r *http.Request, secret string) (*gateway.Key, error) {
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

func tooLarge(limit int64) *gateway.Error {
	return gateway.Errorf(gateway.KindRequestTooLarge, "request body exceeds the limit of %d bytes", limit)
}

// readBody reads a size-limited body: a multipart form spooled with
// bounded memory, or JSON bytes checked for validity. A bodiless request
// reads as an empty Body.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, limit int64) (payload.Body, error) {
	if r.ContentLength > limit {
		return payload.Body{}, tooLarge(limit)
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodDelete {
		return payload.Body{}, nil
	}
	if ct := r.Header.Get("Content-Type"); payload.IsMultipart(ct) {
		boundary, err := payload.ContentTypeBoundary(ct)
		if err != nil {
			return payload.Body{}, gateway.Errorf(gateway.KindInvalidRequest, "%s", err.Error())
		}
		f, err := payload.ReadForm(r.Body, boundary, payload.Limits{MaxBytes: limit, MemBytes: s.UploadMemBytes, Dir: s.UploadDir})
		if errors.Is(err, payload.ErrTooLarge) {
			return payload.Body{}, tooLarge(limit)
		}
		if err != nil {
			return payload.Body{}, gateway.Errorf(gateway.KindInvalidRequest, "cannot read the multipart form: %s", err.Error())
		}
		return payload.Body{Form: f}, nil
	}
	// The body's bytes are held against the process-wide bound until the
	// request ends.
	var res *shed.Reservation
	if st, _ := r.Context().Value(requestIDKey).(*reqState); st != nil {
		res = &st.body
	}
	body, err := shed.ReadBody(r.Context(), res, http.MaxBytesReader(w, r.Body, limit), r.ContentLength, limit)
	if err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe), errors.Is(err, shed.ErrTooLarge):
			return payload.Body{}, tooLarge(limit)
		case errors.Is(err, shed.ErrOverloaded):
			return payload.Body{}, &gateway.Error{Kind: gateway.KindOverloaded, Code: "overloaded", RetryAfter: 2 * time.Second,
				Message: "the gateway is at its limit of request bytes in flight: retry shortly"}
		}
		return payload.Body{}, gateway.Errorf(gateway.KindInvalidRequest, "cannot read request body")
	}
	if gerr := s.checkJSON(body); gerr != nil {
		return payload.Body{}, gerr
	}
	return payload.Body{JSON: body}, nil
}

// RoutingGuard vets a JSON body before gjson (which recurses once per
// nesting level) or a decoder sees it: syntax, nesting up to maxDepth
// (0: jsonguard.DefaultMaxDepth), and no field that routing, admission or
// metering reads given twice, so the value checked is the value an upstream
// runs whichever duplicate its parser would take.
func RoutingGuard(maxDepth int) *jsonguard.Guard {
	return jsonguard.New(jsonguard.Options{MaxDepth: maxDepth, RequireObject: true, UniqueFields: []string{
		"model", "messages", "contents", "input", "stream", "stream_options.include_usage",
		"max_tokens", "max_completion_tokens", "max_output_tokens", "n", "encoding_format", "dimensions",
		"generationConfig|generation_config.maxOutputTokens|max_output_tokens",
		"generationConfig|generation_config.candidateCount|candidate_count",
		"generateContentRequest", "requests", "content",
		// A second previous_response_id would survive the expansion of the
		// first and reach the upstream: another tenant's stored response.
		"previous_response_id",
	}})
}

// checkJSON vets a JSON body in one pass (syntax, depth, duplicate routing
// fields), with the error a client should see.
func (s *Server) checkJSON(body []byte) *gateway.Error {
	err := s.JSON.Fields(body, func(jsonguard.String, []byte) {})
	if err == nil {
		return nil
	}
	e := gateway.Errorf(gateway.KindInvalidRequest, "%s", err.Error())
	var je *jsonguard.Error
	if errors.As(err, &je) {
		switch je.Kind {
		case jsonguard.Syntax, jsonguard.NotObject:
			e.Code = "invalid_json"
		case jsonguard.DuplicateKey:
			e.Code, e.Param = "duplicate_field", je.Field
		case jsonguard.TooDeep:
			e.Code = "json_too_deep"
		}
	}
	return e
}
