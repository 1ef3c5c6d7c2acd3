package task

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"switchboard/internal/gateway"
	"switchboard/internal/httpapi"
	"switchboard/internal/route"
	"switchboard/internal/safefetch"
)

// API serves the task endpoints: Midjourney (mj.go) and videos (video.go).
type API struct {
	Service *Service
	Router  *route.Router
	Client  *http.Client
	// Keys resolves a client secret to its key (httpapi.KeyCache.Lookup):
	// nil key and nil error for an unknown secret.
	Keys   func(ctx context.Context, secret string) (*gateway.Key, error)
	Health gateway.Health
	// Limiter applies the key's RPM and concurrency limits to submissions
	// (fetches are not counted: clients poll); nil applies none.
	Limiter gateway.Limiter
	Log     *slog.Logger
	// MaxBodyBytes bounds request bodies (default 32 MiB).
	MaxBodyBytes int64
	// SubmitTimeout bounds one submission to an upstream (default 60s).
	SubmitTimeout time.Duration
	// Media, when set, proxies Midjourney images through signed URLs.
	Media *Media
}

type handler func(w http.ResponseWriter, r *http.Request) error

type errorWriter func(w http.ResponseWriter, e *gateway.Error, requestID string)

// render writes a handler's error in its protocol's shape.
func (a *API) render(writeErr errorWriter, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		ge := gateway.AsError(err)
		if ge.Kind == gateway.KindInternal {
			a.log().Error("task request failed", "request_id", httpapi.RequestID(r.Context()), "err", err)
		}
		writeErr(w, ge, httpapi.RequestID(r.Context()))
	}
}

func (a *API) log() *slog.Logger {
	if a.Log == nil {
		return slog.Default()
	}
	return a.Log
}

// Register mounts the task routes.
func (a *API) Register(mux *http.ServeMux) {
	a.registerMidjourney(mux)
	a.registerVideo(mux)
}

// bearer is the key of an Authorization: Bearer header.
func bearer(r *http.Request) string {
	if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return strings.TrimSpace(v)
	}
	return ""
}

func (a *API) authenticate(r *http.Request, secret string) (*gateway.Key, error) {
	if secret == "" {
		return nil, gateway.Errorf(gateway.KindAuthentication, "missing API key: send it as a Bearer token")
	}
	k, err := a.Keys(r.Context(), secret)
	if err != nil {
		return nil, &gateway.Error{Kind: gateway.KindUnavailable, Message: "key store unavailable", Err: err}
	}
	if k == nil || !k.Enabled {
		return nil, gateway.Errorf(gateway.KindAuthentication, "invalid API key")
	}
	return k, nil
}

// admit counts a submission against the key's limits; call release when
// the submission's request ends.
func (a *API) admit(r *http.Request, key *gateway.Key) (release func(), err error) {
	if a.Limiter == nil {
		return func() {}, nil
	}
	return a.Limiter.Acquire(r.Context(), *key)
}

func (a *API) maxBody() int64 {
	if a.MaxBodyBytes > 0 {
		return a.MaxBodyBytes
	}
	return 32 << 20
}

// readJSON reads a bounded body.
func (a *API) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.maxBody()))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, gateway.Errorf(gateway.KindRequestTooLarge, "request body exceeds the limit of %d bytes", a.maxBody())
	}
	if err != nil {
		return nil, gateway.Errorf(gateway.KindInvalidRequest, "cannot read request body")
	}
	return b, nil
}

func (a *API) submitTimeout() time.Duration {
	if a.SubmitTimeout > 0 {
		return a.SubmitTimeout
	}
	return 60 * time.Second
}

// checkHook vets a client's callback URL; the guard checks its address
// again when it is called.
func checkHook(u string) *gateway.Error {
	if u == "" {
		return nil
	}
	if len(u) > 2048 {
		return gateway.Errorf(gateway.KindInvalidRequest, "the callback URL is too long")
	}
	if err := safefetch.CheckURL(u); err != nil {
		return gateway.Errorf(gateway.KindInvalidRequest, "callback URL refused: %s", strings.TrimPrefix(err.Error(), safefetch.ErrRefused.Error()+": "))
	}
	return nil
}

// report tells the health tracker how an attempt went.
func (a *API) report(c route.Candidate, o gateway.Outcome, caller int64) {
	if a.Health != nil {
		a.Health.Report(gateway.HealthReport{ChannelID: c.Channel.ID, KeyIndex: c.KeyIndex, Outcome: o, Caller: caller})
	}
}

// taskChannel is the channel that runs t, with the key follow-ups use;
// false when it is gone or disabled.
func (a *API) taskChannel(t *gateway.Task) (route.Candidate, bool) {
	ch, ok := a.Router.Channel(t.ChannelID)
	if !ok {
		return route.Candidate{}, false
	}
	c, ok := channelKey(ch, t.KeyIndex)
	c.UpstreamModel = t.UpstreamModel
	return c, ok
}

// channelKey is the candidate of a follow-up call on ch with its key
// keyIndex (the key that submitted the task; the first when the channel
// has fewer keys now).
func channelKey(ch *gateway.Channel, keyIndex int) (route.Candidate, bool) {
	if ch == nil || !ch.Enabled {
		return route.Candidate{}, false
	}
	c := route.Candidate{Channel: ch}
	if keyIndex < 0 || keyIndex >= len(ch.APIKeys) {
		keyIndex = 0
	}
	if len(ch.APIKeys) > 0 {
		c.APIKey, c.KeyIndex = ch.APIKeys[keyIndex], keyIndex
	}
	return c, true
}
