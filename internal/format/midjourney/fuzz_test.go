package midjourney

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"switchboard/internal/gateway"
)

func FuzzDecodeSubmit(f *testing.F) {
	for _, s := range []struct{ kind, mode, body string }{
		{SubmitImagine, "", `{"prompt":"cat","mode":"RELAX","notifyHook":"http://x","base64Array":["data:image/png;base64,AAAA"]}`},
		{SubmitBlend, "FAST", `{"base64Array":["AAAA","AAAA"],"dimensions":"SQUARE"}`},
		{SubmitAction, "", `{"taskId":12,"customId":"MJ::JOB::upsample::1::h"}`},
		{SubmitModal, "", `{"taskId":"1","maskBase64":"AAAA"}`},
		{SubmitSwapFace, "", `{"sourceBase64":"AAAA","targetBase64":"AAAA"}`},
		{SubmitDescribe, "", `{"base64":"data:image/png;base64,"}`},
		{SubmitImagine, "", `{"prompt.x":"a","prompt":"b","prompt":"c"}`},
	} {
		f.Add(s.kind, s.mode, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, kind, mode string, body []byte) {
		s, err := DecodeSubmit(kind, mode, body)
		if err != nil {
			if err.Code != CodeValidation || err.Description == "" {
				t.Fatalf("error %+v is not a validation error", err)
			}
			return
		}
		if !json.Valid(s.Body) {
			t.Fatalf("upstream body is not JSON: %q", s.Body)
		}
		if gjson.GetBytes(s.Body, "mode").Exists() || gjson.GetBytes(s.Body, "notifyHook").Exists() {
			t.Fatalf("upstream body keeps gateway fields: %s", s.Body)
		}
		if s.Action == "" {
			t.Fatal("accepted without an action")
		}
	})
}

func FuzzDecodeTask(f *testing.F) {
	f.Add([]byte(`{"id":"1","status":"IN_PROGRESS","progress":"45%","buttons":[]}`))
	f.Add([]byte(`{"id":1,"status":"SUCCESS","progress":"100%","properties":{"discordInstanceId":"x"}}`))
	f.Add([]byte(`{"status":"MODAL","progress":"99999999999999999999%"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ut, err := DecodeTask(body)
		if err == nil && (ut.Progress < 0 || ut.Progress > 100 || ut.Status == "") {
			t.Fatalf("decoded %+v", ut)
		}
		_, _, _, _, _ = DecodeSubmitResult(body)
		// Whatever the upstream stored, the client's object is a JSON
		// object with the gateway's id and no upstream account fields.
		tk := &gateway.Task{ID: "1796215620997217", Action: ActionImagine, Status: gateway.TaskInProgress, Progress: 3,
			Result: KeepTask(body), Request: body, CreatedAt: time.Unix(1, 0)}
		out := EncodeTask(tk)
		if !json.Valid(out) || gjson.GetBytes(out, "id").Str != tk.ID {
			t.Fatalf("EncodeTask(%q) = %s", body, out)
		}
		for _, f := range leakFields {
			if gjson.GetBytes(out, f).Exists() {
				t.Fatalf("EncodeTask kept %s: %s", f, out)
			}
		}
	})
}
