package midjourney

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"switchboard/internal/gateway"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestDecodeSubmit(t *testing.T) {
	png := "data:image/png;base64,iVBORw0KGgo="
	for _, tc := range []struct {
		kind, mode, body string
		wantAction       string
		wantMode         string
		wantErr          string
	}{
		{SubmitImagine, "", `{"prompt":"cat","mode":"relax","notifyHook":"http://h/x"}`, ActionImagine, "RELAX", ""},
		{SubmitImagine, "TURBO", `{"prompt":"cat"}`, ActionImagine, "TURBO", ""},
		{SubmitImagine, "", `{"prompt":"cat","base64Array":["` + png + `","iVBORw0KGgo="]}`, ActionImagine, "", ""},
		{SubmitImagine, "", `{"prompt":"  "}`, "", "", "prompt is required"},
		{SubmitImagine, "", `{"prompt":"x","base64Array":"nope"}`, "", "", "must be an array"},
		{SubmitImagine, "", `{"prompt":"x","base64Array":[1]}`, "", "", "must be a string"},
		{SubmitImagine, "", `{"prompt":"x","base64Array":["data:image/png,raw"]}`, "", "", "data URI"},
		{SubmitImagine, "", `{"prompt":"` + strings.Repeat("a", MaxPromptBytes+1) + `"}`, "", "", "longer than"},
		{SubmitImagine, "", `null`, "", "", "JSON object"},
		{SubmitBlend, "", `{"base64Array":["` + png + `","` + png + `"],"dimensions":"PORTRAIT"}`, ActionBlend, "", ""},
		{SubmitBlend, "", `{"base64Array":["` + png + `","` + png + `","` + png + `","` + png + `","` + png + `","` + png + `"]}`, "", "", "2 to 5"},
		{SubmitDescribe, "", `{"base64":"` + png + `"}`, ActionDescribe, "", ""},
		{SubmitShorten, "", `{"prompt":"a long prompt"}`, ActionShorten, "", ""},
		{SubmitSwapFace, "", `{"sourceBase64":"` + png + `","targetBase64":"` + png + `"}`, ActionSwapFace, "", ""},
		{SubmitAction, "", `{"taskId":"1","customId":"MJ::JOB::upsample::2::abc"}`, ActionUpscale, "", ""},
		{SubmitAction, "", `{"taskId":1712205491372224,"customId":"MJ::JOB::variation::1::abc"}`, ActionVariation, "", ""},
		{SubmitAction, "", `{"taskId":"1","customId":"MJ::CustomZoom::abc"}`, ActionZoom, "", ""},
		{SubmitAction, "", `{"taskId":"1","customId":"MJ::JOB::pan_left::1::abc"}`, ActionPan, "", ""},
		{SubmitAction, "", `{"taskId":"1","customId":"MJ::JOB::reroll::0::abc::SOLO"}`, ActionReroll, "", ""},
		{SubmitAction, "", `{"taskId":"1","customId":"MJ::Inpaint::1::abc::SOLO"}`, ActionVaryRegion, "", ""},
		{SubmitAction, "", `{"taskId":"1","customId":"MJ::BOOKMARK::abc"}`, ActionAction, "", ""},
		{SubmitAction, "", `{"taskId":{},"customId":"x"}`, "", "", "taskId is required"},
		{SubmitModal, "", `{"taskId":"1","prompt":"--zoom 2","maskBase64":"` + png + `"}`, ActionModal, "", ""},
		{SubmitModal, "", `{"taskId":"1","maskBase64":7}`, "", "", "maskBase64 must be"},
		{"video", "", `{}`, "", "", "unknown submit kind"},
	} {
		s, err := DecodeSubmit(tc.kind, tc.mode, []byte(tc.body))
		if tc.wantErr != "" {
			if err == nil || err.Code != CodeValidation || !strings.Contains(err.Description, tc.wantErr) {
				t.Errorf("%s %.60s: err %v, want code 4 with %q", tc.kind, tc.body, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s %s: %v", tc.kind, tc.body, err)
			continue
		}
		if s.Action != tc.wantAction || s.Mode != tc.wantMode {
			t.Errorf("%s %s: action %q mode %q, want %q %q", tc.kind, tc.body, s.Action, s.Mode, tc.wantAction, tc.wantMode)
		}
		if gjson.GetBytes(s.Body, "mode").Exists() || gjson.GetBytes(s.Body, "notifyHook").Exists() {
			t.Errorf("%s: upstream body keeps the gateway's fields: %s", tc.kind, s.Body)
		}
	}
}

func TestDecodeTaskAndSubmitResult(t *testing.T) {
	for _, tc := range []struct {
		body     string
		status   gateway.TaskStatus
		progress int
		err      bool
	}{
		{`{"id":"1","status":"IN_PROGRESS","progress":"45%"}`, gateway.TaskInProgress, 45, false},
		{`{"id":2,"status":"SUCCESS","progress":"100%"}`, gateway.TaskSucceeded, 100, false},
		{`{"id":"1","status":"NOT_START","progress":"0%"}`, gateway.TaskQueued, 0, false},
		{`{"id":"1","status":"MODAL"}`, gateway.TaskModal, 0, false},
		{`{"id":"1","status":"FAILURE","progress":"250%","failReason":"x"}`, gateway.TaskFailed, 100, false},
		{`{"id":"1","status":"CANCEL","progress":"-3"}`, gateway.TaskCanceled, 0, false},
		{`{"id":"1","status":"EXPLODED"}`, "", 0, true},
		{`[]`, "", 0, true},
		{`{`, "", 0, true},
	} {
		got, err := DecodeTask([]byte(tc.body))
		if (err != nil) != tc.err || got.Status != tc.status || got.Progress != tc.progress {
			t.Errorf("DecodeTask(%s) = %+v, %v", tc.body, got, err)
		}
	}
	code, desc, id, props, err := DecodeSubmitResult([]byte(`{"code":22,"description":"queued","result":1712205491372224,"properties":{"numberOfQueues":3}}`))
	if err != nil || code != 22 || desc != "queued" || id != "1712205491372224" || props["numberOfQueues"] != float64(3) {
		t.Fatalf("DecodeSubmitResult: %d %q %q %v %v", code, desc, id, props, err)
	}
	if _, _, _, _, err := DecodeSubmitResult([]byte(`{"code":"1"}`)); err == nil {
		t.Fatal("a string code was accepted")
	}
}

// TestEncodeTaskGolden renders a finished task from a stored upstream
// object: the gateway's id, status, progress and times replace the
// upstream's, every other field stays, the upstream's accounts go.
func TestEncodeTaskGolden(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	upstreamObj := []byte(`{"id":"9000000000000000","action":"IMAGINE","status":"SUCCESS","progress":"100%","imageUrl":"https://cdn.example.com/a.png",
		"prompt":"a cat","promptEn":"a cat","description":"/imagine a cat","submitTime":1,"buttons":[{"customId":"MJ::JOB::upsample::1::h","emoji":"","label":"U1","type":2,"style":2}],
		"properties":{"finalPrompt":"a cat","discordInstanceId":"secret","notifyHook":"https://upstream/hook"},"maskBase64":""}`)
	tk := &gateway.Task{ID: "1796215620997217", Kind: gateway.TaskMidjourney, Action: ActionImagine, Status: gateway.TaskSucceeded,
		Progress: 100, Request: []byte(`{"prompt":"a cat","state":"mine"}`), Result: KeepTask(upstreamObj),
		CreatedAt: at, StartedAt: at.Add(time.Second), FinishedAt: at.Add(40 * time.Second)}
	got := EncodeTask(tk)
	var buf bytes.Buffer
	if err := json.Indent(&buf, got, "", "  "); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "task_success.json")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("EncodeTask:\n%s\nwant:\n%s", buf.Bytes(), want)
	}
	// An unfinished task without an upstream object still has every field.
	bare := EncodeTask(&gateway.Task{ID: "1", Action: ActionImagine, Status: gateway.TaskQueued, Request: []byte(`{"prompt":"p"}`), CreatedAt: at})
	for _, f := range []string{"id", "action", "status", "progress", "imageUrl", "prompt", "promptEn", "description", "failReason",
		"submitTime", "startTime", "finishTime", "buttons", "properties"} {
		if !gjson.GetBytes(bare, f).Exists() {
			t.Errorf("bare task object lacks %s: %s", f, bare)
		}
	}
	if gjson.GetBytes(bare, "status").Str != "SUBMITTED" || gjson.GetBytes(bare, "progress").Str != "0%" {
		t.Errorf("bare task %s", bare)
	}
}

func TestWriteError(t *testing.T) {
	for _, tc := range []struct {
		e      *gateway.Error
		status int
		code   int64
	}{
		{gateway.Errorf(gateway.KindInvalidRequest, "bad"), 200, CodeValidation},
		{gateway.Errorf(gateway.KindNotFound, "task not found"), 404, CodeNotFound},
		{gateway.Errorf(gateway.KindAuthentication, "invalid API key"), 401, CodeFailure},
		{&gateway.Error{Kind: gateway.KindRateLimited, Message: "slow down", RetryAfter: time.Second}, 429, CodeQueueFull},
		{gateway.Errorf(gateway.KindInternal, "boom"), 500, CodeFailure},
	} {
		rec := httptest.NewRecorder()
		WriteError(rec, tc.e, "req_1")
		b := rec.Body.Bytes()
		if rec.Code != tc.status || gjson.GetBytes(b, "code").Int() != tc.code || gjson.GetBytes(b, "description").Str != tc.e.Message ||
			gjson.GetBytes(b, "properties.requestId").Str != "req_1" {
			t.Errorf("WriteError(%v) → %d %s", tc.e, rec.Code, b)
		}
	}
}
