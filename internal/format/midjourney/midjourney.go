// Package midjourney is the midjourney-proxy wire (novicezk/midjourney-proxy
// and its Plus fork, as new-api and the platform we reproduce serve it):
// submit requests validated per action, submit results with their codes,
// task objects in both directions, and the error shape. It is pure: bytes
// in, values out.
package midjourney

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"switchboard/internal/gateway"
)

// Submit result codes (midjourney-proxy ReturnCode).
const (
	CodeSuccess    = 1
	CodeNotFound   = 3
	CodeValidation = 4
	CodeFailure    = 9
	CodeExisted    = 21 // the task exists already, or waits in MODAL
	CodeInQueue    = 22
	CodeQueueFull  = 23
	CodeBanned     = 24
)

// Accepted reports whether a submit code means the upstream took the task.
func Accepted(code int) bool {
	return code == CodeSuccess || code == CodeExisted || code == CodeInQueue
}

// Actions (task object "action").
const (
	ActionImagine    = "IMAGINE"
	ActionUpscale    = "UPSCALE"
	ActionVariation  = "VARIATION"
	ActionReroll     = "REROLL"
	ActionZoom       = "ZOOM"
	ActionPan        = "PAN"
	ActionDescribe   = "DESCRIBE"
	ActionBlend      = "BLEND"
	ActionShorten    = "SHORTEN"
	ActionSwapFace   = "SWAP_FACE"
	ActionVaryRegion = "VARY_REGION"
	ActionVideo      = "VIDEO"
	ActionAction     = "ACTION" // a button the gateway does not name
	ActionModal      = "MODAL"
)

// Kinds of submit request, by path.
const (
	SubmitImagine  = "imagine"
	SubmitBlend    = "blend"
	SubmitDescribe = "describe"
	SubmitShorten  = "shorten"
	SubmitAction   = "action"
	SubmitModal    = "modal"
	SubmitSwapFace = "swap_face"
)

// Limits of a submit request.
const (
	MaxPromptBytes = 8 << 10
	MaxImages      = 5
)

// Submit is a validated submit request.
type Submit struct {
	Kind   string // Submit* constant
	Action string // Action* constant the task will carry
	// Mode is FAST, RELAX or TURBO ("" when the client chose none).
	Mode       string
	Prompt     string
	TaskID     string // action, modal: the task acted on
	CustomID   string // action: the button
	NotifyHook string
	State      string
	// Body is the request to send upstream: the client's, minus the
	// fields the gateway owns (mode, notifyHook), taskId left for the
	// caller to replace with the upstream's id.
	Body []byte
}

// Error is a submit failure in the protocol's terms.
type Error struct {
	Code        int
	Description string
}

func (e *Error) Error() string { return e.Description }

func invalid(format string, args ...any) *Error {
	return &Error{Code: CodeValidation, Description: fmt.Sprintf(format, args...)}
}

// DecodeSubmit validates a submit body of kind; a mistake is an *Error of
// CodeValidation whose description says what is wrong. mode is the path
// prefix's mode ("" for /mj); the body's own mode wins.
func DecodeSubmit(kind, mode string, body []byte) (*Submit, *Error) {
	if !gjson.ValidBytes(body) || !gjson.ParseBytes(body).IsObject() {
		return nil, invalid("the body must be a JSON object")
	}
	r := gjson.ParseBytes(body)
	s := &Submit{Kind: kind}
	str := func(field string) (string, *Error) {
		v := r.Get(escape(field))
		if v.Exists() && v.Type != gjson.String && v.Type != gjson.Null {
			return "", invalid("%s must be a string", field)
		}
		return v.Str, nil
	}
	var err *Error
	if s.Prompt, err = str("prompt"); err != nil {
		return nil, err
	}
	if len(s.Prompt) > MaxPromptBytes {
		return nil, invalid("prompt is longer than %d bytes", MaxPromptBytes)
	}
	if s.NotifyHook, err = str("notifyHook"); err != nil {
		return nil, err
	}
	if s.State, err = str("state"); err != nil {
		return nil, err
	}
	bodyMode, err := str("mode")
	if err != nil {
		return nil, err
	}
	if bodyMode != "" {
		mode = bodyMode
	}
	if s.Mode, err = parseMode(mode); err != nil {
		return nil, err
	}
	if bt, err := str("botType"); err != nil {
		return nil, err
	} else if bt != "" && bt != "MID_JOURNEY" && bt != "NIJI_JOURNEY" {
		return nil, invalid("botType must be MID_JOURNEY or NIJI_JOURNEY")
	}
	switch kind {
	case SubmitImagine:
		s.Action = ActionImagine
		if strings.TrimSpace(s.Prompt) == "" {
			return nil, invalid("prompt is required")
		}
		if err := images(r, "base64Array", 0, MaxImages); err != nil {
			return nil, err
		}
		if err := image(r, "base64", false); err != nil {
			return nil, err
		}
	case SubmitBlend:
		s.Action = ActionBlend
		if err := images(r, "base64Array", 2, MaxImages); err != nil {
			return nil, err
		}
		if d, err := str("dimensions"); err != nil {
			return nil, err
		} else if d != "" && d != "PORTRAIT" && d != "SQUARE" && d != "LANDSCAPE" {
			return nil, invalid("dimensions must be PORTRAIT, SQUARE or LANDSCAPE")
		}
	case SubmitDescribe:
		s.Action = ActionDescribe
		if err := image(r, "base64", true); err != nil {
			return nil, err
		}
	case SubmitShorten:
		s.Action = ActionShorten
		if strings.TrimSpace(s.Prompt) == "" {
			return nil, invalid("prompt is required")
		}
	case SubmitSwapFace:
		s.Action = ActionSwapFace
		for _, f := range []string{"sourceBase64", "targetBase64"} {
			if err := image(r, f, true); err != nil {
				return nil, err
			}
		}
	case SubmitAction:
		if s.TaskID, err = taskID(r); err != nil {
			return nil, err
		}
		if s.CustomID, err = str("customId"); err != nil {
			return nil, err
		}
		if s.CustomID == "" {
			return nil, invalid("customId is required")
		}
		if len(s.CustomID) > 512 {
			return nil, invalid("customId is too long")
		}
		s.Action = ActionOf(s.CustomID)
	case SubmitModal:
		s.Action = ActionModal
		if s.TaskID, err = taskID(r); err != nil {
			return nil, err
		}
		if err := image(r, "maskBase64", false); err != nil {
			return nil, err
		}
	default:
		return nil, invalid("unknown submit kind %q", kind)
	}
	out := body
	for _, f := range []string{"mode", "notifyHook"} {
		if r.Get(f).Exists() {
			b, derr := sjson.DeleteBytes(out, f)
			if derr != nil {
				return nil, invalid("the body cannot be rewritten")
			}
			out = b
		}
	}
	s.Body = out
	return s, nil
}

// escape protects gjson's path syntax in a plain field name.
func escape(f string) string { return strings.NewReplacer(".", `\.`, "*", `\*`, "?", `\?`).Replace(f) }

func taskID(r gjson.Result) (string, *Error) {
	v := r.Get("taskId")
	switch v.Type {
	case gjson.String:
		if v.Str == "" {
			return "", invalid("taskId is required")
		}
		if len(v.Str) > 64 {
			return "", invalid("taskId is too long")
		}
		return v.Str, nil
	case gjson.Number:
		// Some clients send the numeric id as a number.
		return v.Raw, nil
	}
	return "", invalid("taskId is required")
}

func parseMode(m string) (string, *Error) {
	switch strings.ToUpper(strings.TrimSpace(m)) {
	case "":
		return "", nil
	case "FAST":
		return "FAST", nil
	case "RELAX":
		return "RELAX", nil
	case "TURBO":
		return "TURBO", nil
	}
	return "", invalid("mode must be FAST, RELAX or TURBO")
}

func images(r gjson.Result, field string, least, most int) *Error {
	v := r.Get(field)
	if !v.Exists() || v.Type == gjson.Null {
		if least > 0 {
			return invalid("%s needs %d to %d images", field, least, most)
		}
		return nil
	}
	if !v.IsArray() {
		return invalid("%s must be an array of base64 images", field)
	}
	arr := v.Array()
	if len(arr) < least || len(arr) > most {
		return invalid("%s needs %d to %d images", field, least, most)
	}
	for i, it := range arr {
		if it.Type != gjson.String {
			return invalid("%s[%d] must be a string", field, i)
		}
		if err := checkImage(it.Str); err != nil {
			return invalid("%s[%d] %s", field, i, err.Description)
		}
	}
	return nil
}

func image(r gjson.Result, field string, required bool) *Error {
	v := r.Get(field)
	if !v.Exists() || v.Type == gjson.Null || (v.Type == gjson.String && v.Str == "") {
		if required {
			return invalid("%s is required", field)
		}
		return nil
	}
	if v.Type != gjson.String {
		return invalid("%s must be a base64 image string", field)
	}
	if err := checkImage(v.Str); err != nil {
		return invalid("%s %s", field, err.Description)
	}
	return nil
}

// checkImage accepts a data URI ("data:image/png;base64,...") or bare
// base64, and checks the base64 decodes.
func checkImage(s string) *Error {
	payload := s
	if strings.HasPrefix(s, "data:") {
		meta, data, ok := strings.Cut(s[len("data:"):], ",")
		if !ok || !strings.HasSuffix(meta, ";base64") {
			return invalid("must be a base64 data URI (data:image/png;base64,...)")
		}
		payload = data
	}
	if payload == "" {
		return invalid("is empty")
	}
	if _, err := base64.StdEncoding.DecodeString(payload); err != nil {
		if _, err := base64.RawStdEncoding.DecodeString(payload); err != nil {
			return invalid("is not valid base64")
		}
	}
	return nil
}

// ActionOf names the action a button's customId starts
// ("MJ::JOB::upsample::1::<hash>" → UPSCALE).
func ActionOf(customID string) string {
	id := strings.ToLower(customID)
	switch {
	case strings.Contains(id, "::upsample"):
		return ActionUpscale
	case strings.Contains(id, "variation"):
		return ActionVariation
	case strings.Contains(id, "::reroll"):
		return ActionReroll
	case strings.Contains(id, "::outpaint") || strings.Contains(id, "customzoom"):
		return ActionZoom
	case strings.Contains(id, "::pan_"):
		return ActionPan
	case strings.Contains(id, "::inpaint"):
		return ActionVaryRegion
	case strings.Contains(id, "picreader"):
		return ActionDescribe
	case strings.Contains(id, "promptanalyzer"):
		return ActionShorten
	case strings.Contains(id, "animate") || strings.Contains(id, "video"):
		return ActionVideo
	}
	return ActionAction
}

// SubmitResult is the answer of every submit call.
type SubmitResult struct {
	Code        int            `json:"code"`
	Description string         `json:"description"`
	Result      any            `json:"result"`
	Properties  map[string]any `json:"properties"`
}

// DecodeSubmitResult reads an upstream's submit answer; the task id may
// be a string or a number.
func DecodeSubmitResult(body []byte) (code int, description, upstreamID string, props map[string]any, err error) {
	if !gjson.ValidBytes(body) {
		return 0, "", "", nil, fmt.Errorf("midjourney: submit answer is not JSON")
	}
	r := gjson.ParseBytes(body)
	c := r.Get("code")
	if c.Type != gjson.Number {
		return 0, "", "", nil, fmt.Errorf("midjourney: submit answer has no numeric code")
	}
	code = int(c.Int())
	description = r.Get("description").String()
	switch res := r.Get("result"); res.Type {
	case gjson.String:
		upstreamID = res.Str
	case gjson.Number:
		upstreamID = res.Raw
	}
	if p := r.Get("properties"); p.IsObject() {
		_ = json.Unmarshal([]byte(p.Raw), &props)
	}
	return code, description, upstreamID, props, nil
}

// EncodeSubmitResult writes a submit answer.
func EncodeSubmitResult(code int, description, taskID string, props map[string]any) []byte {
	if props == nil {
		props = map[string]any{}
	}
	var result any
	if taskID != "" {
		result = taskID
	}
	b, _ := json.Marshal(SubmitResult{Code: code, Description: description, Result: result, Properties: props})
	return b
}

// UpstreamTask is what the gateway reads of an upstream task object.
type UpstreamTask struct {
	ID         string
	Status     gateway.TaskStatus
	Progress   int
	FailReason string
}

// DecodeTask reads an upstream task object.
func DecodeTask(body []byte) (UpstreamTask, error) {
	if !gjson.ValidBytes(body) || !gjson.ParseBytes(body).IsObject() {
		return UpstreamTask{}, fmt.Errorf("midjourney: task is not a JSON object")
	}
	r := gjson.ParseBytes(body)
	var t UpstreamTask
	switch id := r.Get("id"); id.Type {
	case gjson.String:
		t.ID = id.Str
	case gjson.Number:
		t.ID = id.Raw
	}
	st, ok := StatusOf(r.Get("status").String())
	if !ok {
		return UpstreamTask{}, fmt.Errorf("midjourney: unknown task status %q", r.Get("status").String())
	}
	t.Status = st
	t.Progress = ParseProgress(r.Get("progress").String())
	t.FailReason = r.Get("failReason").String()
	return t, nil
}

// StatusOf maps a task object status to the gateway's; "" (an upstream
// that has not looked at it yet) is queued.
func StatusOf(s string) (gateway.TaskStatus, bool) {
	switch strings.ToUpper(s) {
	case "", "NOT_START", "SUBMITTED":
		return gateway.TaskQueued, true
	case "IN_PROGRESS":
		return gateway.TaskInProgress, true
	case "MODAL":
		return gateway.TaskModal, true
	case "SUCCESS":
		return gateway.TaskSucceeded, true
	case "FAILURE":
		return gateway.TaskFailed, true
	case "CANCEL":
		return gateway.TaskCanceled, true
	}
	return "", false
}

// StatusName is the task object status of a gateway status.
func StatusName(s gateway.TaskStatus) string {
	switch s {
	case gateway.TaskSubmitting:
		return "NOT_START"
	case gateway.TaskQueued:
		return "SUBMITTED"
	case gateway.TaskInProgress:
		return "IN_PROGRESS"
	case gateway.TaskModal:
		return "MODAL"
	case gateway.TaskSucceeded:
		return "SUCCESS"
	case gateway.TaskFailed:
		return "FAILURE"
	case gateway.TaskCanceled:
		return "CANCEL"
	}
	return "NOT_START"
}

// ParseProgress reads "45%" (or "45") as 45, clamped to 0..100.
func ParseProgress(s string) int {
	n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(s), "%"))
	if err != nil {
		return 0
	}
	return min(max(n, 0), 100)
}

// leakFields are upstream task fields that name the upstream's own
// accounts, instances or callbacks: never shown to clients.
var leakFields = []string{"properties.notifyHook", "properties.discordInstanceId", "properties.discordChannelId",
	"properties.nonce", "properties.messageId", "properties.flags", "properties.instanceId", "notifyHook", "accountId",
	"properties.accountId", "instanceId"}

// KeepTask is what the gateway stores of an upstream task object: the
// object minus the fields that name the upstream's own accounts.
func KeepTask(body []byte) []byte {
	for _, f := range leakFields {
		if gjson.GetBytes(body, f).Exists() {
			if b, err := sjson.DeleteBytes(body, f); err == nil {
				body = b
			}
		}
	}
	return body
}

// ms is a time in milliseconds since the epoch, or nil for the zero time.
func ms(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

// EncodeTask renders t as a task object: the stored upstream object (every
// field it had: imageUrl, buttons, properties...) with the gateway's own
// id, status, progress, times and prompt. The upstream's task id never
// appears.
func EncodeTask(t *gateway.Task) []byte {
	base := t.Result
	if !gjson.ValidBytes(base) || !gjson.ParseBytes(base).IsObject() {
		base = []byte(`{}`)
	}
	out := base
	set := func(path string, v any) {
		if b, err := sjson.SetBytes(out, path, v); err == nil {
			out = b
		}
	}
	req := gjson.ParseBytes(t.Request)
	status := StatusName(t.Status)
	// Keep the upstream's finer-grained name (NOT_START vs SUBMITTED)
	// when it says the same thing.
	if up := gjson.GetBytes(base, "status").String(); up != "" {
		if st, ok := StatusOf(up); ok && st == t.Status {
			status = strings.ToUpper(up)
		}
	}
	set("id", t.ID)
	set("action", t.Action)
	set("status", status)
	set("progress", strconv.Itoa(t.Progress)+"%")
	set("submitTime", ms(t.CreatedAt))
	set("startTime", ms(t.StartedAt))
	set("finishTime", ms(t.FinishedAt))
	set("failReason", t.FailReason)
	if !gjson.GetBytes(out, "prompt").Exists() {
		set("prompt", req.Get("prompt").String())
	}
	if !gjson.GetBytes(out, "promptEn").Exists() {
		set("promptEn", req.Get("prompt").String())
	}
	if !gjson.GetBytes(out, "description").Exists() {
		set("description", "")
	}
	if !gjson.GetBytes(out, "imageUrl").Exists() {
		set("imageUrl", "")
	}
	if !gjson.GetBytes(out, "buttons").Exists() {
		set("buttons", []any{})
	}
	if !gjson.GetBytes(out, "properties").IsObject() {
		set("properties", map[string]any{})
	}
	if s := req.Get("state").String(); s != "" {
		set("state", s)
	}
	if t.ParentID != "" {
		set("properties.relatedTaskId", t.ParentID)
	}
	set("customId", req.Get("customId").String())
	return KeepTask(out)
}

// CodeOf is the submit code of a gateway error kind.
func CodeOf(e *gateway.Error) int {
	switch e.Kind {
	case gateway.KindInvalidRequest, gateway.KindRequestTooLarge:
		return CodeValidation
	case gateway.KindNotFound:
		return CodeNotFound
	case gateway.KindRateLimited, gateway.KindOverloaded:
		return CodeQueueFull
	}
	return CodeFailure
}

// WriteError writes e in the protocol's shape: {code, description,
// result, properties}, with the HTTP status of its kind (validation
// errors as midjourney-proxy answers them, 200 with code 4).
func WriteError(w http.ResponseWriter, e *gateway.Error, requestID string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	status := e.HTTPStatus()
	code := CodeOf(e)
	if code == CodeValidation && e.Kind == gateway.KindInvalidRequest {
		status = http.StatusOK
	}
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int(e.RetryAfter.Seconds()+0.999)))
	}
	props := map[string]any{}
	if requestID != "" {
		props["requestId"] = requestID
	}
	w.WriteHeader(status)
	_, _ = w.Write(EncodeSubmitResult(code, e.Message, "", props))
}
