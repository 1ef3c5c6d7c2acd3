package task

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"switchboard/internal/format/openai"
	"switchboard/internal/gateway"
	"switchboard/internal/payload"
	"switchboard/internal/pricing"
	"switchboard/internal/route"
	"switchboard/internal/safefetch"
	"switchboard/internal/upstream"
)

// Video defaults, as OpenAI's Videos API documents them.
const (
	defaultVideoModel   = "sora-2"
	defaultVideoSeconds = "4"
	defaultVideoSize    = "720x1280"
	maxVideoSeconds     = 120
	maxRefBytes         = 20 << 20
)

var sizeRE = regexp.MustCompile(`^[1-9][0-9]{1,4}x[1-9][0-9]{1,4}$`)

// videoReq is a create request as the gateway reads it.
type videoReq struct {
	Model, Prompt, Seconds, Size, Callback string
	JSON                                   []byte        // the JSON body (nil for a form)
	Form                                   *payload.Form // the multipart body (nil for JSON)
	Ref                                    *payload.Part // input_reference file
	RefB64, RefMime                        string        // input_reference as inline data (JSON image_url data URI)
	explicitSize                           bool
}

func (v *videoReq) units() []gateway.Metered {
	n, _ := strconv.ParseInt(v.Seconds, 10, 64)
	return []gateway.Metered{{Unit: gateway.UnitVideoSecond + ":" + v.Size, Count: n}}
}

func invalidParam(param, format string, args ...any) *gateway.Error {
	return gateway.Errorf(gateway.KindInvalidRequest, format, args...).WithParam(param)
}

// readVideoReq reads POST /v1/videos: JSON, or multipart with an
// input_reference file.
func (a *API) readVideoReq(w http.ResponseWriter, r *http.Request) (*videoReq, error) {
	v := &videoReq{}
	ct := r.Header.Get("Content-Type")
	if payload.IsMultipart(ct) {
		boundary, err := payload.ContentTypeBoundary(ct)
		if err != nil {
			return nil, gateway.Errorf(gateway.KindInvalidRequest, "%s", err.Error())
		}
		f, err := payload.ReadForm(http.MaxBytesReader(w, r.Body, a.maxBody()), boundary, payload.Limits{MaxBytes: a.maxBody()})
		if err != nil {
			return nil, gateway.Errorf(gateway.KindInvalidRequest, "cannot read the multipart form: %s", err.Error())
		}
		v.Form = f
		v.Model, _ = f.Value("model")
		v.Prompt, _ = f.Value("prompt")
		v.Seconds, _ = f.Value("seconds")
		v.Size, _ = f.Value("size")
		v.Callback, _ = f.Value("callback_url")
		if refs := f.Files("input_reference"); len(refs) > 0 {
			v.Ref = refs[0]
		}
	} else {
		body, err := a.readBody(w, r)
		if err != nil {
			return nil, err
		}
		if !gjson.ValidBytes(body) || !gjson.ParseBytes(body).IsObject() {
			return nil, gateway.Errorf(gateway.KindInvalidRequest, "the body must be a JSON object").WithCode("invalid_json")
		}
		v.JSON = body
		g := gjson.ParseBytes(body)
		v.Model, v.Prompt, v.Size, v.Callback = g.Get("model").String(), g.Get("prompt").String(), g.Get("size").String(), g.Get("callback_url").String()
		v.Seconds = g.Get("seconds").String() // "8" or 8
		if ref := g.Get("input_reference.image_url"); ref.Exists() {
			if err := v.inlineRef(ref.String()); err != nil {
				return nil, err
			}
		}
	}
	return v, v.validate()
}

// inlineRef takes an input_reference given as a data URI.
func (v *videoReq) inlineRef(uri string) error {
	mt, data, err := safefetch.ParseDataURI(uri, maxRefBytes)
	if err != nil {
		return invalidParam("input_reference", "input_reference.image_url must be a data URI (URLs are not fetched): %s", gateway.AsError(err).Message)
	}
	v.RefB64, v.RefMime = data, mt
	return nil
}

func (v *videoReq) validate() error {
	if strings.TrimSpace(v.Prompt) == "" {
		return invalidParam("prompt", "prompt is required")
	}
	if v.Model == "" {
		v.Model = defaultVideoModel
	}
	if v.Seconds == "" {
		v.Seconds = defaultVideoSeconds
	}
	if n, err := strconv.Atoi(v.Seconds); err != nil || n <= 0 || n > maxVideoSeconds {
		return invalidParam("seconds", "seconds must be a whole number of seconds from 1 to %d", maxVideoSeconds)
	}
	v.explicitSize = v.Size != ""
	if v.Size == "" {
		v.Size = defaultVideoSize
	}
	if !sizeRE.MatchString(v.Size) {
		return invalidParam("size", "size must be WIDTHxHEIGHT, e.g. 1280x720")
	}
	if err := checkHook(v.Callback); err != nil {
		return err.WithParam("callback_url")
	}
	return nil
}

func (a *API) registerVideo(mux *http.ServeMux) {
	h := func(pattern string, fn handler) {
		for _, prefix := range []string{"/v1", ""} {
			method, path, _ := strings.Cut(pattern, " ")
			mux.HandleFunc(method+" "+prefix+path, a.render(openai.WriteError, fn))
		}
	}
	h("POST /videos", a.videoCreate)
	h("GET /videos", a.videoList)
	h("GET /videos/{id}", a.videoGet)
	h("DELETE /videos/{id}", a.videoDelete)
	h("POST /videos/{id}/remix", a.videoRemix)
	h("GET /videos/{id}/content", a.videoContent)
	h("POST /video/generations", a.generationCreate)
	h("GET /video/generations/{id}", a.generationGet)
}

func (a *API) videoKey(r *http.Request) (*gateway.Key, error) { return a.authenticate(r, bearer(r)) }

func (a *API) videoCreate(w http.ResponseWriter, r *http.Request) error {
	key, err := a.videoKey(r)
	if err != nil {
		return err
	}
	v, err := a.readVideoReq(w, r)
	if v != nil && v.Form != nil {
		defer v.Form.Close()
	}
	if err != nil {
		return err
	}
	t, err := a.startVideo(r.Context(), key, v, nil)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, renderVideo(&t))
}

// videoCandidates are the channels that may run a video of model: Gemini
// channels (Veo, translated) and OpenAI-format ones (passed through).
func (a *API) videoCandidates(model string) []route.Candidate {
	var out []route.Candidate
	plan := a.Router.Plan(model, time.Now())
	for c, ok := plan.Next(time.Now()); ok && len(out) < 3; c, ok = plan.Next(time.Now()) {
		switch c.Channel.Type {
		case gateway.ChannelOpenAI, gateway.ChannelOpenAICompatible, gateway.ChannelGemini:
			out = append(out, c)
		}
	}
	return out
}

// startVideo holds, stores and submits a video; parent is the video a
// remix starts from (its channel runs the remix).
func (a *API) startVideo(ctx context.Context, key *gateway.Key, v *videoReq, parent *gateway.Task) (gateway.Task, error) {
	if !key.Allows(v.Model) {
		return gateway.Task{}, gateway.Errorf(gateway.KindPermission, "this key may not use model %q", v.Model).WithCode("model_not_allowed")
	}
	if a.Limiter != nil {
		release, err := a.Limiter.Acquire(ctx, *key)
		if err != nil {
			return gateway.Task{}, err
		}
		defer release()
	}
	var cands []route.Candidate
	if parent != nil {
		c, ok := a.taskChannel(parent)
		if !ok {
			return gateway.Task{}, gateway.Errorf(gateway.KindUnavailable, "the channel that made this video is no longer available")
		}
		cands = append(cands, c)
	} else if cands = a.videoCandidates(v.Model); len(cands) == 0 {
		return gateway.Task{}, gateway.Errorf(gateway.KindNotFound, "the model %q does not exist or no channel serves videos of it", v.Model).WithCode("model_not_found").WithParam("model")
	}
	routes := make([]pricing.Route, len(cands))
	for i, c := range cands {
		routes[i] = pricing.Route{UpstreamModel: c.UpstreamModel, Channel: c.Channel}
	}
	action := "create"
	if parent != nil {
		action = "remix"
	}
	t := gateway.Task{ID: NewID("video_"), Kind: gateway.TaskVideo, KeyID: key.ID, KeyName: key.Name, Action: action,
		Model: v.Model, HookURL: v.Callback, Units: v.units()}
	t.HoldID = "task-" + t.ID
	t.Request, _ = json.Marshal(map[string]string{"prompt": v.Prompt, "seconds": v.Seconds, "size": v.Size})
	if parent != nil {
		t.ParentID = parent.ID
	}
	held, gerr := a.Service.Hold(ctx, key, t.HoldID, v.Model, t.Units, routes)
	if gerr != nil {
		return gateway.Task{}, gerr
	}
	t.Held = held
	if err := a.Service.Begin(ctx, &t); err != nil {
		return gateway.Task{}, err
	}
	ctx = context.WithoutCancel(ctx)
	var last *gateway.Error
	for _, c := range cands {
		t.ChannelID, t.KeyIndex, t.UpstreamModel = c.Channel.ID, c.KeyIndex, c.UpstreamModel
		var (
			upID string
			u    Update
			err  *gateway.Error
		)
		if c.Channel.Type == gateway.ChannelGemini {
			upID, u, err = a.veoSubmit(ctx, c, key.ID, v)
		} else {
			upID, u, err = a.openaiVideoSubmit(ctx, c, key.ID, v, parent)
		}
		if err != nil {
			last = err
			if err.Failover() {
				continue
			}
			break
		}
		if err := a.Service.Accepted(ctx, &t, upID, u); err != nil {
			return gateway.Task{}, err
		}
		return t, nil
	}
	if last == nil {
		last = gateway.Errorf(gateway.KindUnavailable, "no upstream accepted the video")
	}
	if err := a.Service.Failed(ctx, &t, last.Message); err != nil {
		return gateway.Task{}, err
	}
	return gateway.Task{}, last
}

// sendTask sends a task request and reads a bounded answer, telling the
// health tracker how it went. A transport failure, 429 or 5xx is an error
// that fails over; another non-2xx is the upstream's verdict.
func (a *API) sendTask(c route.Candidate, caller int64, req *http.Request, parse func(int, []byte) *gateway.Error) ([]byte, *gateway.Error) {
	data, status, err := roundTrip(a.Client, req)
	if err != nil {
		a.report(c, gateway.OutcomeFailure, 0)
		return nil, &gateway.Error{Kind: gateway.KindUnavailable, Message: "the upstream did not answer", Err: err}
	}
	if status < 200 || status > 299 {
		ge := upstream.RedactError(c.Channel, parse(status, data))
		switch {
		case status == http.StatusTooManyRequests:
			a.report(c, gateway.OutcomeRateLimited, 0)
		case status == http.StatusUnauthorized || status == http.StatusForbidden:
			a.report(c, gateway.OutcomeAuthFailure, caller)
			ge = &gateway.Error{Kind: gateway.KindUnavailable, Message: "the upstream refused the gateway's credentials"}
		case status >= 500:
			a.report(c, gateway.OutcomeFailure, caller)
		default:
			a.report(c, gateway.OutcomeSuccess, caller)
		}
		return nil, ge
	}
	a.report(c, gateway.OutcomeSuccess, caller)
	return data, nil
}

func (a *API) openaiVideoSubmit(ctx context.Context, c route.Candidate, caller int64, v *videoReq, parent *gateway.Task) (string, Update, *gateway.Error) {
	ctx, cancel := context.WithTimeout(ctx, a.submitTimeout())
	defer cancel()
	path := "/videos"
	var (
		body []byte
		enc  *payload.Encoded
		err  error
	)
	switch {
	case parent != nil:
		path = "/videos/" + url.PathEscape(parent.UpstreamID) + "/remix"
		body, _ = json.Marshal(map[string]string{"prompt": v.Prompt})
	case v.Form != nil:
		set := map[string]string{}
		if _, ok := v.Form.Value("model"); ok {
			set["model"] = c.UpstreamModel
		}
		if enc, err = v.Form.Encode(set, "callback_url"); err != nil {
			return "", Update{}, &gateway.Error{Kind: gateway.KindInternal, Message: "could not re-encode the form", Err: err}
		}
	default:
		body, _ = sjson.SetBytes(v.JSON, "model", c.UpstreamModel)
		body, _ = sjson.DeleteBytes(body, "callback_url")
	}
	req, rerr := upstream.TaskRequest(ctx, c.Channel, c.APIKey, http.MethodPost, "v1", path, body, "")
	if rerr != nil {
		return "", Update{}, &gateway.Error{Kind: gateway.KindInternal, Message: "could not build the upstream request", Err: rerr}
	}
	if enc != nil {
		req.Body, req.ContentLength = enc.Open(), enc.Length
		req.GetBody = func() (io.ReadCloser, error) { return enc.Open(), nil }
		req.Header.Set("Content-Type", enc.ContentType)
	}
	data, gerr := a.sendTask(c, caller, req, openai.ParseUpstreamError)
	if gerr != nil {
		return "", Update{}, gerr
	}
	id := gjson.GetBytes(data, "id").String()
	if id == "" {
		return "", Update{}, &gateway.Error{Kind: gateway.KindUpstream, Status: http.StatusBadGateway, Message: "the upstream answered a video without an id"}
	}
	return id, openaiVideoUpdate(data), nil
}

// openaiVideoUpdate reads an OpenAI video object.
func openaiVideoUpdate(data []byte) Update {
	g := gjson.ParseBytes(data)
	u := Update{Progress: int(g.Get("progress").Int()), Result: data}
	switch g.Get("status").String() {
	case "in_progress":
		u.Status = gateway.TaskInProgress
	case "completed":
		u.Status = gateway.TaskSucceeded
	case "failed":
		u.Status = gateway.TaskFailed
		u.FailReason = g.Get("error.message").String()
		if u.FailReason == "" {
			u.FailReason = "the video failed upstream"
		}
	default:
		u.Status = gateway.TaskQueued
	}
	return u
}

// veoSubmit translates the request to Gemini's predictLongRunning.
func (a *API) veoSubmit(ctx context.Context, c route.Candidate, caller int64, v *videoReq) (string, Update, *gateway.Error) {
	ctx, cancel := context.WithTimeout(ctx, a.submitTimeout())
	defer cancel()
	inst := map[string]any{"prompt": v.Prompt}
	if v.Ref != nil {
		b, err := io.ReadAll(io.LimitReader(v.Ref.Open(), maxRefBytes+1))
		if err != nil || len(b) > maxRefBytes {
			return "", Update{}, invalidParam("input_reference", "input_reference is larger than %d bytes", maxRefBytes)
		}
		mt := v.Ref.ContentType
		if mt == "" || mt == "application/octet-stream" {
			mt = http.DetectContentType(b)
		}
		inst["image"] = map[string]string{"bytesBase64Encoded": base64.StdEncoding.EncodeToString(b), "mimeType": mt}
	} else if v.RefB64 != "" {
		inst["image"] = map[string]string{"bytesBase64Encoded": v.RefB64, "mimeType": v.RefMime}
	}
	params := map[string]any{}
	secs, _ := strconv.Atoi(v.Seconds)
	params["durationSeconds"] = secs
	if v.explicitSize {
		w, h, _ := strings.Cut(v.Size, "x")
		wi, _ := strconv.Atoi(w)
		hi, _ := strconv.Atoi(h)
		if wi >= hi {
			params["aspectRatio"] = "16:9"
		} else {
			params["aspectRatio"] = "9:16"
		}
		if max(wi, hi) >= 1920 {
			params["resolution"] = "1080p"
		} else {
			params["resolution"] = "720p"
		}
	}
	body, _ := json.Marshal(map[string]any{"instances": []any{inst}, "parameters": params})
	req, err := upstream.TaskRequest(ctx, c.Channel, c.APIKey, http.MethodPost, "v1beta", "/models/"+url.PathEscape(c.UpstreamModel)+":predictLongRunning", body, "")
	if err != nil {
		return "", Update{}, &gateway.Error{Kind: gateway.KindInternal, Message: "could not build the upstream request", Err: err}
	}
	data, gerr := a.sendTask(c, caller, req, geminiError)
	if gerr != nil {
		return "", Update{}, gerr
	}
	name := gjson.GetBytes(data, "name").String()
	if name == "" {
		return "", Update{}, &gateway.Error{Kind: gateway.KindUpstream, Status: http.StatusBadGateway, Message: "the upstream answered an operation without a name"}
	}
	return name, veoUpdate(data), nil
}

// geminiError reads a Gemini error body ({"error": {"code", "message", "status"}}).
func geminiError(status int, body []byte) *gateway.Error {
	e := &gateway.Error{Kind: openai.KindForStatus(status), Status: status, Message: gjson.GetBytes(body, "error.message").String()}
	if e.Message == "" {
		e.Message = fmt.Sprintf("the upstream answered %d", status)
	}
	return e
}

// veoUpdate reads a long-running operation.
func veoUpdate(op []byte) Update {
	g := gjson.ParseBytes(op)
	u := Update{Status: gateway.TaskInProgress, Result: op}
	if !g.Get("done").Bool() {
		return u
	}
	if e := g.Get("error"); e.Exists() {
		u.Status, u.FailReason = gateway.TaskFailed, e.Get("message").String()
		if u.FailReason == "" {
			u.FailReason = "the video failed upstream"
		}
		return u
	}
	if veoURI(op) == "" {
		reason := "the upstream returned no video"
		if r := g.Get("response.generateVideoResponse.raiMediaFilteredReasons.0"); r.Exists() {
			reason = "the video was filtered: " + r.String()
		}
		u.Status, u.FailReason = gateway.TaskFailed, reason
		return u
	}
	u.Status, u.Progress = gateway.TaskSucceeded, 100
	return u
}

func veoURI(op []byte) string {
	g := gjson.ParseBytes(op)
	if v := g.Get("response.generateVideoResponse.generatedSamples.0.video.uri"); v.Exists() {
		return v.String()
	}
	return g.Get("response.generatedVideos.0.video.uri").String()
}

// VideoAdapter polls video upstreams: OpenAI-format channels by their
// video object, Gemini channels by their Veo operation.
type VideoAdapter struct {
	Client *http.Client
}

// Poll refreshes a video from its upstream.
func (v VideoAdapter) Poll(ctx context.Context, ch *gateway.Channel, t *gateway.Task) (Update, error) {
	c, _ := channelKey(ch, t.KeyIndex)
	var req *http.Request
	var err error
	if ch.Type == gateway.ChannelGemini {
		req, err = upstream.TaskRequest(ctx, ch, c.APIKey, http.MethodGet, "v1beta", "/"+t.UpstreamID, nil, "")
	} else {
		req, err = upstream.TaskRequest(ctx, ch, c.APIKey, http.MethodGet, "v1", "/videos/"+url.PathEscape(t.UpstreamID), nil, "")
	}
	if err != nil {
		return Update{}, err
	}
	data, status, err := roundTrip(v.Client, req)
	if err != nil {
		return Update{}, err
	}
	if status == http.StatusNotFound {
		return Update{Status: gateway.TaskFailed, Progress: t.Progress, FailReason: "the upstream no longer knows this video"}, nil
	}
	if status != http.StatusOK || !gjson.ValidBytes(data) {
		return Update{}, fmt.Errorf("video poll answered %d", status)
	}
	if ch.Type == gateway.ChannelGemini {
		return veoUpdate(data), nil
	}
	u := openaiVideoUpdate(data)
	if secs := gjson.GetBytes(data, "seconds").Int(); secs > 0 && u.Status == gateway.TaskSucceeded && len(t.Units) == 1 {
		u.Units = []gateway.Metered{{Unit: t.Units[0].Unit, Count: secs}}
	}
	return u, nil
}

// HookBody is OpenAI's webhook event for an ended video (video.completed,
// video.failed); unfinished videos send none.
func (VideoAdapter) HookBody(t *gateway.Task) ([]byte, error) {
	var typ string
	switch t.Status {
	case gateway.TaskSucceeded:
		typ = "video.completed"
	case gateway.TaskFailed, gateway.TaskCanceled:
		typ = "video.failed"
	default:
		return nil, nil
	}
	return json.Marshal(map[string]any{"id": "evt_" + strings.TrimPrefix(t.ID, "video_"), "object": "event",
		"created_at": t.FinishedAt.Unix(), "type": typ, "data": map[string]string{"id": t.ID}})
}

func unixOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Unix()
}

// renderVideo is a task as an OpenAI video object (times in Unix
// seconds): the upstream's object when it had one, with the gateway's id,
// model and status; the upstream's ids never appear.
func renderVideo(t *gateway.Task) []byte {
	out := []byte(`{}`)
	if g := gjson.ParseBytes(t.Result); g.Get("object").String() == "video" {
		out = t.Result
	}
	req := gjson.ParseBytes(t.Request)
	set := func(path string, v any) {
		if b, err := sjson.SetBytes(out, path, v); err == nil {
			out = b
		}
	}
	status := "queued"
	switch t.Status {
	case gateway.TaskInProgress, gateway.TaskModal:
		status = "in_progress"
	case gateway.TaskSucceeded:
		status = "completed"
	case gateway.TaskFailed, gateway.TaskCanceled:
		status = "failed"
	}
	set("id", t.ID)
	set("object", "video")
	set("model", t.Model)
	set("status", status)
	set("progress", t.Progress)
	set("created_at", t.CreatedAt.Unix())
	set("completed_at", unixOrNil(t.FinishedAt))
	if !gjson.GetBytes(out, "expires_at").Exists() {
		set("expires_at", nil)
	}
	set("prompt", req.Get("prompt").String())
	if up := gjson.GetBytes(out, "seconds"); !up.Exists() || up.Type != gjson.String {
		set("seconds", req.Get("seconds").String())
	}
	if !gjson.GetBytes(out, "size").Exists() {
		set("size", req.Get("size").String())
	}
	if t.ParentID != "" {
		set("remixed_from_video_id", t.ParentID)
	} else {
		set("remixed_from_video_id", nil)
	}
	if status == "failed" {
		code := "video_generation_failed"
		if t.Status == gateway.TaskCanceled {
			code = "canceled"
		}
		set("error", map[string]string{"code": code, "message": t.FailReason})
	} else {
		set("error", nil)
	}
	return out
}

func (a *API) ownedVideo(r *http.Request) (*gateway.Key, gateway.Task, error) {
	key, err := a.videoKey(r)
	if err != nil {
		return nil, gateway.Task{}, err
	}
	t, err := a.Service.Owned(r.Context(), key, gateway.TaskVideo, r.PathValue("id"))
	if errors.Is(err, gateway.ErrNotFound) {
		return nil, gateway.Task{}, gateway.Errorf(gateway.KindNotFound, "no video with id %q", r.PathValue("id")).WithCode("not_found")
	}
	return key, t, err
}

func (a *API) videoGet(w http.ResponseWriter, r *http.Request) error {
	_, t, err := a.ownedVideo(r)
	if err != nil {
		return err
	}
	t = a.Service.Fresh(r.Context(), t)
	return writeJSON(w, http.StatusOK, renderVideo(&t))
}

func (a *API) videoList(w http.ResponseWriter, r *http.Request) error {
	key, err := a.videoKey(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	limit := 20
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100 {
			return invalidParam("limit", "limit must be from 1 to 100")
		}
		limit = n
	}
	after := q.Get("after")
	if after != "" {
		if _, err := a.Service.Owned(r.Context(), key, gateway.TaskVideo, after); err != nil {
			return invalidParam("after", "no video with id %q", after)
		}
	}
	ts, err := a.Service.Store.ListTasks(r.Context(), gateway.TaskFilter{KeyID: key.ID, Kind: gateway.TaskVideo, Before: after, Limit: limit + 1})
	if err != nil {
		return err
	}
	data := []json.RawMessage{}
	for _, t := range ts {
		if t.Status != gateway.TaskSubmitting && len(data) < limit {
			data = append(data, renderVideo(&t))
		}
	}
	page := map[string]any{"object": "list", "data": data, "has_more": len(ts) > limit, "first_id": nil, "last_id": nil}
	if len(data) > 0 {
		page["first_id"] = gjson.GetBytes(data[0], "id").String()
		page["last_id"] = gjson.GetBytes(data[len(data)-1], "id").String()
	}
	b, _ := json.Marshal(page)
	return writeJSON(w, http.StatusOK, b)
}

func (a *API) videoDelete(w http.ResponseWriter, r *http.Request) error {
	_, t, err := a.ownedVideo(r)
	if err != nil {
		return err
	}
	ctx := context.WithoutCancel(r.Context())
	if ch, ok := a.Router.Channel(t.ChannelID); ok && ch.Type != gateway.ChannelGemini {
		if c, ok := channelKey(ch, t.KeyIndex); ok {
			// Best effort: the upstream's copy goes too.
			if req, err := upstream.TaskRequest(ctx, ch, c.APIKey, http.MethodDelete, "v1", "/videos/"+url.PathEscape(t.UpstreamID), nil, ""); err == nil {
				_, _, _ = roundTrip(a.Client, req)
			}
		}
	}
	if err := a.Service.Cancel(ctx, &t); err != nil {
		return err
	}
	if err := a.Service.Store.DeleteTask(ctx, t.ID); err != nil && !errors.Is(err, gateway.ErrNotFound) {
		return err
	}
	b, _ := json.Marshal(map[string]any{"id": t.ID, "object": "video.deleted", "deleted": true})
	return writeJSON(w, http.StatusOK, b)
}

func (a *API) videoRemix(w http.ResponseWriter, r *http.Request) error {
	key, parent, err := a.ownedVideo(r)
	if err != nil {
		return err
	}
	if parent.Status != gateway.TaskSucceeded {
		return gateway.Errorf(gateway.KindInvalidRequest, "only a completed video can be remixed").WithCode("invalid_video_state")
	}
	ch, _ := a.Router.Channel(parent.ChannelID)
	if ch != nil && ch.Type == gateway.ChannelGemini {
		return gateway.Errorf(gateway.KindInvalidRequest, "videos of model %q cannot be remixed", parent.Model).WithCode("unsupported")
	}
	body, err := a.readBody(w, r)
	if err != nil {
		return err
	}
	prompt := gjson.GetBytes(body, "prompt").String()
	req := gjson.ParseBytes(parent.Request)
	v := &videoReq{Model: parent.Model, Prompt: prompt, Seconds: req.Get("seconds").String(), Size: req.Get("size").String(),
		Callback: gjson.GetBytes(body, "callback_url").String()}
	if err := v.validate(); err != nil {
		return err
	}
	t, err := a.startVideo(r.Context(), key, v, &parent)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, renderVideo(&t))
}

// videoContent streams a finished video's bytes (or thumbnail,
// spritesheet) through the gateway.
func (a *API) videoContent(w http.ResponseWriter, r *http.Request) error {
	_, t, err := a.ownedVideo(r)
	if err != nil {
		return err
	}
	variant := r.URL.Query().Get("variant")
	switch variant {
	case "":
		variant = "video"
	case "video", "thumbnail", "spritesheet":
	default:
		return invalidParam("variant", "variant must be video, thumbnail or spritesheet")
	}
	if t.Status != gateway.TaskSucceeded {
		return gateway.Errorf(gateway.KindInvalidRequest, "the video is not completed (it is %s)", t.Status).WithCode("video_not_ready")
	}
	c, ok := a.taskChannel(&t)
	if !ok {
		return gateway.Errorf(gateway.KindUnavailable, "the channel that made this video is no longer available")
	}
	ch := c.Channel
	var req *http.Request
	if ch.Type == gateway.ChannelGemini {
		if variant != "video" {
			return gateway.Errorf(gateway.KindNotFound, "videos of model %q have no %s", t.Model, variant).WithCode("not_found")
		}
		uri := veoURI(t.Result)
		if !strings.HasPrefix(uri, "https://") && !strings.HasPrefix(uri, "http://") {
			return gateway.Errorf(gateway.KindUpstream, "the upstream gave no download address")
		}
		req, err = http.NewRequestWithContext(r.Context(), http.MethodGet, uri, nil)
		if err == nil && sameHost(uri, ch) {
			// The key goes only to the channel's own host.
			req.Header.Set("X-Goog-Api-Key", c.APIKey)
		}
	} else {
		req, err = upstream.TaskRequest(r.Context(), ch, c.APIKey, http.MethodGet, "v1",
			"/videos/"+url.PathEscape(t.UpstreamID)+"/content?variant="+variant, nil, "")
	}
	if err != nil {
		return err
	}
	resp, err := a.Client.Do(req)
	if err == nil && upstream.IsRedirect(resp.StatusCode) {
		// The upstream points at its storage: follow it here, so the
		// client never sees the upstream's hosts. Credentials stay behind.
		loc, lerr := resp.Location()
		resp.Body.Close()
		if lerr != nil {
			return gateway.Errorf(gateway.KindUpstream, "the upstream redirected nowhere")
		}
		next, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, loc.String(), nil)
		resp, err = a.Client.Do(next)
	}
	if err != nil {
		return &gateway.Error{Kind: gateway.KindUnavailable, Message: "the upstream did not answer", Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return &gateway.Error{Kind: openai.KindForStatus(resp.StatusCode), Status: resp.StatusCode, Message: "the upstream could not deliver the content"}
	}
	for _, h := range []string{"Content-Type", "Content-Length", "Last-Modified", "Etag"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", map[string]string{"video": "video/mp4", "thumbnail": "image/webp", "spritesheet": "image/jpeg"}[variant])
	}
	w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(w, resp.Body)
	return nil
}

// sameHost reports whether rawURL is on the host of ch's base URL.
func sameHost(rawURL string, ch *gateway.Channel) bool {
	base := ch.BaseURL
	if base == "" {
		base = upstream.DefaultBaseURL(ch.Type)
	}
	u, err1 := url.Parse(rawURL)
	b, err2 := url.Parse(base)
	return err1 == nil && err2 == nil && strings.EqualFold(u.Host, b.Host)
}

// generationCreate is new-api's unified POST /v1/video/generations: the
// same task as /v1/videos, read from {model, prompt, image, duration,
// size | width+height} and answered in new-api's envelope.
func (a *API) generationCreate(w http.ResponseWriter, r *http.Request) error {
	key, err := a.videoKey(r)
	if err != nil {
		return err
	}
	body, err := a.readBody(w, r)
	if err != nil {
		return err
	}
	if !gjson.ValidBytes(body) || !gjson.ParseBytes(body).IsObject() {
		return gateway.Errorf(gateway.KindInvalidRequest, "the body must be a JSON object").WithCode("invalid_json")
	}
	g := gjson.ParseBytes(body)
	v := &videoReq{Model: g.Get("model").String(), Prompt: g.Get("prompt").String(), Size: g.Get("size").String(),
		Callback: g.Get("callback_url").String()}
	if d := g.Get("duration"); d.Exists() {
		v.Seconds = d.String()
	}
	if wd, ht := g.Get("width").Int(), g.Get("height").Int(); v.Size == "" && wd > 0 && ht > 0 {
		v.Size = fmt.Sprintf("%dx%d", wd, ht)
	}
	if img := g.Get("image").String(); img != "" {
		if err := v.inlineRef(img); err != nil {
			return err
		}
	}
	if err := v.validate(); err != nil {
		return err
	}
	// The OpenAI-format upstream gets the request as /v1/videos takes it.
	v.JSON, _ = json.Marshal(map[string]string{"model": v.Model, "prompt": v.Prompt, "seconds": v.Seconds, "size": v.Size})
	t, err := a.startVideo(r.Context(), key, v, nil)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, renderGeneration(r, &t))
}

func (a *API) generationGet(w http.ResponseWriter, r *http.Request) error {
	_, t, err := a.ownedVideo(r)
	if err != nil {
		return err
	}
	t = a.Service.Fresh(r.Context(), t)
	return writeJSON(w, http.StatusOK, renderGeneration(r, &t))
}

// renderGeneration is new-api's video task envelope; url is the
// gateway's own content address (times in the envelope are seconds too).
func renderGeneration(r *http.Request, t *gateway.Task) []byte {
	v := gjson.ParseBytes(renderVideo(t))
	req := gjson.ParseBytes(t.Request)
	out := map[string]any{"task_id": t.ID, "status": v.Get("status").String(), "progress": t.Progress, "format": "mp4",
		"url": "", "created_at": t.CreatedAt.Unix(), "error": nil}
	if t.Status == gateway.TaskSucceeded {
		scheme := "http"
		if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
			scheme = "https"
		}
		out["url"] = scheme + "://" + r.Host + "/v1/videos/" + t.ID + "/content"
	}
	wd, ht, _ := strings.Cut(req.Get("size").String(), "x")
	wi, _ := strconv.Atoi(wd)
	hi, _ := strconv.Atoi(ht)
	secs, _ := strconv.Atoi(req.Get("seconds").String())
	out["metadata"] = map[string]any{"duration": secs, "width": wi, "height": hi}
	if e := v.Get("error"); e.IsObject() {
		out["error"] = map[string]string{"code": e.Get("code").String(), "message": e.Get("message").String()}
	}
	b, _ := json.Marshal(out)
	return b
}
