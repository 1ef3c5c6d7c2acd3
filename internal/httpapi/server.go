// Package httpapi serves the public API: a table of routes, each an
// endpoint spec of internal/format/* served by one generic handler
// (authenticate in the format's own style → read the body with bounded
// memory → peek → hand to the engine), plus the model lists. Handlers
// return errors, and one place renders them in the caller's own protocol
// shape. Request ids, panic recovery and body limits are here too.
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
	"time"

	"github.com/tidwall/gjson"

	"switchboard/internal/endpoint"
	"switchboard/internal/format/openai"
	"switchboard/internal/gateway"
	"switchboard/internal/payload"
	"switchboard/internal/relay"
	"switchboard/internal/route"
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
		body, err := s.readBody(w, r)
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
			Peek: p, Body: body, Header: r.Header, Query: r.URL.Query(),
		}
		return s.Engine.Serve(r.Context(), w, c)
	}
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
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) (payload.Body, error) {
	if r.ContentLength > s.MaxBodyBytes {
		return payload.Body{}, tooLarge(s.MaxBodyBytes)
	}
	if r.Method == http.MethodGet || r.Method == http.MethodHead || r.Method == http.MethodDelete {
		return payload.Body{}, nil
	}
	if ct := r.Header.Get("Content-Type"); payload.IsMultipart(ct) {
		boundary, err := payload.ContentTypeBoundary(ct)
		if err != nil {
			return payload.Body{}, gateway.Errorf(gateway.KindInvalidRequest, "%s", err.Error())
		}
		f, err := payload.ReadForm(r.Body, boundary, payload.Limits{MaxBytes: s.MaxBodyBytes, MemBytes: s.UploadMemBytes, Dir: s.UploadDir})
		if errors.Is(err, payload.ErrTooLarge) {
			return payload.Body{}, tooLarge(s.MaxBodyBytes)
		}
		if err != nil {
			return payload.Body{}, gateway.Errorf(gateway.KindInvalidRequest, "cannot read the multipart form: %s", err.Error())
		}
		return payload.Body{Form: f}, nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return payload.Body{}, tooLarge(s.MaxBodyBytes)
		}
		return payload.Body{}, gateway.Errorf(gateway.KindInvalidRequest, "cannot read request body")
	}
	if !gjson.ValidBytes(body) {
		return payload.Body{}, gateway.Errorf(gateway.KindInvalidRequest, "the request body is not valid JSON").WithCode("invalid_json")
	}
	return payload.Body{JSON: body}, nil
}
