// Package respstate keeps the state of Responses API conversations so
// that previous_response_id works on every upstream, not only on the
// OpenAI account that produced the response: each answer is recorded
// (its whole conversation's input items and the Response object, sealed
// in the shared store) before the client sees its end, and a call that
// continues one has previous_response_id expanded into the full history,
// which any upstream — passed through or translated — can take.
//
// store:false is honoured: nothing is recorded, so nothing can be read
// back; a WebSocket session keeps its last response in memory instead
// (Lookup, Turn.Recorded), as OpenAI's own WebSocket mode does.
package respstate

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"switchboard/internal/gateway"
)

// Defaults of a Service.
const (
	DefaultTTL       = 30 * 24 * time.Hour // OpenAI keeps responses 30 days
	DefaultMaxPerKey = 1000
	DefaultMaxBytes  = 16 << 20
)

// Service records and expands conversations. The zero value of each
// limit takes its default.
type Service struct {
	Store gateway.ResponseStore
	// TTL is how long a response can be continued or read back.
	TTL time.Duration
	// MaxPerKey bounds the responses kept per key (the oldest go first).
	MaxPerKey int
	// MaxBytes bounds one recorded conversation; a larger one is not
	// recorded (its continuation then fails as not found).
	MaxBytes int
	Log      *slog.Logger
	Now      func() time.Time
}

func (s *Service) ttl() time.Duration {
	if s.TTL > 0 {
		return s.TTL
	}
	return DefaultTTL
}

func (s *Service) maxPerKey() int {
	if s.MaxPerKey > 0 {
		return s.MaxPerKey
	}
	return DefaultMaxPerKey
}

func (s *Service) maxBytes() int {
	if s.MaxBytes > 0 {
		return s.MaxBytes
	}
	return DefaultMaxBytes
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Lookup finds a response kept outside the store (a WebSocket session's
// last one); ok false falls back to the store.
type Lookup func(id string) (gateway.StoredResponse, bool)

// Turn is one create call: its body with any previous_response_id
// expanded, and what to record of its answer.
type Turn struct {
	svc   *Service
	key   *gateway.Key
	Body  []byte
	input []byte // every input item of the conversation, as a JSON array
	model string
	store bool
	// Recorded is the answer's record once its terminal event passed
	// (also when store is false, for a WebSocket session to keep).
	Recorded *gateway.StoredResponse
}

// NotFound is the error of a previous_response_id nobody kept.
func NotFound(id string) *gateway.Error {
	return gateway.Errorf(gateway.KindInvalidRequest, "Previous response with id '%s' not found.", id).
		WithParam("previous_response_id").WithCode("previous_response_not_found")
}

// Begin prepares a create call of key. local, when set, is asked first.
func (s *Service) Begin(ctx context.Context, key *gateway.Key, body []byte, local Lookup) (*Turn, error) {
	root := gjson.ParseBytes(body)
	t := &Turn{svc: s, key: key, Body: body, model: root.Get("model").Str, store: root.Get("store").Type != gjson.False}
	input := itemsOf(root.Get("input"))
	prevID := root.Get("previous_response_id")
	if prevID.Type != gjson.String || prevID.Str == "" {
		t.input = input
		return t, nil
	}
	prev, ok := gateway.StoredResponse{}, false
	if local != nil {
		prev, ok = local(prevID.Str)
	}
	if !ok {
		if s.Store == nil {
			return nil, NotFound(prevID.Str)
		}
		var err error
		if prev, err = s.Store.GetResponse(ctx, key.ID, prevID.Str); err != nil {
			if errors.Is(err, gateway.ErrNotFound) {
				return nil, NotFound(prevID.Str)
			}
			return nil, &gateway.Error{Kind: gateway.KindUnavailable, Message: "the response store is unavailable", Err: err}
		}
	}
	history := joinArrays(prev.Input, []byte(gjson.GetBytes(prev.Response, "output").Raw), input)
	b, err := sjson.SetRawBytes(body, "input", history)
	if err == nil {
		b, err = sjson.DeleteBytes(b, "previous_response_id")
	}
	if err != nil {
		return nil, &gateway.Error{Kind: gateway.KindInvalidRequest, Message: "cannot expand previous_response_id in the request body", Err: err}
	}
	t.Body, t.input = b, history
	return t, nil
}

// itemsOf reads input as an array of items: a string is one user message.
func itemsOf(v gjson.Result) []byte {
	switch {
	case v.IsArray():
		return []byte(v.Raw)
	case v.Type == gjson.String:
		b, _ := sjson.SetBytes([]byte(`[{"role":"user","content":""}]`), "0.content", v.Str)
		return b
	}
	return []byte("[]")
}

// joinArrays concatenates JSON arrays (empty or invalid ones count as []).
func joinArrays(arrays ...[]byte) []byte {
	out := []byte{'['}
	for _, a := range arrays {
		a = bytes.TrimSpace(a)
		if len(a) < 2 || a[0] != '[' {
			continue
		}
		inner := bytes.TrimSpace(a[1 : len(a)-1])
		if len(inner) == 0 {
			continue
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, inner...)
	}
	return append(out, ']')
}

// Keep records resp (a Response object) as this turn's answer, for an
// answer the gateway made itself (a WebSocket warm-up, generate:false).
func (t *Turn) Keep(ctx context.Context, resp []byte) { t.record(ctx, resp) }

// record keeps the answer resp (a Response object) of this turn.
func (t *Turn) record(ctx context.Context, resp []byte) {
	r := gjson.ParseBytes(resp)
	id := r.Get("id").Str
	if id == "" || r.Get("object").Str != "response" {
		return
	}
	now := t.svc.now()
	rec := &gateway.StoredResponse{ID: id, KeyID: t.key.ID, Model: t.model, CreatedAt: now, ExpiresAt: now.Add(t.svc.ttl()),
		Input: t.input, Response: bytes.Clone(resp)}
	t.Recorded = rec
	if !t.store || t.svc.Store == nil {
		return
	}
	if len(rec.Input)+len(rec.Response) > t.svc.maxBytes() {
		t.svc.log().Warn("response too large to keep", "response_id", id, "bytes", len(rec.Input)+len(rec.Response))
		return
	}
	if err := t.svc.Store.PutResponse(ctx, *rec, t.svc.maxPerKey()); err != nil {
		t.svc.log().Error("keep response", "response_id", id, "err", err)
	}
}

func (s *Service) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

// Writer wraps w so that the answer's Response is recorded just before
// the bytes that end it reach the client (a client may continue the
// moment it sees response.completed). Call Finish after the call.
func (t *Turn) Writer(ctx context.Context, w http.ResponseWriter) *CaptureWriter {
	return &CaptureWriter{ResponseWriter: w, turn: t, ctx: ctx, limit: t.svc.maxBytes()}
}

// CaptureWriter is the writer Turn.Writer returns.
type CaptureWriter struct {
	http.ResponseWriter
	turn   *Turn
	ctx    context.Context
	limit  int
	status int
	mode   int // 0 undecided, 1 JSON, 2 SSE, 3 pass
	held   []byte
	frame  []byte
	done   bool
}

const (
	modeJSON = 1
	modeSSE  = 2
	modePass = 3
)

func (c *CaptureWriter) WriteHeader(status int) {
	c.status = status
	c.ResponseWriter.WriteHeader(status)
}

func (c *CaptureWriter) decide() {
	if c.mode != 0 {
		return
	}
	ct := c.Header().Get("Content-Type")
	switch {
	case c.status != 0 && c.status != http.StatusOK:
		c.mode = modePass
	case strings.HasPrefix(ct, "text/event-stream"):
		c.mode = modeSSE
	case strings.HasPrefix(ct, "application/json"):
		c.mode = modeJSON
	default:
		c.mode = modePass
	}
}

func (c *CaptureWriter) Write(p []byte) (int, error) {
	c.decide()
	switch c.mode {
	case modeJSON:
		if c.done {
			return c.ResponseWriter.Write(p)
		}
		c.held = append(c.held, p...)
		if len(c.held) > c.limit {
			c.done = true
			return len(p), c.flushHeld()
		}
		if gjson.ValidBytes(c.held) {
			c.done = true
			c.turn.record(c.ctx, c.held)
			return len(p), c.flushHeld()
		}
		return len(p), nil
	case modeSSE:
		c.scan(p)
	}
	return c.ResponseWriter.Write(p)
}

func (c *CaptureWriter) flushHeld() error {
	b := c.held
	c.held = nil
	_, err := c.ResponseWriter.Write(b)
	return err
}

// scan assembles SSE frames from p and records a terminal one's Response.
func (c *CaptureWriter) scan(p []byte) {
	if c.done {
		return
	}
	c.frame = append(c.frame, p...)
	for {
		i := bytes.Index(c.frame, []byte("\n\n"))
		if i < 0 {
			break
		}
		c.frameDone(c.frame[:i])
		c.frame = c.frame[i+2:]
	}
	if len(c.frame) > c.limit {
		c.frame, c.done = nil, true // a frame this large is not kept
	}
	if len(c.frame) == 0 {
		c.frame = c.frame[:0:0]
	}
}

func (c *CaptureWriter) frameDone(f []byte) {
	var data []byte
	for _, line := range bytes.Split(f, []byte("\n")) {
		if d, ok := bytes.CutPrefix(line, []byte("data:")); ok {
			data = append(data, bytes.TrimPrefix(d, []byte(" "))...)
		}
	}
	switch gjson.GetBytes(data, "type").Str {
	case "response.completed", "response.incomplete":
		c.done = true
		c.turn.record(c.ctx, []byte(gjson.GetBytes(data, "response").Raw))
	}
}

// Finish writes what is still held (a JSON answer that never parsed).
func (c *CaptureWriter) Finish() {
	if len(c.held) > 0 {
		_ = c.flushHeld()
	}
}

// Flush passes flushes through to the client.
func (c *CaptureWriter) Flush() { _ = http.NewResponseController(c.ResponseWriter).Flush() }

// Unwrap lets http.ResponseController reach the connection.
func (c *CaptureWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }
