package task

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"switchboard/internal/format/midjourney"
	"switchboard/internal/gateway"
	"switchboard/internal/pricing"
	"switchboard/internal/route"
	"switchboard/internal/upstream"
)

// maxUpstreamAnswer bounds what is read of an upstream's task answer.
const maxUpstreamAnswer = 4 << 20

// MJAdapter polls midjourney-proxy upstreams.
type MJAdapter struct {
	Client *http.Client
	// Media, when set, proxies images through signed gateway URLs.
	Media *Media
}

// Poll fetches the upstream task object of t.
func (m MJAdapter) Poll(ctx context.Context, ch *gateway.Channel, t *gateway.Task) (Update, error) {
	c, _ := channelKey(ch, t.KeyIndex)
	req, err := upstream.TaskRequest(ctx, ch, c.APIKey, http.MethodGet, "", "/mj/task/"+t.UpstreamID+"/fetch", nil, "")
	if err != nil {
		return Update{}, err
	}
	body, status, err := roundTrip(m.Client, req)
	if err != nil {
		return Update{}, err
	}
	if status != http.StatusOK {
		return Update{}, fmt.Errorf("midjourney fetch answered %d", status)
	}
	ut, err := midjourney.DecodeTask(body)
	if err != nil {
		return Update{}, err
	}
	return Update{Status: ut.Status, Progress: ut.Progress, FailReason: ut.FailReason, Result: midjourney.KeepTask(body)}, nil
}

// HookBody is the task object, as midjourney-proxy posts it.
func (m MJAdapter) HookBody(t *gateway.Task) ([]byte, error) { return encodeMJ(m.Media, t), nil }

// roundTrip sends req and reads a bounded answer.
func roundTrip(client *http.Client, req *http.Request) ([]byte, int, error) {
	resp, err := client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxUpstreamAnswer+1))
	if err != nil {
		return nil, resp.StatusCode, err
	}
	if len(body) > maxUpstreamAnswer {
		return nil, resp.StatusCode, errors.New("upstream answer too large")
	}
	return body, resp.StatusCode, nil
}

// mjModes are the path prefixes that choose a mode.
var mjModes = map[string]string{"": "", "/mj-fast": "FAST", "/mj-relax": "RELAX", "/mj-turbo": "TURBO"}

func (a *API) registerMidjourney(mux *http.ServeMux) {
	mj := func(pattern string, h handler) { mux.HandleFunc(pattern, a.render(midjourney.WriteError, h)) }
	for prefix, mode := range mjModes {
		for path, kind := range map[string]string{
			"/mj/submit/imagine": midjourney.SubmitImagine, "/mj/submit/blend": midjourney.SubmitBlend,
			"/mj/submit/describe": midjourney.SubmitDescribe, "/mj/submit/shorten": midjourney.SubmitShorten,
			"/mj/submit/action": midjourney.SubmitAction, "/mj/submit/modal": midjourney.SubmitModal,
			"/mj/insight-face/swap": midjourney.SubmitSwapFace,
		} {
			mj("POST "+prefix+path, a.mjSubmit(kind, mode))
		}
		mj("GET "+prefix+"/mj/task/{id}/fetch", a.mjFetch)
		mj("POST "+prefix+"/mj/task/list-by-condition", a.mjList)
		mj("GET "+prefix+"/mj/task/{id}/image-seed", a.mjSeed)
	}
	mj("GET /mj/image/{id}", a.mjImage)
}

func (a *API) mjKey(r *http.Request) (*gateway.Key, error) {
	secret := r.Header.Get("mj-api-secret")
	if secret == "" {
		secret = bearer(r)
	}
	return a.authenticate(r, secret)
}

// writeSubmit answers a submit call (HTTP 200, as midjourney-proxy does
// for every protocol code).
func writeSubmit(w http.ResponseWriter, code int, description, id string, props map[string]any) error {
	w.Header().Set("Content-Type", "application/json")
	_, err := w.Write(midjourney.EncodeSubmitResult(code, description, id, props))
	return err
}

// shownProps are the submit-answer properties relayed from an upstream:
// the ones the protocol defines for clients, none naming its accounts.
var shownProps = []string{"status", "imageUrl", "numberOfQueues", "promptEn", "bannedWord", "finalPrompt", "finalZhPrompt", "discordChannelCount"}

func keepProps(p map[string]any) map[string]any {
	out := map[string]any{}
	for _, k := range shownProps {
		if v, ok := p[k]; ok {
			out[k] = v
		}
	}
	return out
}

// mjPriceName is the price (and route) name of an action: mj/imagine,
// mj/upscale, ...; with a mode, mj/imagine/relax when that is priced.
func (a *API) mjPriceName(action, mode string) (priceName, routeName string) {
	routeName = "mj/" + lower(action)
	if mode != "" {
		if name := routeName + "/" + lower(mode); a.priced(name) {
			return name, routeName
		}
	}
	return routeName, routeName
}

func (a *API) priced(name string) bool {
	_, ok := a.Service.Prices.Lookup(name)
	return ok
}

func (a *API) mjSubmit(kind, pathMode string) handler {
	return func(w http.ResponseWriter, r *http.Request) error {
		key, err := a.mjKey(r)
		if err != nil {
			return err
		}
		body, err := a.readBody(w, r)
		if err != nil {
			return err
		}
		sub, merr := midjourney.DecodeSubmit(kind, pathMode, body)
		if merr != nil {
			return writeSubmit(w, merr.Code, merr.Description, "", nil)
		}
		if gerr := checkHook(sub.NotifyHook); gerr != nil {
			return writeSubmit(w, midjourney.CodeValidation, gerr.Message, "", nil)
		}
		if kind == midjourney.SubmitModal {
			return a.mjModal(w, r, key, sub)
		}
		var parent *gateway.Task
		if kind == midjourney.SubmitAction {
			p, err := a.Service.Owned(r.Context(), key, gateway.TaskMidjourney, sub.TaskID)
			if errors.Is(err, gateway.ErrNotFound) {
				return writeSubmit(w, midjourney.CodeNotFound, "the related task does not exist", "", nil)
			}
			if err != nil {
				return err
			}
			if p.Status != gateway.TaskSucceeded {
				return writeSubmit(w, midjourney.CodeValidation, "the related task has not succeeded", "", nil)
			}
			parent = &p
		}
		priceName, routeName := a.mjPriceName(sub.Action, sub.Mode)
		if !key.Allows(routeName) && !key.Allows(priceName) {
			return gateway.Errorf(gateway.KindPermission, "this key may not use %s", routeName)
		}
		release, err := a.admit(r, key)
		if err != nil {
			return err
		}
		defer release()
		// Follow-ups go to the channel that ran the original task.
		var cands []route.Candidate
		if parent != nil {
			c, ok := a.taskChannel(parent)
			if !ok {
				return writeSubmit(w, midjourney.CodeFailure, "the channel that ran the related task is no longer available", "", nil)
			}
			cands = append(cands, c)
		} else {
			plan := a.Router.Plan(routeName, time.Now())
			for c, ok := plan.Next(time.Now()); ok && len(cands) < 3; c, ok = plan.Next(time.Now()) {
				if c.Channel.Type == gateway.ChannelMidjourney {
					cands = append(cands, c)
				}
			}
			if len(cands) == 0 {
				return gateway.Errorf(gateway.KindUnavailable, "no Midjourney channel serves %s", routeName)
			}
		}
		routes := make([]pricing.Route, len(cands))
		for i, c := range cands {
			routes[i] = pricing.Route{UpstreamModel: priceName, Channel: c.Channel}
		}
		t := gateway.Task{ID: NewNumericID(time.Now()), Kind: gateway.TaskMidjourney, KeyID: key.ID, KeyName: key.Name,
			Action: sub.Action, Model: priceName, UpstreamModel: priceName, HookURL: sub.NotifyHook}
		t.HoldID = "task-" + t.ID
		t.Request = mjRequestSummary(sub)
		if parent != nil {
			t.ParentID = parent.ID
		}
		held, gerr := a.Service.Hold(r.Context(), key, t.HoldID, priceName, nil, routes)
		if gerr != nil {
			return gerr
		}
		t.Held = held
		if err := a.Service.Begin(r.Context(), &t); err != nil {
			return err
		}
		upBody := sub.Body
		if sub.Mode != "" {
			upBody, _ = sjson.SetBytes(upBody, "accountFilter.modes", []string{sub.Mode})
		}
		ctx := context.WithoutCancel(r.Context()) // the task is stored: finish what was started
		var full *mjAnswer
		for _, c := range cands {
			if parent != nil {
				upBody, _ = sjson.SetBytes(upBody, "taskId", parent.UpstreamID)
			}
			res, err := a.mjSend(ctx, c, key.ID, mjUpstreamPath(c.Channel, sub), upBody)
			if err != nil {
				a.log().Info("midjourney submit failed", "channel", c.Channel.Name, "err", err)
				continue
			}
			if res.code == midjourney.CodeQueueFull && parent == nil {
				full = &res
				continue // another account may have room
			}
			t.ChannelID, t.KeyIndex = c.Channel.ID, c.KeyIndex
			if !midjourney.Accepted(res.code) || res.upstreamID == "" {
				if err := a.Service.Failed(ctx, &t, res.description); err != nil {
					return err
				}
				return writeSubmit(w, res.code, res.description, "", keepProps(res.props))
			}
			st := gateway.TaskQueued
			if s, _ := res.props["status"].(string); strings.EqualFold(s, "MODAL") {
				st = gateway.TaskModal
			}
			if err := a.Service.Accepted(ctx, &t, res.upstreamID, Update{Status: st}); err != nil {
				return err
			}
			return writeSubmit(w, res.code, res.description, t.ID, keepProps(res.props))
		}
		if err := a.Service.Failed(ctx, &t, "no upstream accepted the task"); err != nil {
			return err
		}
		if full != nil {
			return writeSubmit(w, full.code, full.description, "", keepProps(full.props))
		}
		return &gateway.Error{Kind: gateway.KindUnavailable, Message: "no Midjourney upstream accepted the task; retry later"}
	}
}

// mjRequestSummary is what a task keeps of its request: enough to render
// the task object (prompt, state, customId), not the images.
func mjRequestSummary(s *midjourney.Submit) []byte {
	b, _ := json.Marshal(map[string]string{"prompt": s.Prompt, "state": s.State, "customId": s.CustomID, "mode": s.Mode})
	return b
}

// mjUpstreamPath is the upstream path of a submission; a channel with
// setting mode_path: "true" also gets the mode as a path prefix
// (/mj-relax/mj/...), as new-api style relays take it.
func mjUpstreamPath(ch *gateway.Channel, s *midjourney.Submit) string {
	path := "/mj/submit/" + s.Kind
	if s.Kind == midjourney.SubmitSwapFace {
		path = "/mj/insight-face/swap"
	}
	if s.Mode != "" && ch.Settings["mode_path"] == "true" {
		path = "/mj-" + lower(s.Mode) + path
	}
	return path
}

type mjAnswer struct {
	code        int
	description string
	upstreamID  string
	props       map[string]any
}

// mjSend posts one submission. Transport failures, 429 and 5xx are
// errors (the caller tries the next channel); any other answer is the
// upstream's verdict.
func (a *API) mjSend(ctx context.Context, c route.Candidate, caller int64, path string, body []byte) (mjAnswer, error) {
	ctx, cancel := context.WithTimeout(ctx, a.submitTimeout())
	defer cancel()
	req, err := upstream.TaskRequest(ctx, c.Channel, c.APIKey, http.MethodPost, "", path, body, "")
	if err != nil {
		return mjAnswer{}, err
	}
	data, status, err := roundTrip(a.Client, req)
	if err != nil {
		a.report(c, gateway.OutcomeFailure, 0)
		return mjAnswer{}, err
	}
	switch {
	case status == http.StatusTooManyRequests:
		a.report(c, gateway.OutcomeRateLimited, 0)
		return mjAnswer{}, fmt.Errorf("upstream answered %d", status)
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		a.report(c, gateway.OutcomeAuthFailure, caller)
		return mjAnswer{}, fmt.Errorf("upstream answered %d", status)
	case status >= 500:
		a.report(c, gateway.OutcomeFailure, caller)
		return mjAnswer{}, fmt.Errorf("upstream answered %d", status)
	}
	code, desc, id, props, err := midjourney.DecodeSubmitResult(data)
	if err != nil {
		a.report(c, gateway.OutcomeFailure, caller)
		return mjAnswer{}, err
	}
	a.report(c, gateway.OutcomeSuccess, caller)
	return mjAnswer{code: code, description: upstream.Redact(c.Channel, desc), upstreamID: id, props: props}, nil
}

// mjModal continues a task waiting in MODAL: the same task goes on (its
// hold was placed by the action that opened the modal).
func (a *API) mjModal(w http.ResponseWriter, r *http.Request, key *gateway.Key, sub *midjourney.Submit) error {
	t, err := a.Service.Owned(r.Context(), key, gateway.TaskMidjourney, sub.TaskID)
	if errors.Is(err, gateway.ErrNotFound) {
		return writeSubmit(w, midjourney.CodeNotFound, "the task does not exist", "", nil)
	}
	if err != nil {
		return err
	}
	if t.Status != gateway.TaskModal {
		// A client polling slowly may not have seen MODAL yet.
		t = a.Service.Fresh(r.Context(), t)
		if t.Status != gateway.TaskModal {
			return writeSubmit(w, midjourney.CodeValidation, "the task is not waiting for a modal submission", "", nil)
		}
	}
	c, ok := a.taskChannel(&t)
	if !ok {
		return writeSubmit(w, midjourney.CodeFailure, "the channel that ran the task is no longer available", "", nil)
	}
	body, _ := sjson.SetBytes(sub.Body, "taskId", t.UpstreamID)
	res, err := a.mjSend(context.WithoutCancel(r.Context()), c, key.ID, mjUpstreamPath(c.Channel, sub), body)
	if err != nil {
		return &gateway.Error{Kind: gateway.KindUnavailable, Message: "the Midjourney upstream did not answer; retry later", Err: err}
	}
	if !midjourney.Accepted(res.code) {
		return writeSubmit(w, res.code, res.description, "", keepProps(res.props))
	}
	if res.upstreamID != "" && res.upstreamID != t.UpstreamID {
		t.UpstreamID = res.upstreamID
	}
	if err := a.Service.Accepted(r.Context(), &t, t.UpstreamID, Update{Status: gateway.TaskQueued, Progress: t.Progress}); err != nil {
		return err
	}
	return writeSubmit(w, res.code, res.description, t.ID, keepProps(res.props))
}

func writeJSON(w http.ResponseWriter, status int, b []byte) error {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, err := w.Write(b)
	return err
}

// ownedMJ is the Midjourney task of the request's path, if the caller's
// key owns it.
func (a *API) ownedMJ(r *http.Request) (gateway.Task, error) {
	key, err := a.mjKey(r)
	if err != nil {
		return gateway.Task{}, err
	}
	t, err := a.Service.Owned(r.Context(), key, gateway.TaskMidjourney, r.PathValue("id"))
	if errors.Is(err, gateway.ErrNotFound) {
		return t, gateway.Errorf(gateway.KindNotFound, "task not found")
	}
	return t, err
}

func (a *API) mjFetch(w http.ResponseWriter, r *http.Request) error {
	t, err := a.ownedMJ(r)
	if err != nil {
		return err
	}
	t = a.Service.Fresh(r.Context(), t)
	return writeJSON(w, http.StatusOK, encodeMJ(a.Media, &t))
}

// maxListIDs bounds one list-by-condition call.
const maxListIDs = 100

func (a *API) mjList(w http.ResponseWriter, r *http.Request) error {
	key, err := a.mjKey(r)
	if err != nil {
		return err
	}
	body, err := a.readBody(w, r)
	if err != nil {
		return err
	}
	ids := gjson.GetBytes(body, "ids")
	if !gjson.ValidBytes(body) || !ids.IsArray() {
		return gateway.Errorf(gateway.KindInvalidRequest, "ids must be an array of task ids")
	}
	var want []string
	for _, v := range ids.Array() {
		switch v.Type {
		case gjson.String:
			want = append(want, v.Str)
		case gjson.Number:
			want = append(want, v.Raw)
		default:
			return gateway.Errorf(gateway.KindInvalidRequest, "ids must be an array of task ids")
		}
	}
	if len(want) > maxListIDs {
		return gateway.Errorf(gateway.KindInvalidRequest, "at most %d ids per call", maxListIDs)
	}
	out := []json.RawMessage{}
	if len(want) > 0 {
		ts, err := a.Service.Store.ListTasks(r.Context(), gateway.TaskFilter{KeyID: key.ID, Kind: gateway.TaskMidjourney, IDs: want, Limit: maxListIDs})
		if err != nil {
			return err
		}
		byID := map[string]gateway.Task{}
		for _, t := range ts {
			if t.Status != gateway.TaskSubmitting {
				byID[t.ID] = t
			}
		}
		for _, id := range want {
			if t, ok := byID[id]; ok {
				t = a.Service.Fresh(r.Context(), t)
				out = append(out, encodeMJ(a.Media, &t))
				delete(byID, id)
			}
		}
	}
	b, _ := json.Marshal(out)
	return writeJSON(w, http.StatusOK, b)
}

func (a *API) mjSeed(w http.ResponseWriter, r *http.Request) error {
	t, err := a.ownedMJ(r)
	if err != nil {
		return err
	}
	c, ok := a.taskChannel(&t)
	if !ok {
		return gateway.Errorf(gateway.KindUnavailable, "the channel that ran the task is no longer available")
	}
	ch := c.Channel
	req, err := upstream.TaskRequest(r.Context(), ch, c.APIKey, http.MethodGet, "", "/mj/task/"+t.UpstreamID+"/image-seed", nil, "")
	if err != nil {
		return err
	}
	data, status, err := roundTrip(a.Client, req)
	if err != nil || status >= 500 {
		return &gateway.Error{Kind: gateway.KindUnavailable, Message: "the Midjourney upstream did not answer; retry later", Err: err}
	}
	code, desc, seed, _, err := midjourney.DecodeSubmitResult(data)
	if err != nil {
		return &gateway.Error{Kind: gateway.KindUpstream, Status: http.StatusBadGateway, Message: "the Midjourney upstream answered something unreadable", Err: err}
	}
	return writeSubmit(w, code, upstream.Redact(ch, desc), seed, nil)
}
