package relay

import (
	"context"
	"errors"
	"iter"
	"net/http"
	"time"

	"switchboard/internal/endpoint"
	"switchboard/internal/gateway"
	"switchboard/internal/llm"
	"switchboard/internal/payload"
	"switchboard/internal/sse"
	"switchboard/internal/upstream"
)

// HubCall is a chat call made by Go code inside the gateway: the console's
// playground, async tasks, gateway-run tools.
type HubCall struct {
	Key       *gateway.Key
	Request   *llm.Request
	RequestID string // "" : one is made up
	// Endpoint labels the call in the ledger ("" : "hub.chat").
	Endpoint string
	// ChannelID, when set, pins the call to that channel: no other is
	// tried (a channel test).
	ChannelID int64
}

// Generate runs hc through the same admission, limits, routing, failover,
// budget and ledger as an HTTP call, always streaming, and yields the
// answer as hub events: EventStart, content, EventUsage, then EventStop or
// EventError. A call that fails before any answer yields one error (a
// *gateway.Error) and nothing else. Stopping the iteration early cancels
// the upstream call; the call is billed for what was produced.
func (e *Engine) Generate(ctx context.Context, hc HubCall) iter.Seq2[llm.Event, error] {
	return func(yield func(llm.Event, error) bool) {
		if hc.Key == nil || hc.Request == nil {
			yield(llm.Event{}, gateway.Errorf(gateway.KindInvalidRequest, "a hub call needs a key and a request"))
			return
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		req := *hc.Request
		req.Stream = true
		sink := &hubEncoder{yield: yield, cancel: cancel}
		p := endpoint.Peek{Model: req.Model, Stream: true, N: req.N}
		if req.MaxTokens != nil {
			p.MaxOutput = int64(*req.MaxTokens)
		}
		id := hc.RequestID
		if id == "" {
			id = gateway.NewRequestID()
		}
		label := hc.Endpoint
		if label == "" {
			label = "hub.chat"
		}
		c := &Call{Spec: hubSpec{endpoint: label}, Key: hc.Key, RequestID: id, Start: time.Now(), Peek: p, hub: &req, hubSink: sink, pin: hc.ChannelID}
		if err := e.Serve(ctx, discardWriter{}, c); err != nil && !sink.stopped {
			yield(llm.Event{}, err)
		}
	}
}

// errHubStopped is what the hub encoder returns once its consumer stopped
// iterating; the engine treats it as a client that hung up.
var errHubStopped = errors.New("relay: hub consumer stopped")

// hubEncoder is the client side of a Go call: events go to the iterator.
type hubEncoder struct {
	yield   func(llm.Event, error) bool
	cancel  context.CancelFunc
	stopped bool
}

func (h *hubEncoder) ContentType() string { return "text/event-stream" }

func (h *hubEncoder) Encode(_ *sse.Writer, ev llm.Event) error {
	if h.stopped {
		return errHubStopped
	}
	if !h.yield(ev, nil) {
		h.stopped = true
		h.cancel()
		return errHubStopped
	}
	return nil
}

func (h *hubEncoder) Close(*sse.Writer) error { return nil }

// response yields a complete answer as the events a stream of it would
// have had (an upstream may answer a streaming request without a stream).
func (h *hubEncoder) response(r *llm.Response) {
	evs := []llm.Event{{Type: llm.EventStart, ID: r.ID, Model: r.Model}}
	for _, ch := range r.Choices {
		for i, p := range ch.Parts {
			switch p.Type {
			case llm.PartText:
				evs = append(evs, llm.Event{Type: llm.EventTextDelta, Choice: ch.Index, Index: i, Text: p.Text})
			case llm.PartReasoning:
				evs = append(evs, llm.Event{Type: llm.EventReasoningDelta, Choice: ch.Index, Index: i, Text: p.Text, Signature: p.Signature})
			case llm.PartToolCall:
				evs = append(evs,
					llm.Event{Type: llm.EventToolCallStart, Choice: ch.Index, Index: i, ToolCallID: p.ToolCallID, ToolName: p.ToolName},
					llm.Event{Type: llm.EventToolCallDelta, Choice: ch.Index, Index: i, Text: string(p.Arguments)})
			default:
				part := p
				evs = append(evs, llm.Event{Type: llm.EventMedia, Choice: ch.Index, Index: i, Part: &part})
			}
		}
	}
	u := r.Usage
	evs = append(evs, llm.Event{Type: llm.EventUsage, Usage: &u})
	stop := llm.Event{Type: llm.EventStop, StopReason: llm.StopEnd}
	if len(r.Choices) > 0 {
		stop.StopReason, stop.StopSequence = r.Choices[0].StopReason, r.Choices[0].StopSequence
	}
	evs = append(evs, stop)
	for _, ev := range evs {
		if h.Encode(nil, ev) != nil {
			return
		}
	}
}

// hubSpec is the client side of Go calls: no wire, never passed through.
type hubSpec struct{ endpoint string }

func (s hubSpec) Endpoint() string                                     { return s.endpoint }
func (hubSpec) Family() string                                         { return "" }
func (hubSpec) Op() upstream.Op                                        { return upstream.OpChat }
func (hubSpec) ClientKey(*http.Request) string                         { return "" }
func (hubSpec) WriteError(http.ResponseWriter, *gateway.Error, string) {}
func (hubSpec) UpstreamError(status int, _ []byte) *gateway.Error {
	return &gateway.Error{Kind: gateway.KindUpstream, Status: status}
}
func (hubSpec) Peek(*http.Request, payload.Body) (endpoint.Peek, error) { return endpoint.Peek{}, nil }

// discardWriter is the response writer of Go calls: their answer goes to
// the iterator, not to bytes.
type discardWriter struct{}

func (discardWriter) Header() http.Header         { return http.Header{} }
func (discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (discardWriter) WriteHeader(int)             {}
