package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"switchboard/internal/format/openai"
	"switchboard/internal/gateway"
	"switchboard/internal/llm"
	"switchboard/internal/payload"
	"switchboard/internal/relay"
	"switchboard/internal/respstate"
)

// The Responses API's WebSocket mode: GET /v1/responses with Upgrade:
// websocket. Each response.create frame is one create call (the body
// without stream), run through the same engine path as HTTP — so it works
// against every upstream — and answered with the same events as text
// frames. The socket keeps its last response in memory, so
// previous_response_id continues on it even with store:false; one
// response runs at a time, and a connection lives at most an hour. A
// channel with settings.responses_ws is reached over a WebSocket of its
// own (responses_wsup.go).

// wsProtocolKeyPrefix is the subprotocol browsers and SDKs use to carry a
// key where they cannot set headers.
const wsProtocolKeyPrefix = "openai-insecure-api-key."

// WSMaxLifetime is how long a Responses socket may stay open (OpenAI's limit).
const WSMaxLifetime = 60 * time.Minute

// upgradeRequired answers a GET /v1/responses that is not a WebSocket
// handshake: 426 is the one status on which Codex falls back to HTTP at
// once (a 404 or 405 costs it seconds of retries).
func upgradeRequired(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Upgrade", "websocket")
	w.Header().Set("Connection", "Upgrade")
	w.Header().Set("Sec-WebSocket-Version", "13")
	e := gateway.Errorf(gateway.KindInvalidRequest, "GET /v1/responses is the Responses API's WebSocket mode: send the WebSocket handshake (Upgrade: websocket), or POST /v1/responses").WithCode("upgrade_required")
	e.Status = http.StatusUpgradeRequired
	openai.WriteError(w, e, RequestID(r.Context()))
}

func isWebSocketHandshake(r *http.Request) bool {
	return headerHasToken(r.Header, "Connection", "upgrade") && headerHasToken(r.Header, "Upgrade", "websocket")
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// wsKey reads the key from the headers or the key subprotocol.
func wsKey(r *http.Request) (key, protocol string) {
	if k := openai.Responses.ClientKey(r); k != "" {
		return k, ""
	}
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(v, ",") {
			p = strings.TrimSpace(p)
			if k, ok := strings.CutPrefix(p, wsProtocolKeyPrefix); ok && k != "" {
				return k, p
			}
		}
	}
	return "", ""
}

func (s *Server) responsesSocket(w http.ResponseWriter, r *http.Request) error {
	if !isWebSocketHandshake(r) {
		upgradeRequired(w, r)
		return nil
	}
	secret, proto := wsKey(r)
	k, err := s.authenticate(r, secret)
	if err != nil {
		return err
	}
	opts := &websocket.AcceptOptions{InsecureSkipVerify: true} // keys, not cookies, authenticate
	if proto != "" {
		opts.Subprotocols = []string{proto}
	}
	// The server's read and write timeouts bound requests, not sockets.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	conn, err := websocket.Accept(w, r, opts)
	if err != nil {
		return nil // Accept answered the handshake itself
	}
	conn.SetReadLimit(s.MaxBodyBytes)
	// The handshake's request context ends with this handler; the socket's
	// lives on until the client leaves or its hour is up.
	ctx := context.WithoutCancel(r.Context())
	sess := &wsSession{srv: s, conn: conn, key: k, header: r.Header.Clone(), requestID: RequestID(r.Context())}
	lifetime := s.ResponsesSocketLifetime
	if lifetime <= 0 {
		lifetime = WSMaxLifetime
	}
	limit := time.AfterFunc(lifetime, func() {
		// Said before the close (a cancelled Read would drop the socket
		// without a word).
		sess.sendError(ctx, http.StatusBadRequest, "websocket_connection_limit_reached",
			"Responses websocket connection limit reached (60 minutes). Create a new websocket connection to continue.", "")
		_ = conn.Close(websocket.StatusNormalClosure, "connection limit reached")
	})
	defer limit.Stop()
	sess.run(ctx)
	return nil
}

// wsSession is one socket.
type wsSession struct {
	srv       *Server
	conn      *websocket.Conn
	key       *gateway.Key
	header    http.Header
	requestID string

	writeMu sync.Mutex
	mu      sync.Mutex
	busy    bool
	last    *gateway.StoredResponse // the socket's last response, kept even with store:false
	turns   sync.WaitGroup
	up      wsUpstreams // upstream Responses sockets (settings.responses_ws)
}

func (ws *wsSession) run(ctx context.Context) {
	defer ws.conn.CloseNow()
	defer ws.up.closeAll()
	// A client that goes away ends the response it was waiting for.
	turnCtx, cancelTurns := context.WithCancel(ctx)
	defer cancelTurns()
	for {
		typ, msg, err := ws.conn.Read(ctx)
		if err != nil {
			cancelTurns()
			ws.turns.Wait()
			return
		}
		if typ != websocket.MessageText {
			ws.sendError(ctx, http.StatusBadRequest, "invalid_message", "frames must be JSON text", "")
			continue
		}
		switch t := gjson.GetBytes(msg, "type").Str; t {
		case "response.create":
			ws.mu.Lock()
			if ws.busy {
				ws.mu.Unlock()
				ws.sendError(ctx, http.StatusBadRequest, "response_already_in_flight", "A response is already in progress on this connection; wait for it to finish.", "")
				continue
			}
			ws.busy = true
			ws.mu.Unlock()
			ws.turns.Add(1)
			go func() {
				defer ws.turns.Done()
				ws.turn(turnCtx, msg)
				ws.finish(nil)
			}()
		case "response.processed":
			// Codex acknowledges a finished response; nothing to do.
		default:
			ws.sendError(ctx, http.StatusBadRequest, "invalid_message", "unknown message type "+strconvQuote(t)+": send response.create", "type")
		}
	}
}

// finish ends the turn in flight before its last event is written (a
// client may send the next create the moment it sees it): the socket
// keeps rec, if any, and takes the next response.
func (ws *wsSession) finish(rec *gateway.StoredResponse) {
	ws.mu.Lock()
	if rec != nil {
		ws.last = rec
	}
	ws.busy = false
	ws.mu.Unlock()
}

func strconvQuote(s string) string { b, _ := json.Marshal(s); return string(b) }

func (ws *wsSession) write(ctx context.Context, b []byte) error {
	ws.writeMu.Lock()
	defer ws.writeMu.Unlock()
	return ws.conn.Write(ctx, websocket.MessageText, b)
}

// sendError writes an error event in the WebSocket mode's shape.
func (ws *wsSession) sendError(ctx context.Context, status int, code, message, param string) {
	ev := map[string]any{"type": "error", "status": status, "error": map[string]any{
		"type": "invalid_request_error", "code": code, "message": message, "param": nilIfEmpty(param)}}
	if status >= 500 {
		ev["error"].(map[string]any)["type"] = "server_error"
	}
	b, _ := json.Marshal(ev)
	_ = ws.write(ctx, b)
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// sendGatewayError sends e as an error event with OpenAI's error object.
func (ws *wsSession) sendGatewayError(ctx context.Context, e *gateway.Error) {
	inner := gjson.GetBytes(openai.ErrorBody(e, ws.requestID), "error").Raw
	b := []byte(`{"type":"error","status":` + strconv.Itoa(e.HTTPStatus()) + `,"error":` + inner + `}`)
	_ = ws.write(ctx, b)
}

// turn runs one response.create through the engine.
func (ws *wsSession) turn(ctx context.Context, frame []byte) {
	root := gjson.ParseBytes(frame)
	streamID := root.Get("stream_id").Str
	warmUp := root.Get("generate").Type == gjson.False
	body := frame
	for _, k := range [...]string{"type", "background", "stream_id", "generate"} {
		body, _ = sjson.DeleteBytes(body, k)
	}
	body, _ = sjson.SetBytes(body, "stream", true)
	s := ws.srv
	var local respstate.Lookup
	ws.mu.Lock()
	last := ws.last
	ws.mu.Unlock()
	if last != nil {
		local = func(id string) (gateway.StoredResponse, bool) {
			if id == last.ID {
				return *last, true
			}
			return gateway.StoredResponse{}, false
		}
	}
	if gerr := s.checkJSON(body); gerr != nil {
		ws.finish(nil)
		ws.sendGatewayError(ctx, gerr)
		return
	}
	svc := s.Responses
	if svc == nil {
		svc = &respstate.Service{}
	}
	t, err := svc.Begin(ctx, ws.key, body, local)
	if err != nil {
		ws.finish(nil)
		ws.sendGatewayError(ctx, gateway.AsError(err))
		return
	}
	pb := payload.Body{JSON: t.Body}
	p, err := openai.Responses.Peek(&http.Request{Header: ws.header}, pb) // the handshake's session headers pin the conversation
	if err != nil {
		ws.finish(nil)
		ws.sendGatewayError(ctx, gateway.AsError(err))
		return
	}
	id := gateway.NewRequestID()
	fw := &wsFrameWriter{ctx: ctx, ws: ws, turn: t, h: http.Header{}, streamID: streamID}
	if warmUp {
		// generate:false readies the conversation without a model call: an
		// empty completed response the next turn continues from.
		if !ws.key.Allows(p.Model) {
			ws.finish(nil)
			ws.sendGatewayError(ctx, gateway.Errorf(gateway.KindPermission, "this key may not use model %q", p.Model).WithCode("model_not_allowed"))
			return
		}
		resp := openai.EncodeResponsesAnswer(&llm.Response{}, openai.ResponsesStreamOptions{ID: id, Model: p.Model})
		t.Keep(ctx, resp)
		for i, typ := range [...]string{"response.created", "response.completed"} {
			ev := []byte(`{"type":"` + typ + `","response":` + string(resp) + `,"sequence_number":` + strconv.Itoa(i) + `}`)
			if fw.send(ev) != nil {
				return
			}
		}
	} else {
		c := &relay.Call{Spec: openai.Responses, Key: ws.key, RequestID: id, Start: time.Now(), Peek: p, Body: pb, Header: ws.header, Carrier: &ws.up}
		cw := t.Writer(ctx, fw)
		err = s.Engine.Serve(ctx, cw, c)
		cw.Finish()
		if err != nil {
			ws.finish(nil)
			ws.sendGatewayError(ctx, gateway.AsError(err))
		}
	}
}

// wsFrameWriter is the engine's response writer on a socket: every SSE
// event becomes a text frame of its data.
type wsFrameWriter struct {
	ctx      context.Context
	ws       *wsSession
	h        http.Header
	status   int
	buf      []byte
	err      error
	streamID string // echoed on every event of a multiplexed stream
	turn     *respstate.Turn
}

func (f *wsFrameWriter) send(data []byte) error {
	if f.streamID != "" {
		data, _ = sjson.SetBytes(data, "stream_id", f.streamID)
	}
	switch gjson.GetBytes(data, "type").Str {
	case "response.completed", "response.incomplete", "response.failed", "error":
		f.ws.finish(f.turn.Recorded)
	}
	if err := f.ws.write(f.ctx, data); err != nil {
		f.err = err
		return err
	}
	return nil
}

func (f *wsFrameWriter) Header() http.Header { return f.h }

func (f *wsFrameWriter) WriteHeader(status int) { f.status = status }

func (f *wsFrameWriter) Write(p []byte) (int, error) {
	if f.err != nil {
		return 0, f.err
	}
	f.buf = append(f.buf, p...)
	for {
		i := bytes.Index(f.buf, []byte("\n\n"))
		if i < 0 {
			break
		}
		frame := f.buf[:i]
		var data []byte
		for _, line := range bytes.Split(frame, []byte("\n")) {
			if d, ok := bytes.CutPrefix(line, []byte("data:")); ok {
				data = append(data, bytes.TrimPrefix(d, []byte(" "))...)
			}
		}
		if len(data) > 0 {
			if err := f.send(data); err != nil {
				return 0, err
			}
		}
		f.buf = f.buf[i+2:]
	}
	return len(p), nil
}

// Flush: every frame is sent as soon as it is complete.
func (f *wsFrameWriter) Flush() {}
