package httpapi

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/tidwall/gjson"
)

// A socket past its lifetime is told why, then closed.
func TestResponsesSocketLifetime(t *testing.T) {
	srv := newServerWith(t, func(s *Server) { s.ResponsesSocketLifetime = 200 * time.Millisecond })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/v1/responses",
		&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + goodKey}}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	_, msg, err := conn.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if gjson.GetBytes(msg, "type").Str != "error" || gjson.GetBytes(msg, "error.code").Str != "websocket_connection_limit_reached" {
		t.Errorf("first frame %s", msg)
	}
	if _, _, err := conn.Read(ctx); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Errorf("after the limit: %v", err)
	}
}

// Frames that are not response.create are answered with an error, and
// the socket stays usable.
func TestResponsesSocketBadFrames(t *testing.T) {
	srv := newServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/v1/responses",
		&websocket.DialOptions{Subprotocols: []string{"openai-insecure-api-key." + goodKey}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseNow()
	for _, tc := range []struct{ frame, code string }{
		{`{"type":"session.update"}`, "invalid_message"},
		{`{"type":"response.create","input":"no model"}`, "missing_required_parameter"},
		{`{"type":"response.create","model":"m","previous_response_id":"resp_gone","input":"x"}`, "previous_response_not_found"},
	} {
		if err := conn.Write(ctx, websocket.MessageText, []byte(tc.frame)); err != nil {
			t.Fatal(err)
		}
		_, msg, err := conn.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if gjson.GetBytes(msg, "type").Str != "error" || gjson.GetBytes(msg, "error.code").Str != tc.code {
			t.Errorf("%s: %s", tc.frame, msg)
		}
	}
}
