package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"switchboard/internal/gateway"
	"switchboard/internal/pricing"
)

// Health is the read side of the channel health tracker that the admin API
// shows. inmem.Health and redisstore.Health both satisfy it.
type Health interface {
	Snapshot() []gateway.ChannelHealth
}

// Change topics passed to Deps.OnChange.
const (
	TopicKeys     = "keys"
	TopicChannels = "channels"
)

// Deps is what the admin API needs from the rest of the node.
type Deps struct {
	Store  gateway.Store
	Health Health // nil: /health reports every channel as closed
	// ResetChannel forgets a channel's health state; called after a channel
	// is edited or deleted so its breaker starts fresh. May be nil.
	ResetChannel func(ctx context.Context, channelID int64) error
	// EnableKey puts an upstream key taken out of rotation (401/403, or
	// cooling after a 429) back in. It returns nil when the key is in
	// rotation afterwards, including when it already was. May be nil (the
	// route then answers 501).
	EnableKey func(ctx context.Context, channelID int64, keyIndex int) error
	// AdminTokenHash is the hex SHA-256 of the admin token. Empty refuses
	// every request: the admin API is never open.
	AdminTokenHash string
	// HashKey hashes client key secrets the way the public API looks them
	// up (httpapi.HashKey).
	HashKey func(secret string) string
	// OnChange is called after every successful mutation with TopicKeys or
	// TopicChannels, so the caller can reload caches and tell other nodes.
	OnChange func(ctx context.Context, topic string)
	Now      func() time.Time
	Log      *slog.Logger
	// Prices is the table the node bills with (GET /admin/api/prices); nil
	// answers 501.
	Prices *pricing.Table
	// TestChannel sends a real minimal call to one channel
	// (POST /admin/api/channels/{id}/test); nil answers 501.
	TestChannel TestChannelFunc
	// Tasks lists the task subsystem's tasks (GET /admin/api/tasks); nil
	// answers 501.
	Tasks TaskLister
}

// API serves the admin REST API.
type API struct {
	d         Deps
	tokenHash []byte // decoded AdminTokenHash; nil refuses everyone
	mux       *http.ServeMux
}

// maxBody bounds admin request bodies; a channel with many keys and a long
// model list is still only a few KiB.
const maxBody = 1 << 20

// New returns the API. Missing optional dependencies get safe defaults.
func New(d Deps) *API {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.HashKey == nil {
		d.HashKey = func(s string) string {
			sum := sha256.Sum256([]byte(s))
			return hex.EncodeToString(sum[:])
		}
	}
	a := &API{d: d}
	if h, err := hex.DecodeString(strings.TrimSpace(d.AdminTokenHash)); err == nil && len(h) == sha256.Size {
		a.tokenHash = h
	} else if d.AdminTokenHash != "" {
		d.Log.Error("admin: AdminTokenHash is not a hex SHA-256; the admin API refuses every request")
	}
	return a
}

// Register adds every admin route under /admin/api/ to mux.
func (a *API) Register(mux *http.ServeMux) {
	a.mux = mux
	for _, r := range a.routes() {
		mux.Handle(r.pattern, a.auth(r.h))
	}
	// The API's description is public, like any OpenAPI document.
	mux.HandleFunc("GET /admin/api/openapi.json", a.openAPI)
}

// adminRoute is one route of the admin API.
type adminRoute struct {
	pattern string
	h       http.HandlerFunc
}

// routes is the admin API; each route is documented in operations
// (openapi.go), which a test checks.
func (a *API) routes() []adminRoute {
	return []adminRoute{
		{"GET /admin/api/keys", a.listKeys},
		{"POST /admin/api/keys", a.createKey},
		{"GET /admin/api/keys/{id}", a.getKey},
		{"PATCH /admin/api/keys/{id}", a.patchKey},
		{"DELETE /admin/api/keys/{id}", a.deleteKey},
		{"POST /admin/api/keys/{id}/disable", a.setKeyEnabled(false)},
		{"POST /admin/api/keys/{id}/enable", a.setKeyEnabled(true)},

		{"GET /admin/api/channels", a.listChannels},
		{"POST /admin/api/channels", a.createChannel},
		{"GET /admin/api/channels/{id}", a.getChannel},
		{"PATCH /admin/api/channels/{id}", a.patchChannel},
		{"DELETE /admin/api/channels/{id}", a.deleteChannel},
		{"POST /admin/api/channels/{id}/disable", a.setChannelEnabled(false)},
		{"POST /admin/api/channels/{id}/enable", a.setChannelEnabled(true)},
		{"POST /admin/api/channels/{id}/keys/{index}/enable", a.enableUpstreamKey},

		{"GET /admin/api/health", a.health},
		{"GET /admin/api/usage", a.usage},
		{"GET /admin/api/usage/summary", a.usageSummary},
		{"GET /admin/api/prices", a.prices},
		{"GET /admin/api/tasks", a.tasks},
		{"POST /admin/api/channels/{id}/test", a.testChannel},

		{"/admin/api/", a.noRoute},
	}
}

// Protect wraps h (a route mounted outside /admin/api/, such as /metrics)
// so it answers only requests carrying the admin token.
func (a *API) Protect(h http.Handler) http.Handler { return a.auth(h.ServeHTTP) }

// auth admits requests carrying the admin token. The token is hashed and
// the hashes compared in constant time, so neither the token nor how much
// of it matched leaks through timing.
func (a *API) auth(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if !a.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="switchboard-admin"`)
			a.fail(w, r, errorf(http.StatusUnauthorized, "invalid or missing admin token"))
			return
		}
		next(w, r)
	})
}

func (a *API) authorized(r *http.Request) bool {
	if a.tokenHash == nil {
		return false
	}
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return false
	}
	sum := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(sum[:], a.tokenHash) == 1
}

// noRoute answers paths under /admin/api/ that no route matches: 405 when
// the path exists with another method, 404 otherwise, both in the admin
// error shape rather than net/http's plain text.
func (a *API) noRoute(w http.ResponseWriter, r *http.Request) {
	var allow []string
	if a.mux != nil {
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := a.mux.Handler(probe); pattern != "" && pattern != "/admin/api/" {
				allow = append(allow, m)
			}
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		a.fail(w, r, errorf(http.StatusMethodNotAllowed, "method %s not allowed on %s", r.Method, r.URL.Path))
		return
	}
	a.fail(w, r, errorf(http.StatusNotFound, "no admin route %s %s", r.Method, r.URL.Path))
}

// apiError is an error with the status and public message it is sent with.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func errorf(status int, format string, args ...any) *apiError {
	return &apiError{status: status, msg: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, format, args...)
}

var errorTypes = map[int]string{
	http.StatusBadRequest:            "invalid_request_error",
	http.StatusUnauthorized:          "authentication_error",
	http.StatusNotFound:              "not_found_error",
	http.StatusMethodNotAllowed:      "method_not_allowed",
	http.StatusConflict:              "conflict_error",
	http.StatusRequestEntityTooLarge: "request_too_large",
	http.StatusNotImplemented:        "not_implemented",
}

// fail writes err in the admin error shape. Store sentinels map to 404 and
// 409; anything unexpected is a 500 whose cause is logged, not sent.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
	case errors.Is(err, gateway.ErrNotFound):
		ae = errorf(http.StatusNotFound, "not found")
	case errors.Is(err, gateway.ErrConflict):
		ae = errorf(http.StatusConflict, "name already in use")
	default:
		a.d.Log.ErrorContext(r.Context(), "admin request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		ae = errorf(http.StatusInternalServerError, "internal error")
	}
	typ := errorTypes[ae.status]
	if typ == "" {
		typ = "internal_error"
	}
	body := struct {
		Error struct {
			Message string `json:"message"`
			Type    string `json:"type"`
		} `json:"error"`
	}{}
	body.Error.Message, body.Error.Type = ae.msg, typ
	writeJSON(w, ae.status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the client went away; nothing useful to do
}

// list is the envelope of every collection response.
type list[T any] struct {
	Object string `json:"object"`
	Data   []T    `json:"data"`
}

func newList[T any](data []T) list[T] {
	if data == nil {
		data = []T{}
	}
	return list[T]{Object: "list", Data: data}
}

// decodeJSON reads one JSON object from r's body into dst. Unknown fields
// are rejected so a typo ("budget" for "budget_usd") is an error instead
// of a silent no-op.
func decodeJSON(r io.Reader, dst any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var mbe *http.MaxBytesError
		var ute *json.UnmarshalTypeError
		switch {
		case errors.As(err, &mbe):
			return errorf(http.StatusRequestEntityTooLarge, "request body larger than %d bytes", mbe.Limit)
		case errors.Is(err, io.EOF):
			return badRequest("request body is empty; want a JSON object")
		case errors.As(err, &ute) && ute.Field != "":
			return badRequest("field %s: want %s, got JSON %s", ute.Field, ute.Type, ute.Value)
		}
		return badRequest("invalid JSON: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("invalid JSON: unexpected data after the object")
	}
	return nil
}

func (a *API) readJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	return decodeJSON(http.MaxBytesReader(w, r.Body, maxBody), dst)
}

func pathID(r *http.Request, name string) (int64, error) {
	v := r.PathValue(name)
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return 0, errorf(http.StatusNotFound, "invalid id %q", v)
	}
	return id, nil
}

// changed tells the caller about a mutation. The request's cancellation is
// dropped: a client hanging up right after a change must not stop other
// nodes from hearing about it.
func (a *API) changed(r *http.Request, topic string) {
	if a.d.OnChange != nil {
		a.d.OnChange(context.WithoutCancel(r.Context()), topic)
	}
}

// usd renders nano-USD as dollars for display; *_nano_usd fields stay the
// exact values.
func usd(nano int64) float64 { return float64(nano) / 1e9 }

// timePtr omits zero times from responses.
func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}
