package relay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"switchboard/internal/format/gemini"
	"switchboard/internal/upstream"

	"switchboard/internal/gateway"
	"switchboard/internal/jsonguard"
	"switchboard/internal/llm"
	"switchboard/internal/sse"
	"switchboard/internal/tokencount"
)

// chatCodec is a chat format's converter to and from the llm hub
// (internal/format/*), adapted to one shape in codecs.go.
type chatCodec interface {
	DecodeRequest(model string, body []byte) (*llm.Request, error)
	EncodeRequest(req *llm.Request) (body []byte, emu any, err error)
	DecodeResponse(body []byte, emu any) (*llm.Response, error)
	EncodeResponse(resp *llm.Response) ([]byte, error)
	NewStreamDecoder(emu any) streamDecoder
	NewStreamEncoder(c *Call, id, model string) streamEncoder
	UpstreamError(status int, body []byte) *gateway.Error
	ContentType(c *Call) string
}

type streamDecoder interface {
	Decode(ev sse.Event) ([]llm.Event, error)
	Finish() ([]llm.Event, error)
}

type streamEncoder interface {
	Encode(w *sse.Writer, ev llm.Event) error
	Close(w *sse.Writer) error
}

var codecs = map[string]chatCodec{}

// MediaFetcher downloads a client-supplied media URL (internal/safefetch).
type MediaFetcher interface {
	Fetch(ctx context.Context, rawURL string) (mediaType string, b64 string, err error)
}

// fetchMedia inlines every http(s) media URL of req, in place.
func (r *Relay) fetchMedia(ctx context.Context, req *llm.Request) *gateway.Error {
	if r.Fetcher == nil {
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
		mt, data, err := r.Fetcher.Fetch(ctx, p.URL)
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

// errEventTooDeep ends a stream whose event nests deeper than any decoder
// may recurse.
var errEventTooDeep = errors.New("upstream stream event nests too deeply")

// translation relays a call whose client format differs from the
// channel's, through the llm hub.
type translation struct {
	relay    *Relay
	a        *attempt
	in, out  chatCodec
	upFormat string
	emu      any
	req      *llm.Request
}

func newTranslation(r *Relay, a *attempt, upFormat string) (*translation, *gateway.Error) {
	in, ok1 := codecs[a.call.Format]
	out, ok2 := codecs[upFormat]
	if !ok1 || !ok2 {
		return nil, &gateway.Error{Kind: gateway.KindInvalidRequest, Message: fmt.Sprintf("calls in %s format cannot be sent to a %s channel", a.call.Format, upFormat)}
	}
	return &translation{relay: r, a: a, in: in, out: out, upFormat: upFormat}, nil
}

func (t *translation) passThrough() bool { return false }

func (t *translation) requestBody(ctx context.Context) ([]byte, *gateway.Error) {
	c := t.a.call
	if t.req == nil {
		req, err := t.in.DecodeRequest(c.Model, c.Body)
		if err != nil {
			return nil, gateway.AsError(err)
		}
		t.req = req
	}
	if t.upFormat == upstream.FormatGemini && gemini.NeedsFetch(t.req) {
		// Gemini takes media inline only: fetch URLs through the SSRF guard.
		if gerr := t.relay.fetchMedia(ctx, t.req); gerr != nil {
			return nil, gerr
		}
	}
	// Each attempt may target another upstream model; copy the top level
	// so the decoded request stays reusable.
	req := *t.req
	req.Model = t.a.cand.UpstreamModel
	req.Stream = c.Stream
	body, emu, err := t.out.EncodeRequest(&req)
	if err != nil {
		return nil, gateway.AsError(err)
	}
	t.emu = emu
	return body, nil
}

func (t *translation) upstreamError(status int, body []byte) *gateway.Error {
	return t.out.UpstreamError(status, body)
}

func (t *translation) complete(ctx context.Context, w http.ResponseWriter, resp *http.Response, res *result) *gateway.Error {
	r := t.relay
	body, err := readLimited(resp, r.maxResponseBytes())
	if err != nil {
		r.report(t.a, gateway.OutcomeFailure, 0, "upstream answer could not be read")
		return &gateway.Error{Kind: gateway.KindUpstream, Message: "the upstream connection failed while reading the answer", Err: err}
	}
	var out *llm.Response
	if err = upstreamJSON.Check(body); err == nil {
		out, err = t.out.DecodeResponse(body, t.emu)
	}
	if err != nil {
		r.report(t.a, gateway.OutcomeFailure, 0, "upstream answer malformed")
		return &gateway.Error{Kind: gateway.KindUpstream, Message: "the upstream answer could not be understood", Err: err}
	}
	res.ttft = time.Since(t.a.call.Start)
	if !out.Usage.IsZero() {
		res.usage, res.source = out.Usage, gateway.UsageFromUpstream
	} else {
		var texts []string
		for _, ch := range out.Choices {
			for _, p := range ch.Parts {
				texts = append(texts, p.Text, string(p.Arguments))
			}
		}
		res.usage, res.source = estimateUsage(t.a.call.Body, texts), gateway.UsageEstimated
	}
	enc, err := t.in.EncodeResponse(out)
	if err != nil {
		return gateway.AsError(err)
	}
	res.started = true
	r.finish(t.a, *res)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(enc)
	return nil
}

func (t *translation) stream(ctx context.Context, w http.ResponseWriter, resp *http.Response, res *result, idle *time.Timer, timeout time.Duration) *gateway.Error {
	r := t.relay
	c := t.a.call
	dec := t.out.NewStreamDecoder(t.emu)
	enc := t.in.NewStreamEncoder(c, "", c.Model)
	rd := sse.NewReader(resp.Body, 0)
	defer rd.Release()
	pending, gerr := firstEvent(rd, t.upFormat)
	if gerr != nil {
		r.report(t.a, gateway.OutcomeFailure, 0, "upstream stream failed before its first event")
		return upstream.RedactError(t.a.cand.Channel, gerr)
	}
	havePending := true
	h := w.Header()
	h.Set("Content-Type", t.in.ContentType(c))
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	res.started = true
	sw := sse.NewWriter(w)

	var counter tokencount.Stream
	var usage llm.Usage
	gotUsage := false
	var stop *llm.Event
	var upstreamErr *llm.Event
	clientGone := false
	var readErr error

	emit := func(evs []llm.Event) bool {
		for i := range evs {
			ev := &evs[i]
			switch ev.Type {
			case llm.EventUsage:
				if ev.Usage != nil {
					usage = usage.Merge(*ev.Usage)
					gotUsage = true
				}
				continue // sent with the stop, once the ledger has it
			case llm.EventStop:
				stop = ev
				continue
			case llm.EventError:
				upstreamErr = ev
				continue
			case llm.EventTextDelta, llm.EventReasoningDelta, llm.EventToolCallDelta:
				counter.WriteString(ev.Text)
				if res.ttft == 0 {
					res.ttft = time.Since(c.Start)
				}
			case llm.EventToolCallStart, llm.EventMedia, llm.EventRedactedReasoning:
				if res.ttft == 0 {
					res.ttft = time.Since(c.Start)
				}
			}
			if err := enc.Encode(sw, *ev); err != nil {
				clientGone = true
				return false
			}
		}
		return true
	}

	for stop == nil && upstreamErr == nil {
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
		idle.Reset(timeout)
		if !jsonguard.WithinDepth(ev.Data, jsonguard.MaxDepthLimit) {
			readErr = errEventTooDeep
			break
		}
		evs, derr := dec.Decode(ev)
		if derr != nil {
			readErr = derr
			break
		}
		if !emit(evs) {
			break
		}
	}
	if ctx.Err() != nil {
		clientGone = true
	}
	res.usage, res.source = usage, gateway.UsageFromUpstream
	if !gotUsage || usage.OutputTokens == 0 && counter.Total() > 0 {
		est := estimateUsage(c.Body, nil)
		est.OutputTokens = counter.Total()
		if usage.InputTokens > 0 {
			est.InputTokens = usage.InputTokens
			est.CachedInputTokens = usage.CachedInputTokens
			est.CacheWriteTokens = usage.CacheWriteTokens
		}
		res.usage, res.source = est, gateway.UsageEstimated
	}
	var endErr *gateway.Error
	switch {
	case clientGone:
		t.a.rec.Status = 499
		t.a.rec.ErrorMessage = "client disconnected mid-stream"
	case upstreamErr != nil:
		msg := "the upstream reported an error mid-stream"
		if upstreamErr.Err != nil && upstreamErr.Err.Message != "" {
			msg = upstream.Redact(t.a.cand.Channel, upstreamErr.Err.Message)
		}
		endErr = &gateway.Error{Kind: gateway.KindUpstream, Message: msg}
		t.a.rec.Status = http.StatusBadGateway
		t.a.rec.ErrorMessage = msg
	case errors.Is(readErr, upstream.ErrMaxStreamDuration):
		// The operator's limit, not a broken channel.
		endErr = &gateway.Error{Kind: gateway.KindTimeout, Message: "the stream reached the maximum duration the gateway allows for this channel"}
		t.a.rec.Status = http.StatusGatewayTimeout
		t.a.rec.ErrorMessage = readErr.Error()
	case readErr != nil || stop == nil:
		endErr = &gateway.Error{Kind: gateway.KindUpstream, Message: "the upstream stream ended before the answer was complete"}
		t.a.rec.Status = http.StatusBadGateway
		t.a.rec.ErrorMessage = endErr.Message
		r.report(t.a, gateway.OutcomeFailure, 0, "stream cut")
	}
	r.finish(t.a, *res)
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
