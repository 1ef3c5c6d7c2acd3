package httpapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/coder/websocket"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"switchboard/internal/gateway"
	"switchboard/internal/upstream"
)

// Pass-through over the upstream's own Responses WebSocket: for a channel
// with settings.responses_ws, a socket's turns reach the upstream as
// response.create frames on a WebSocket the session holds to the channel's
// GET /v1/responses, and its event frames come back to the engine as the
// SSE stream a POST would have answered — so metering, the ledger and the
// response state are the engine's, as on HTTP. An upstream that refuses
// the handshake is reached by POST for the rest of the session.

// wsUpReadLimit bounds one upstream event frame (response.completed
// carries the whole output).
const wsUpReadLimit = 32 << 20

// wsUpstreams is a session's upstream sockets, one per channel and key.
type wsUpstreams struct {
	mu      sync.Mutex
	conns   map[string]*websocket.Conn
	refused map[string]bool // handshakes the upstream refused
}

func wsUpKey(ch *gateway.Channel, keyIndex int, u *url.URL) string {
	return strconv.FormatInt(ch.ID, 10) + "/" + ch.Name + "/" + strconv.Itoa(keyIndex) + "/" + u.String()
}

// closeAll ends the session's upstream sockets.
func (u *wsUpstreams) closeAll() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for k, c := range u.conns {
		_ = c.Close(websocket.StatusNormalClosure, "")
		delete(u.conns, k)
	}
}

// Carry implements relay.Carrier.
func (u *wsUpstreams) Carry(client *http.Client, req *http.Request, ch *gateway.Channel, keyIndex int) (*http.Response, bool, error) {
	if !upstream.ResponsesOverWS(ch) || req.Method != http.MethodPost || !strings.HasSuffix(req.URL.Path, "/responses") || req.GetBody == nil {
		return nil, false, nil
	}
	key := wsUpKey(ch, keyIndex, req.URL)
	u.mu.Lock()
	if u.refused[key] {
		u.mu.Unlock()
		return nil, false, nil
	}
	conn := u.conns[key]
	delete(u.conns, key) // the turn owns it until its stream ends
	u.mu.Unlock()

	rc, err := req.GetBody()
	if err != nil {
		return nil, false, nil
	}
	body, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return nil, false, nil
	}
	frame, err := sjson.SetBytes(body, "type", "response.create")
	if err == nil {
		frame, err = sjson.DeleteBytes(frame, "stream")
	}
	if err == nil {
		frame, err = sjson.DeleteBytes(frame, "background")
	}
	if err != nil {
		return nil, false, nil
	}
	ctx := req.Context()
	reused := conn != nil
	for {
		if conn == nil {
			conn, err = u.dial(ctx, client, req)
			if err != nil {
				var refused *wsRefused
				if errors.As(err, &refused) {
					u.mu.Lock()
					if u.refused == nil {
						u.refused = map[string]bool{}
					}
					u.refused[key] = true
					u.mu.Unlock()
					return nil, false, nil
				}
				return nil, true, err
			}
		}
		first, err := sendCreate(ctx, conn, frame)
		if err != nil && reused && ctx.Err() == nil {
			// The upstream closed the idle socket: a fresh one, once.
			conn.CloseNow()
			conn, reused = nil, false
			continue
		}
		if err != nil {
			conn.CloseNow()
			return nil, true, err
		}
		return u.answer(conn, key, first, req), true, nil
	}
}

// wsRefused is a handshake answered without an upgrade.
type wsRefused struct{ status int }

func (e *wsRefused) Error() string {
	return "the upstream refused the WebSocket handshake with " + strconv.Itoa(e.status)
}

func (u *wsUpstreams) dial(ctx context.Context, client *http.Client, req *http.Request) (*websocket.Conn, error) {
	h := req.Header.Clone()
	for _, k := range [...]string{"Content-Type", "Content-Length", "Accept", "Accept-Encoding"} {
		h.Del(k)
	}
	target := *req.URL
	switch target.Scheme {
	case "https":
		target.Scheme = "wss"
	case "http":
		target.Scheme = "ws"
	}
	// The socket outlives the attempt (it serves the session's next
	// turns): an upgraded connection is the caller's, and ctx bounds only
	// the handshake.
	conn, resp, err := websocket.Dial(ctx, target.String(), &websocket.DialOptions{HTTPClient: client, HTTPHeader: h})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return nil, &wsRefused{status: resp.StatusCode}
		}
		return nil, err
	}
	conn.SetReadLimit(wsUpReadLimit)
	return conn, nil
}

// sendCreate writes the frame and reads the upstream's first answer.
func sendCreate(ctx context.Context, conn *websocket.Conn, frame []byte) ([]byte, error) {
	if err := conn.Write(ctx, websocket.MessageText, frame); err != nil {
		return nil, err
	}
	if tr := httptrace.ContextClientTrace(ctx); tr != nil && tr.WroteRequest != nil {
		tr.WroteRequest(httptrace.WroteRequestInfo{}) // the upstream has the whole request
	}
	_, first, err := conn.Read(ctx)
	return first, err
}

// answer is the engine's view of the upstream's frames: an error frame
// first is an HTTP error answer; anything else an SSE stream up to the
// response's last event.
func (u *wsUpstreams) answer(conn *websocket.Conn, key string, first []byte, req *http.Request) *http.Response {
	if gjson.GetBytes(first, "type").Str == "error" {
		u.keep(key, conn)
		status := int(gjson.GetBytes(first, "status").Int())
		if status < 400 {
			status = http.StatusBadGateway
		}
		b := []byte(`{"error":` + gjson.GetBytes(first, "error").Raw + `}`)
		if !gjson.GetBytes(first, "error").IsObject() {
			b = []byte(`{"error":{"message":"the upstream sent an error frame"}}`)
		}
		return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(bytes.NewReader(b)), ContentLength: int64(len(b)), Request: req}
	}
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"text/event-stream"}},
		Body: &wsEventBody{u: u, key: key, conn: conn, ctx: req.Context(), next: first}, ContentLength: -1, Request: req}
}

func (u *wsUpstreams) keep(key string, conn *websocket.Conn) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.conns == nil {
		u.conns = map[string]*websocket.Conn{}
	}
	if old := u.conns[key]; old != nil {
		old.CloseNow()
	}
	u.conns[key] = conn
}

// wsEventBody renders upstream frames as SSE events.
type wsEventBody struct {
	u      *wsUpstreams
	key    string
	conn   *websocket.Conn
	ctx    context.Context
	next   []byte // a frame read, not yet rendered
	buf    []byte
	done   bool // the response's last event was read
	closed bool
}

func isLastEvent(typ string) bool {
	switch typ {
	case "response.completed", "response.incomplete", "response.failed", "error":
		return true
	}
	return false
}

func (b *wsEventBody) Read(p []byte) (int, error) {
	for len(b.buf) == 0 {
		if b.done || b.closed {
			return 0, io.EOF
		}
		frame := b.next
		b.next = nil
		if frame == nil {
			_, msg, err := b.conn.Read(b.ctx)
			if err != nil {
				return 0, err
			}
			frame = msg
		}
		typ := gjson.GetBytes(frame, "type").Str
		b.done = isLastEvent(typ)
		b.buf = append(append(append(append(b.buf, "event: "...), typ...), "\ndata: "...), frame...)
		b.buf = append(b.buf, "\n\n"...)
	}
	n := copy(p, b.buf)
	b.buf = b.buf[n:]
	return n, nil
}

// Close keeps a socket whose response ended for the next turn and drops
// one abandoned mid-response.
func (b *wsEventBody) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	if b.done {
		b.u.keep(b.key, b.conn)
		return nil
	}
	return b.conn.Close(websocket.StatusGoingAway, "response abandoned")
}
