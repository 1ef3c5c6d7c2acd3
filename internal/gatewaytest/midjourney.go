package gatewaytest

import (
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidwall/gjson"
)

// Midjourney is a fake midjourney-proxy(-plus) upstream whose tasks
// advance with time: NOT_START for the first tenth of Duration, then
// IN_PROGRESS with a growing progress, then SUCCESS with an image URL and
// the buttons of a grid (U1–U4, V1–V4, reroll, Custom Zoom). A prompt
// containing "fail" ends in FAILURE; "banned" is refused with code 24;
// "queuefull" with code 23. A Custom Zoom button opens a task in MODAL
// that waits for /mj/submit/modal.
type Midjourney struct {
	*Upstream
	Key      string
	Duration time.Duration

	mu    sync.Mutex
	next  int64
	tasks map[string]*mjTask
}

type mjTask struct {
	id, action, prompt, customID, state string
	submitted                           time.Time
	modal                               bool
	fetches                             int
}

// NewMidjourney starts the fake; key is the mj-api-secret it accepts.
func NewMidjourney(t testing.TB, key string, d time.Duration) *Midjourney {
	m := &Midjourney{Key: key, Duration: d, next: 9_000_000_000_000_000, tasks: map[string]*mjTask{}}
	m.Upstream = NewUpstream(t, m.handle)
	return m
}

// Fetches is how often the upstream task id was fetched.
func (m *Midjourney) Fetches(id string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t, ok := m.tasks[id]; ok {
		return t.fetches
	}
	return 0
}

// TaskIDs lists the upstream task ids, in submission order.
func (m *Midjourney) TaskIDs() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for i := int64(9_000_000_000_000_000); i < m.next; i++ {
		out = append(out, fmt.Sprint(i))
	}
	return out
}

func mjJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (m *Midjourney) handle(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/attachments/") {
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write(append([]byte("\x89PNG\r\n\x1a\n"), r.URL.Path...))
		return
	}
	if r.Header.Get("mj-api-secret") != m.Key {
		w.WriteHeader(http.StatusUnauthorized)
		mjJSON(w, map[string]any{"code": 401, "description": "bad secret"})
		return
	}
	path := r.URL.Path
	for _, p := range []string{"/mj-fast", "/mj-relax", "/mj-turbo"} {
		path = strings.TrimPrefix(path, p)
	}
	raw, _ := io.ReadAll(r.Body)
	body := gjson.ParseBytes(raw)
	switch {
	case r.Method == http.MethodPost && (strings.HasPrefix(path, "/mj/submit/") || path == "/mj/insight-face/swap"):
		m.submit(w, strings.TrimPrefix(path, "/mj/submit/"), body)
	case r.Method == http.MethodGet && strings.HasSuffix(path, "/fetch"):
		id := strings.TrimSuffix(strings.TrimPrefix(path, "/mj/task/"), "/fetch")
		m.mu.Lock()
		t, ok := m.tasks[id]
		if ok {
			t.fetches++
		}
		m.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		mjJSON(w, m.object(t, r.Host))
	case r.Method == http.MethodGet && strings.HasSuffix(path, "/image-seed"):
		mjJSON(w, map[string]any{"code": 1, "description": "success", "result": "2873164"})
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func (m *Midjourney) submit(w http.ResponseWriter, kind string, body gjson.Result) {
	prompt := body.Get("prompt").String()
	switch {
	case strings.Contains(prompt, "banned"):
		mjJSON(w, map[string]any{"code": 24, "description": "banned prompt", "result": nil,
			"properties": map[string]any{"promptEn": prompt, "bannedWord": "banned", "discordInstanceId": "inst-secret"}})
		return
	case strings.Contains(prompt, "queuefull"):
		mjJSON(w, map[string]any{"code": 23, "description": "queue full", "properties": map[string]any{}})
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if kind == "modal" {
		t, ok := m.tasks[body.Get("taskId").String()]
		if !ok || !t.modal {
			mjJSON(w, map[string]any{"code": 3, "description": "task not found"})
			return
		}
		t.modal, t.submitted = false, time.Now()
		if prompt != "" {
			t.prompt = prompt
		}
		mjJSON(w, map[string]any{"code": 1, "description": "success", "result": t.id, "properties": map[string]any{}})
		return
	}
	action := map[string]string{"imagine": "IMAGINE", "blend": "BLEND", "describe": "DESCRIBE", "shorten": "SHORTEN",
		"action": "UPSCALE", "/mj/insight-face/swap": "SWAP_FACE"}[kind]
	custom := body.Get("customId").String()
	if kind == "action" {
		parent, ok := m.tasks[body.Get("taskId").String()]
		if !ok {
			mjJSON(w, map[string]any{"code": 3, "description": "the related task does not exist"})
			return
		}
		prompt = parent.prompt
		switch {
		case strings.Contains(custom, "variation"):
			action = "VARIATION"
		case strings.Contains(custom, "CustomZoom"):
			action = "ZOOM"
		}
	}
	id := fmt.Sprint(m.next)
	m.next++
	t := &mjTask{id: id, action: action, prompt: prompt, customID: custom, state: body.Get("state").String(),
		submitted: time.Now(), modal: strings.Contains(custom, "CustomZoom")}
	m.tasks[id] = t
	if t.modal {
		mjJSON(w, map[string]any{"code": 21, "description": "waiting for window confirm", "result": id,
			"properties": map[string]any{"status": "MODAL", "discordInstanceId": "inst-secret"}})
		return
	}
	mjJSON(w, map[string]any{"code": 1, "description": "submitted", "result": id,
		"properties": map[string]any{"discordInstanceId": "inst-secret", "discordChannelId": "chan-secret"}})
}

func (m *Midjourney) object(t *mjTask, host string) map[string]any {
	m.mu.Lock()
	defer m.mu.Unlock()
	o := map[string]any{
		"id": t.id, "action": t.action, "customId": t.customID, "botType": "MID_JOURNEY", "prompt": t.prompt,
		"promptEn": t.prompt, "description": "/" + strings.ToLower(t.action) + " " + t.prompt, "state": t.state,
		"submitTime": t.submitted.UnixMilli(), "startTime": nil, "finishTime": nil, "imageUrl": "", "status": "NOT_START",
		"progress": "0%", "failReason": "", "buttons": []any{}, "maskBase64": "",
		"properties": map[string]any{"finalPrompt": t.prompt, "discordInstanceId": "inst-secret", "notifyHook": "https://upstream.internal/hook"},
	}
	if t.modal {
		o["status"] = "MODAL"
		return o
	}
	frac := float64(time.Since(t.submitted)) / float64(m.Duration)
	switch {
	case frac < 0.1:
	case frac < 1:
		o["status"], o["progress"], o["startTime"] = "IN_PROGRESS", fmt.Sprintf("%d%%", int(frac*100)), t.submitted.UnixMilli()
	case strings.Contains(t.prompt, "fail"):
		o["status"], o["progress"], o["failReason"] = "FAILURE", "50%", "the job failed upstream"
		o["finishTime"] = time.Now().UnixMilli()
	default:
		o["status"], o["progress"] = "SUCCESS", "100%"
		o["startTime"], o["finishTime"] = t.submitted.UnixMilli(), time.Now().UnixMilli()
		// Buttons and images carry the message hash, not the task id.
		hash := fmt.Sprintf("%08x-msg", crc32.ChecksumIEEE([]byte(t.id)))
		o["imageUrl"] = "http://" + host + "/attachments/" + hash + ".png"
		var buttons []any
		for i := 1; i <= 4; i++ {
			buttons = append(buttons,
				map[string]any{"customId": fmt.Sprintf("MJ::JOB::upsample::%d::%s", i, hash), "emoji": "", "label": fmt.Sprintf("U%d", i), "type": 2, "style": 2},
				map[string]any{"customId": fmt.Sprintf("MJ::JOB::variation::%d::%s", i, hash), "emoji": "", "label": fmt.Sprintf("V%d", i), "type": 2, "style": 2})
		}
		buttons = append(buttons,
			map[string]any{"customId": "MJ::JOB::reroll::0::" + hash + "::SOLO", "emoji": "🔄", "label": "", "type": 2, "style": 2},
			map[string]any{"customId": "MJ::CustomZoom::" + hash, "emoji": "🔍", "label": "Custom Zoom", "type": 2, "style": 2})
		o["buttons"] = buttons
	}
	return o
}
