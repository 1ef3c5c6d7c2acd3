package gatewaytest

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// videoJob is one job of a fake video upstream.
type videoJob struct {
	id, model, prompt, seconds, size, remixOf string
	created                                   time.Time
	ref                                       []byte // input reference received
	key                                       string // the key that made it
}

// OpenAIVideos is a fake OpenAI Videos API (/v1/videos) whose jobs
// advance with time: queued for the first tenth of Duration, then
// in_progress with a growing progress, then completed (or failed when the
// prompt contains "fail"). A prompt containing "reject" is refused with a
// 400. Content is "MP4:<id>:<variant>"; the thumbnail is served through a
// redirect to a storage path.
type OpenAIVideos struct {
	*Upstream
	Keys     []string // accepted Bearer tokens; a job is visible only to the key that made it
	Duration time.Duration

	mu   sync.Mutex
	next int
	jobs map[string]*videoJob
}

// NewOpenAIVideos starts the fake; keys are the Bearer tokens it accepts
// (each a project of its own: a job is found only with its key).
func NewOpenAIVideos(t testing.TB, d time.Duration, keys ...string) *OpenAIVideos {
	v := &OpenAIVideos{Keys: keys, Duration: d, jobs: map[string]*videoJob{}}
	v.Upstream = NewUpstream(t, v.handle)
	return v
}

// Reference returns the input reference bytes the upstream received for
// its job id.
func (v *OpenAIVideos) Reference(id string) []byte {
	v.mu.Lock()
	defer v.mu.Unlock()
	if j, ok := v.jobs[id]; ok {
		return j.ref
	}
	return nil
}

// Model returns the model the upstream received for its job id.
func (v *OpenAIVideos) Model(id string) string {
	v.mu.Lock()
	defer v.mu.Unlock()
	if j, ok := v.jobs[id]; ok {
		return j.model
	}
	return ""
}

func videoError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": "invalid_request_error", "code": nil}})
}

func (v *OpenAIVideos) handle(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/storage/") {
		_, _ = io.WriteString(w, "WEBP:"+strings.TrimPrefix(r.URL.Path, "/storage/"))
		return
	}
	key, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !slices.Contains(v.Keys, key) {
		videoError(w, http.StatusUnauthorized, "bad key")
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/v1/videos")
	if !ok {
		videoError(w, http.StatusNotFound, "unknown path")
		return
	}
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	switch {
	case r.Method == http.MethodPost && rest == "":
		v.create(w, r, "", key)
		return
	case r.Method == http.MethodPost && len(parts) == 2 && parts[1] == "remix":
		v.create(w, r, parts[0], key)
		return
	}
	v.mu.Lock()
	if j, ok := v.jobs[parts[0]]; ok && j.key != key {
		v.mu.Unlock()
		videoError(w, http.StatusNotFound, "no such video in this project")
		return
	}
	v.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && len(parts) == 1 && parts[0] != "":
		v.mu.Lock()
		j, ok := v.jobs[parts[0]]
		v.mu.Unlock()
		if !ok {
			videoError(w, http.StatusNotFound, "no such video")
			return
		}
		v.writeJob(w, j)
	case r.Method == http.MethodDelete && len(parts) == 1:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"id": parts[0], "object": "video.deleted", "deleted": true})
	case r.Method == http.MethodGet && len(parts) == 2 && parts[1] == "content":
		v.mu.Lock()
		j, ok := v.jobs[parts[0]]
		v.mu.Unlock()
		if !ok || v.state(j)["status"] != "completed" {
			videoError(w, http.StatusNotFound, "not ready")
			return
		}
		variant := r.URL.Query().Get("variant")
		if variant == "thumbnail" {
			http.Redirect(w, r, "/storage/"+j.id+".webp", http.StatusFound)
			return
		}
		w.Header().Set("Content-Type", "video/mp4")
		_, _ = io.WriteString(w, "MP4:"+j.id+":"+variant)
	default:
		videoError(w, http.StatusNotFound, "unknown path")
	}
}

func (v *OpenAIVideos) create(w http.ResponseWriter, r *http.Request, remixOf, key string) {
	j := &videoJob{created: time.Now(), remixOf: remixOf, seconds: "4", size: "720x1280", model: "sora-2", key: key}
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "multipart/form-data" {
		mr := multipart.NewReader(r.Body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if err != nil {
				break
			}
			b, _ := io.ReadAll(p)
			switch p.FormName() {
			case "model":
				j.model = string(b)
			case "prompt":
				j.prompt = string(b)
			case "seconds":
				j.seconds = string(b)
			case "size":
				j.size = string(b)
			case "input_reference":
				j.ref = b
			}
		}
	} else {
		var body struct{ Model, Prompt, Seconds, Size string }
		_ = json.NewDecoder(r.Body).Decode(&body)
		for dst, src := range map[*string]string{&j.model: body.Model, &j.prompt: body.Prompt, &j.seconds: body.Seconds, &j.size: body.Size} {
			if src != "" {
				*dst = src
			}
		}
	}
	if strings.Contains(j.prompt, "reject") {
		videoError(w, http.StatusBadRequest, "this prompt is rejected by the upstream")
		return
	}
	v.mu.Lock()
	if remixOf != "" {
		parent, ok := v.jobs[remixOf]
		if !ok || parent.key != key {
			v.mu.Unlock()
			videoError(w, http.StatusNotFound, "no such video")
			return
		}
		j.model, j.seconds, j.size = parent.model, parent.seconds, parent.size
	}
	v.next++
	j.id = fmt.Sprintf("video_up_%d", v.next)
	v.jobs[j.id] = j
	v.mu.Unlock()
	v.writeJob(w, j)
}

func (v *OpenAIVideos) state(j *videoJob) map[string]any {
	o := map[string]any{"id": j.id, "object": "video", "model": j.model, "status": "queued", "progress": 0,
		"created_at": j.created.Unix(), "completed_at": nil, "expires_at": nil, "prompt": j.prompt, "seconds": j.seconds,
		"size": j.size, "remixed_from_video_id": nil, "error": nil}
	if j.remixOf != "" {
		o["remixed_from_video_id"] = j.remixOf
	}
	frac := float64(time.Since(j.created)) / float64(v.Duration)
	switch {
	case frac < 0.1:
	case frac < 1:
		o["status"], o["progress"] = "in_progress", int(frac*100)
	case strings.Contains(j.prompt, "fail"):
		o["status"], o["progress"], o["error"] = "failed", 50, map[string]any{"code": "moderation", "message": "the upstream failed the video"}
	default:
		o["status"], o["progress"], o["completed_at"] = "completed", 100, time.Now().Unix()
		o["expires_at"] = time.Now().Add(time.Hour).Unix()
	}
	return o
}

func (v *OpenAIVideos) writeJob(w http.ResponseWriter, j *videoJob) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v.state(j))
}

// Veo is a fake Gemini API serving Veo through predictLongRunning and
// operation polling: an operation is done after Duration (with an error
// when the prompt contains "fail"), and its video downloads from a files
// URL that needs the API key.
type Veo struct {
	*Upstream
	Key      string
	Duration time.Duration

	mu   sync.Mutex
	next int
	jobs map[string]*videoJob
}

// NewVeo starts the fake; key is the x-goog-api-key it accepts.
func NewVeo(t testing.TB, key string, d time.Duration) *Veo {
	v := &Veo{Key: key, Duration: d, jobs: map[string]*videoJob{}}
	v.Upstream = NewUpstream(t, v.handle)
	return v
}

func (v *Veo) handle(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Goog-Api-Key") != v.Key {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":{"code":401,"message":"API key not valid","status":"UNAUTHENTICATED"}}`)
		return
	}
	path := r.URL.Path
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodPost && strings.HasSuffix(path, ":predictLongRunning"):
		model := strings.TrimSuffix(strings.TrimPrefix(path, "/v1beta/models/"), ":predictLongRunning")
		var body struct {
			Instances []struct {
				Prompt string `json:"prompt"`
			} `json:"instances"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || len(body.Instances) != 1 {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":{"code":400,"message":"bad request","status":"INVALID_ARGUMENT"}}`)
			return
		}
		v.mu.Lock()
		v.next++
		name := fmt.Sprintf("models/%s/operations/op%d", model, v.next)
		v.jobs[name] = &videoJob{id: fmt.Sprint(v.next), model: model, prompt: body.Instances[0].Prompt, created: time.Now()}
		v.mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]any{"name": name})
	case r.Method == http.MethodGet && strings.Contains(path, "/operations/"):
		name := strings.TrimPrefix(path, "/v1beta/")
		v.mu.Lock()
		j, ok := v.jobs[name]
		v.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error":{"code":404,"message":"not found","status":"NOT_FOUND"}}`)
			return
		}
		op := map[string]any{"name": name}
		if time.Since(j.created) >= v.Duration {
			op["done"] = true
			if strings.Contains(j.prompt, "fail") {
				op["error"] = map[string]any{"code": 3, "message": "the prompt was blocked"}
			} else {
				uri := "http://" + r.Host + "/v1beta/files/f" + j.id + ":download?alt=media"
				op["response"] = map[string]any{"@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse",
					"generateVideoResponse": map[string]any{"generatedSamples": []any{map[string]any{"video": map[string]any{"uri": uri}}}}}
			}
		}
		_ = json.NewEncoder(w).Encode(op)
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/v1beta/files/"):
		w.Header().Set("Content-Type", "video/mp4")
		_, _ = io.WriteString(w, "VEO:"+strings.TrimSuffix(strings.TrimPrefix(path, "/v1beta/files/"), ":download"))
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}
