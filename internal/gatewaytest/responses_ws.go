package gatewaytest

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"

	"github.com/coder/websocket"
	"github.com/tidwall/gjson"
)

// OpenAIResponsesWS is OpenAIResponses that also serves the Responses
// API's WebSocket mode (GET /v1/responses with Upgrade: websocket): each
// response.create frame is answered with the stream's events as text
// frames on the same socket; a frame without a model gets an error event.
type OpenAIResponsesWS struct {
	OpenAIResponses
	// Refuse, when set, answers the handshake with this status instead.
	Refuse int
	// Frames records what the sockets received.
	Frames *Frames
	// CloseAfter drops the socket after each response.
	CloseAfter bool
	// FailStatus and FailCode, when set, answer every response.create
	// with an error event instead.
	FailStatus int
	FailCode   string
}

// Frames is what an OpenAIResponsesWS received, safe for concurrent use.
type Frames struct {
	mu     sync.Mutex
	list   [][]byte
	conns  int
	closed int
}

// Closed is the number of sockets that ended.
func (f *Frames) Closed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}

// All returns the frames received so far, in order.
func (f *Frames) All() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]byte(nil), f.list...)
}

// Conns is the number of sockets accepted.
func (f *Frames) Conns() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conns
}

// Handler returns the scripted behaviour.
func (o OpenAIResponsesWS) Handler() http.HandlerFunc {
	post := o.OpenAIResponses.Handler()
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			post(w, r)
			return
		}
		if o.Refuse != 0 {
			writeOpenAIError(w, o.Refuse, "websocket mode is not served here")
			return
		}
		conn, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer conn.CloseNow()
		conn.SetReadLimit(1 << 24)
		o.Frames.mu.Lock()
		o.Frames.conns++
		o.Frames.mu.Unlock()
		defer func() {
			o.Frames.mu.Lock()
			o.Frames.closed++
			o.Frames.mu.Unlock()
		}()
		ctx := context.WithoutCancel(r.Context())
		for {
			_, msg, err := conn.Read(ctx)
			if err != nil {
				return
			}
			o.Frames.mu.Lock()
			o.Frames.list = append(o.Frames.list, msg)
			o.Frames.mu.Unlock()
			model := gjson.GetBytes(msg, "model").Str
			if o.FailStatus != 0 || gjson.GetBytes(msg, "type").Str != "response.create" || model == "" {
				status, code, message := o.FailStatus, o.FailCode, "scripted failure"
				if status == 0 {
					status, code, message = 400, "invalid_request", "send response.create with a model"
				}
				b, _ := json.Marshal(map[string]any{"type": "error", "status": status, "error": map[string]any{
					"type": "invalid_request_error", "code": code, "message": message, "param": nil}})
				if conn.Write(ctx, websocket.MessageText, b) != nil {
					return
				}
				continue
			}
			seq := 0
			var werr error
			o.events(model, o.items(), func(ev map[string]any) {
				ev["sequence_number"] = seq
				seq++
				b, _ := json.Marshal(ev)
				if werr == nil {
					werr = conn.Write(ctx, websocket.MessageText, b)
				}
			})
			if werr != nil || o.CloseAfter {
				return
			}
		}
	}
}
