package relay

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"switchboard/internal/endpoint"
	"switchboard/internal/gateway"
	"switchboard/internal/jsonguard"
	"switchboard/internal/llm"
	"switchboard/internal/sse"
	"switchboard/internal/tokencount"
	"switchboard/internal/upstream"
)

// chatTranslation relays a chat-like call through the llm hub to a channel
// that speaks another spec: client spec → hub → upstream spec, and the
// answer back the same way, event by event when streaming.
type chatTranslation struct {
	engine *Engine
	cs     *callState
	in     endpoint.ChatCodec // nil for Go callers, whose request is already hub
	up     endpoint.Spec
	out    endpoint.ChatCodec
	emu    any
	req    *llm.Request
}

func (t *chatTranslation) upstreamSpec() endpoint.Spec { return t.up }
func (t *chatTranslation) passThrough() bool           { return false }

// hubRequest decodes the client's request once per call; attempts on
// other channels reuse it.
func (t *chatTranslation) hubRequest() (*llm.Request, *gateway.Error) {
	c := t.cs.call
	if c.hub != nil {
		return c.hub, nil
	}
	if t.cs.chatReq == nil {
		req, err := t.in.DecodeChat(c.Peek, c.Body)
		if err != nil {
			return nil, gateway.AsError(err)
		}
		t.cs.chatReq = req
	}
	return t.cs.chatReq, nil
}

func (t *chatTranslation) requestBody(ctx context.Context) (upstream.Body, *gateway.Error) {
	c := t.cs.call
	hub, gerr := t.hubRequest()
	if gerr != nil {
		return upstream.Body{}, gerr
	}
	t.req = hub
	if mi, ok := t.up.(endpoint.MediaInliner); ok && mi.NeedsInlineMedia(hub) {
		// The upstream takes media inline only: fetch URLs through the SSRF guard.
		if gerr := t.engine.fetchMedia(ctx, hub); gerr != nil {
			return upstream.Body{}, gerr
		}
	}
	// Each attempt may target another upstream model; copy the top level
	// so the decoded request stays reusable.
	req := *hub
	req.Model = t.cs.cand.UpstreamModel
	req.Stream = c.Peek.Stream
	req.Target = t.issuer() // opaque tokens go only to the channel that issued them
	body, emu, err := t.out.EncodeChatRequest(&req)
	if err != nil {
		return upstream.Body{}, gateway.AsError(err)
	}
	t.emu = emu
	return upstream.JSON(body), nil
}

// issuer names the attempt's provider and channel: the target of opaque
// tokens in the request, and the issuer of those in the answer.
func (t *chatTranslation) issuer() llm.Issuer {
	return llm.Issuer{Provider: t.up.Family(), Channel: t.cs.cand.Channel.ID}
}

func (t *chatTranslation) complete(ctx context.Context, w http.ResponseWriter, resp *http.Response, res *result) *gateway.Error {
	e := t.engine
	c := t.cs.call
	body, err := readLimited(resp, e.maxResponseBytes())
	if err != nil {
		return e.readFailure(t.cs, err)
	}
	var out *llm.Response
	if err = upstreamJSON.Check(body); err == nil {
		out, err = t.out.DecodeChatResponse(body, t.emu)
	}
	if err != nil {
		e.report(t.cs, gateway.OutcomeFailure, 0, "upstream answer malformed")
		return &gateway.Error{Kind: gateway.KindUpstream, Message: "the upstream answer could not be understood", Err: err}
	}
	e.accepted(t.cs)
	res.ttft = time.Since(c.Start)
	if !out.Usage.IsZero() {
		res.usage, res.source = out.Usage, gateway.UsageFromUpstream
	} else {
		var n tokencount.Stream
		for _, ch := range out.Choices {
			for _, p := range ch.Parts {
				n.WriteString(p.Text)
				n.Write(p.Arguments)
			}
		}
		res.usage, res.source = estimateUsage(c, n.Total()), gateway.UsageEstimated
	}
	out.Usage = res.usage // the client sees what it is billed, estimate or not
	out.Created, out.Issuer = time.Now().Unix(), t.issuer()
	if out.ID == "" {
		out.ID = c.RequestID
	}
	e.describeHub(c, out)
	if c.hub != nil {
		res.started = true
		e.finish(ctx, t.cs, *res)
		c.hubSink.response(out)
		return nil
	}
	var enc []byte
	if ae, ok := t.in.(endpoint.AnswerEncoder); ok {
		enc, err = ae.EncodeChatAnswer(out, c.Peek, t.encoderOptions())
	} else {
		enc, err = t.in.EncodeChat(out, c.Peek)
	}
	if err != nil {
		return gateway.AsError(err)
	}
	e.answerJSON(ctx, w, t.cs, res, enc)
	return nil
}

func (t *chatTranslation) encoder() endpoint.ChatEncoder {
	c := t.cs.call
	if c.hub != nil {
		return c.hubSink
	}
	return t.in.NewChatEncoder(c.Peek, t.encoderOptions())
}

func (t *chatTranslation) encoderOptions() endpoint.EncoderOptions {
	c := t.cs.call
	return endpoint.EncoderOptions{ID: c.RequestID, Created: time.Now().Unix(), Request: t.cs.chatReq,
		EstimateInput: func() int64 { return estimateUsage(c, 0).InputTokens }}
}

func (t *chatTranslation) stream(ctx context.Context, w http.ResponseWriter, resp *http.Response, res *result, idle *idleTimer) *gateway.Error {
	e := t.engine
	c := t.cs.call
	dec := t.out.NewChatDecoder(t.emu)
	enc := t.encoder()
	rd := sse.NewReader(resp.Body, 0)
	defer rd.Release()
	pending, gerr := firstEvent(rd, streamErrorOf(t.up))
	if gerr != nil {
		e.report(t.cs, gateway.OutcomeFailure, 0, "upstream stream failed before its first event")
		return upstream.RedactError(t.cs.cand.Channel, gerr)
	}
	e.accepted(t.cs)
	havePending := true
	startStream(w, enc.ContentType())
	res.started = true
	sw := sse.NewWriter(w)

	var (
		counter     tokencount.Stream
		m           streamMeter
		stop        *llm.Event
		upstreamErr *llm.Event
		clientGone  bool
		readErr     error
		cp          = e.newStreamCheckpoint(t.cs)
	)
	emit := func(evs []llm.Event) bool {
		for i := range evs {
			ev := &evs[i]
			e.describeHubEvent(c, ev)
			switch ev.Type {
			case llm.EventStart:
				ev.Issuer = t.issuer()
			case llm.EventUsage:
				if ev.Usage != nil {
					// Decoders emit usage as the upstream reports it; the
					// final count arrives with or just before the stop.
					m.add(*ev.Usage, false)
				}
				// The encoders hold usage until the end (the final count goes
				// with the stop, once the ledger has it); an Anthropic client's
				// message_start shows the prompt count known so far.
			case llm.EventStop:
				stop = ev
				m.final = m.got
				continue
			case llm.EventError:
				upstreamErr = ev
				continue
			case llm.EventTextDelta, llm.EventReasoningDelta, llm.EventToolCallDelta:
				counter.WriteString(ev.Text)
				t.firstToken(res)
			case llm.EventToolCallStart, llm.EventMedia, llm.EventRedactedReasoning:
				t.firstToken(res)
			}
			if err := enc.Encode(sw, *ev); err != nil {
				clientGone = true
				return false
			}
		}
		return true
	}

	for stop == nil && upstreamErr == nil && !clientGone {
		ev, err := pending, error(nil)
		if havePending {
			havePending = false
		} else {
			ev, err = rd.Next()
		}
		if err != nil {
			if err != io.EOF {
				readErr = err
				break
			}
			evs, ferr := dec.Finish()
			if ferr != nil {
				readErr = ferr
			}
			emit(evs)
			break
		}
		idle.Touch()
		if !jsonguard.WithinDepth(ev.Data, jsonguard.MaxDepthLimit) {
			readErr = errEventTooDeep
			break
		}
		evs, derr := dec.Decode(ev)
		if derr != nil {
			readErr = derr
			break
		}
		if emit(evs) {
			cp.observe(&m, &counter)
		}
	}
	if ctx.Err() != nil {
		clientGone = true
	}
	res.usage, res.source = m.bill(c, &counter)
	var endErr *gateway.Error
	switch {
	case clientGone:
		t.cs.rec.Status, t.cs.rec.ErrorMessage = 499, "client disconnected mid-stream"
	case upstreamErr != nil:
		msg := "the upstream reported an error mid-stream"
		if upstreamErr.Err != nil && upstreamErr.Err.Message != "" {
			msg = upstream.Redact(t.cs.cand.Channel, upstreamErr.Err.Message)
		}
		endErr = &gateway.Error{Kind: gateway.KindUpstream, Message: msg}
		t.cs.rec.Status, t.cs.rec.ErrorMessage = http.StatusBadGateway, msg
	case errors.Is(readErr, upstream.ErrMaxStreamDuration):
		// The operator's limit, not a broken channel.
		endErr = errMaxDuration()
		t.cs.rec.Status, t.cs.rec.ErrorMessage = http.StatusGatewayTimeout, readErr.Error()
	case readErr != nil || stop == nil:
		endErr = &gateway.Error{Kind: gateway.KindUpstream, Message: "the upstream stream ended before the answer was complete"}
		t.cs.rec.Status, t.cs.rec.ErrorMessage = http.StatusBadGateway, endErr.Message
		e.report(t.cs, gateway.OutcomeFailure, 0, "stream cut")
	}
	e.finish(ctx, t.cs, *res)
	if clientGone {
		return nil
	}
	if endErr != nil {
		// Every encoder ends a stream on an error event in its own shape
		// (OpenAI error chunk, Anthropic `event: error`, Gemini error chunk).
		_ = enc.Encode(sw, llm.Event{Type: llm.EventError, Err: &llm.StreamError{Status: endErr.HTTPStatus(), Type: "upstream_error", Message: endErr.Message + " (request id: " + c.RequestID + ")"}})
		_ = enc.Close(sw)
		return nil
	}
	u := res.usage
	_ = enc.Encode(sw, llm.Event{Type: llm.EventUsage, Usage: &u})
	_ = enc.Encode(sw, *stop)
	_ = enc.Close(sw)
	return nil
}

func (t *chatTranslation) firstToken(res *result) {
	if res.ttft == 0 {
		res.ttft = time.Since(t.cs.call.Start)
		t.engine.observer().FirstToken(t.cs.call, res.ttft)
	}
}

// errEventTooDeep ends a stream whose event nests deeper than any decoder
// may recurse.
var errEventTooDeep = errors.New("upstream stream event nests too deeply")

// streamErrorOf returns how a spec recognises an error event in its
// streams; specs that do not stream have none.
func streamErrorOf(s endpoint.Spec) func(sse.Event) *gateway.Error {
	if st, ok := s.(endpoint.Streamer); ok {
		return st.EventError
	}
	return func(sse.Event) *gateway.Error { return nil }
}

// fetchMedia inlines every http(s) media URL of req, in place.
func (e *Engine) fetchMedia(ctx context.Context, req *llm.Request) *gateway.Error {
	if e.Fetcher == nil {
		return gateway.Errorf(gateway.KindInvalidRequest, "this upstream needs images inline and URL fetching is disabled: send the image as base64 data")
	}
	fetch := func(p *llm.Part) *gateway.Error {
		switch p.Type {
		case llm.PartImage, llm.PartAudio, llm.PartFile:
		default:
			return nil
		}
		if p.Data != "" || p.URL == "" {
			return nil
		}
		u := strings.ToLower(p.URL)
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			return nil
		}
		mt, data, err := e.Fetcher.Fetch(ctx, p.URL)
		if err != nil {
			return gateway.AsError(err)
		}
		p.MediaType, p.Data, p.URL = mt, data, ""
		return nil
	}
	for mi := range req.Messages {
		for pi := range req.Messages[mi].Parts {
			part := &req.Messages[mi].Parts[pi]
			if gerr := fetch(part); gerr != nil {
				return gerr
			}
			for ci := range part.Content {
				if gerr := fetch(&part.Content[ci]); gerr != nil {
					return gerr
				}
			}
		}
	}
	return nil
}
