package respstate

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"switchboard/internal/gateway"
)

// memStore is a ResponseStore in memory, for the service's own tests.
type memStore struct {
	m map[string]gateway.StoredResponse
}

func (s *memStore) PutResponse(_ context.Context, r gateway.StoredResponse, _ int) error {
	s.m[r.ID] = r
	return nil
}

func (s *memStore) GetResponse(_ context.Context, keyID int64, id string) (gateway.StoredResponse, error) {
	r, ok := s.m[id]
	if !ok || r.KeyID != keyID {
		return r, gateway.ErrNotFound
	}
	return r, nil
}

func (s *memStore) DeleteResponse(context.Context, int64, string) error { return nil }

var key = &gateway.Key{ID: 7}

func TestBeginExpandsHistory(t *testing.T) {
	st := &memStore{m: map[string]gateway.StoredResponse{"resp_1": {ID: "resp_1", KeyID: 7,
		Input:    []byte(`[{"role":"user","content":"one"}]`),
		Response: []byte(`{"id":"resp_1","object":"response","output":[{"type":"message","role":"assistant","content":[{"type":"output_text","text":"two"}]}]}`)}}}
	svc := &Service{Store: st}
	cases := []struct {
		name, body string
		wantItems  int
		wantErr    string
	}{
		{"no previous", `{"model":"m","input":"hi"}`, 0, ""},
		{"string input after history", `{"model":"m","previous_response_id":"resp_1","input":"three"}`, 3, ""},
		{"items after history", `{"model":"m","previous_response_id":"resp_1","input":[{"role":"user","content":"a"},{"role":"user","content":"b"}]}`, 4, ""},
		{"no new input", `{"model":"m","previous_response_id":"resp_1"}`, 2, ""},
		{"unknown", `{"model":"m","previous_response_id":"resp_x","input":"x"}`, 0, "previous_response_not_found"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			turn, err := svc.Begin(context.Background(), key, []byte(tc.body), nil)
			if tc.wantErr != "" {
				var ge *gateway.Error
				if !errors.As(err, &ge) || ge.Code != tc.wantErr {
					t.Fatalf("err %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantItems == 0 {
				if string(turn.Body) != tc.body {
					t.Errorf("body changed: %s", turn.Body)
				}
				return
			}
			if gjson.GetBytes(turn.Body, "previous_response_id").Exists() || gjson.GetBytes(turn.Body, "input.#").Int() != int64(tc.wantItems) ||
				gjson.GetBytes(turn.Body, "input.1.content.0.text").Str != "two" {
				t.Errorf("body %s", turn.Body)
			}
		})
	}
	t.Run("another key", func(t *testing.T) {
		if _, err := svc.Begin(context.Background(), &gateway.Key{ID: 8}, []byte(`{"model":"m","previous_response_id":"resp_1"}`), nil); err == nil {
			t.Error("another key continued resp_1")
		}
	})
	t.Run("local first", func(t *testing.T) {
		local := func(id string) (gateway.StoredResponse, bool) {
			return gateway.StoredResponse{ID: id, Input: []byte(`[]`), Response: []byte(`{"output":[{"role":"user","content":"ws"}]}`)}, id == "resp_ws"
		}
		turn, err := svc.Begin(context.Background(), key, []byte(`{"model":"m","previous_response_id":"resp_ws","input":"x"}`), local)
		if err != nil || gjson.GetBytes(turn.Body, "input.0.content").Str != "ws" {
			t.Errorf("%v %s", err, turn.Body)
		}
	})
}

// The capture writer records the terminal Response before writing the
// bytes that carry it, whatever the chunking, and only then.
func TestCaptureWriter(t *testing.T) {
	completed := `{"type":"response.completed","response":{"id":"resp_9","object":"response","output":[]},"sequence_number":3}`
	sse := "event: response.created\ndata: {\"type\":\"response.created\"}\n\nevent: response.completed\ndata: " + completed + "\n\n"
	cases := []struct {
		name, ct string
		status   int
		chunks   []string
		stored   bool
		store    string
	}{
		{"stream in one write", "text/event-stream", 200, []string{sse}, true, ""},
		{"stream split mid-frame", "text/event-stream", 200, []string{sse[:30], sse[30:70], sse[70:]}, true, ""},
		{"json in one write", "application/json", 200, []string{`{"id":"resp_9","object":"response","output":[]}`}, true, ""},
		{"json in pieces", "application/json", 200, []string{`{"id":"resp_9",`, `"object":"response","output":[]}`}, true, ""},
		{"error answer", "application/json", 400, []string{`{"error":{"message":"no"}}`}, false, ""},
		{"store false", "text/event-stream", 200, []string{sse}, false, `,"store":false`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := &memStore{m: map[string]gateway.StoredResponse{}}
			svc := &Service{Store: st}
			turn, err := svc.Begin(context.Background(), key, []byte(`{"model":"m","input":"hi"`+tc.store+`}`), nil)
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			cw := turn.Writer(context.Background(), &orderCheck{ResponseRecorder: rec, st: st, t: t, want: tc.stored})
			cw.Header().Set("Content-Type", tc.ct)
			cw.WriteHeader(tc.status)
			for _, c := range tc.chunks {
				if _, err := cw.Write([]byte(c)); err != nil {
					t.Fatal(err)
				}
			}
			cw.Finish()
			if got := rec.Body.String(); got != strings.Join(tc.chunks, "") {
				t.Errorf("client got %q", got)
			}
			_, stored := st.m["resp_9"]
			if stored != tc.stored {
				t.Errorf("stored %v", stored)
			}
			if tc.stored && string(st.m["resp_9"].Input) != `[{"role":"user","content":"hi"}]` {
				t.Errorf("input %s", st.m["resp_9"].Input)
			}
			if tc.status == 200 && turn.Recorded == nil {
				t.Error("the turn kept no record (a WebSocket session needs it even with store:false)")
			}
		})
	}
}

// orderCheck fails when the end of an answer that is to be stored
// reaches the client before its record.
type orderCheck struct {
	*httptest.ResponseRecorder
	st   *memStore
	t    *testing.T
	want bool
}

func (o *orderCheck) Write(b []byte) (int, error) {
	if _, ok := o.st.m["resp_9"]; o.want && !ok && strings.Contains(string(b), `"id":"resp_9"`) {
		o.t.Error("the answer's end was written before it was stored")
	}
	return o.ResponseRecorder.Write(b)
}
