package relay

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"switchboard/internal/gateway"
	"switchboard/internal/jsonguard"
	"switchboard/internal/llm"
	"switchboard/internal/sse"
	"switchboard/internal/tokencount"
	"switchboard/internal/upstream"
)

// passThrough relays bytes in the client's own format: the body is not
// decoded, a mapped model name and the usage request are spliced in, and
// the answer is copied event by event while usage is sniffed from it.
type passThrough struct {
	relay *Relay
	a     *attempt
	// injectedUsage: the client did not ask for OpenAI stream usage but the
	// gateway did, so the usage-only chunk must not reach the client.
	injectedUsage bool
}

func (p *passThrough) passThrough() bool { return true }

func (p *passThrough) requestBody(context.Context) ([]byte, *gateway.Error) {
	c := p.a.call
	body := c.Body
	var err error
	switch c.Format {
	case upstream.FormatOpenAI, upstream.FormatAnthropic:
		if up := p.a.cand.UpstreamModel; up != c.Model {
			if body, err = sjson.SetBytes(body, "model", up); err != nil {
				return nil, &gateway.Error{Kind: gateway.KindInvalidRequest, Message: "cannot set the model in the request body", Err: err}
			}
		}
	}
	if c.Format == upstream.FormatOpenAI && c.Stream && !c.IncludeUsage {
		// Ask for usage to meter the call; the extra chunk is stripped.
		if body, err = sjson.SetBytes(body, "stream_options.include_usage", true); err != nil {
			return nil, &gateway.Error{Kind: gateway.KindInvalidRequest, Message: "cannot set stream_options in the request body", Err: err}
		}
		p.injectedUsage = true
	}
	return body, nil
}

func (p *passThrough) upstreamError(status int, body []byte) *gateway.Error {
	return wireOf(p.a.call.Format).upstreamError(status, body)
}

// copyHeaders forwards the upstream's content type only: other upstream
// headers describe the gateway's account (rate limits, organisation ids),
// not the caller's key.
func copyHeaders(dst http.Header, resp *http.Response, stream bool) {
	ct := resp.Header.Get("Content-Type")
	if ct == "" {
		ct = "application/json"
		if stream {
			ct = "text/event-stream"
		}
	}
	dst.Set("Content-Type", ct)
}

func (p *passThrough) complete(ctx context.Context, w http.ResponseWriter, resp *http.Response, res *result) *gateway.Error {
	r := p.relay
	body, err := readLimited(resp, r.maxResponseBytes())
	if err != nil {
		return p.failBeforeStart(res, err)
	}
	if upstreamJSON.Check(body) != nil {
		// A 200 that is not JSON is a broken upstream, not an answer.
		r.report(p.a, gateway.OutcomeFailure, 0, "upstream answer is not JSON")
		return &gateway.Error{Kind: gateway.KindUpstream, Message: "the upstream answer could not be understood"}
	}
	res.ttft = time.Since(p.a.call.Start)
	if u, ok := wireOf(p.a.call.Format).parseUsage(body); ok && !u.IsZero() {
		res.usage, res.source = u, gateway.UsageFromUpstream
	} else {
		res.usage, res.source = estimateUsage(p.a.call.Body, responseText(p.a.call.Format, body)), gateway.UsageEstimated
	}
	res.started = true
	r.finish(p.a, *res)
	copyHeaders(w.Header(), resp, false)
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
	return nil
}

func (r *Relay) maxResponseBytes() int64 {
	if r.MaxResponseBytes > 0 {
		return r.MaxResponseBytes
	}
	return 32 << 20
}

// failBeforeStart turns a read failure of a not-yet-started answer into an
// error the caller gets in its own shape.
func (p *passThrough) failBeforeStart(res *result, err error) *gateway.Error {
	p.relay.report(p.a, gateway.OutcomeFailure, 0, "upstream answer could not be read")
	if err == errTooLarge {
		return &gateway.Error{Kind: gateway.KindUpstream, Message: "the upstream answer exceeds the gateway's size limit", Err: err}
	}
	return &gateway.Error{Kind: gateway.KindUpstream, Message: "the upstream connection failed while reading the answer", Err: err}
}

// firstEvent reads a stream's first data event before anything is sent to
// the client, so an upstream that answers 200 and then fails at once (an
// empty or garbage body, or an error event first) can still fail over.
// Comment-only events before it (keep-alives) are dropped.
func firstEvent(rd *sse.Reader, format string) (sse.Event, *gateway.Error) {
	for {
		ev, err := rd.Next()
		if err != nil {
			return sse.Event{}, &gateway.Error{Kind: gateway.KindUpstream, Message: "the upstream stream ended before its first event", Err: err}
		}
		if ev.Data == nil {
			continue
		}
		if string(ev.Event) == "error" || (format != upstream.FormatAnthropic && gjson.GetBytes(ev.Data, "error").IsObject()) {
			status := int(gjson.GetBytes(ev.Data, "error.code").Int())
			if status < 400 || status > 599 {
				status = http.StatusBadGateway
			}
			e := wireOf(format).upstreamError(status, ev.Data)
			e.Kind = gateway.KindUpstream
			return sse.Event{}, e
		}
		return ev, nil
	}
}

func (p *passThrough) stream(ctx context.Context, w http.ResponseWriter, resp *http.Response, res *result, idle *time.Timer, timeout time.Duration) *gateway.Error {
	c := p.a.call
	r := p.relay
	wr := wireOf(c.Format)
	rd := sse.NewReader(resp.Body, 0)
	defer rd.Release()
	pending, gerr := firstEvent(rd, c.Format)
	if gerr != nil {
		r.report(p.a, gateway.OutcomeFailure, 0, "upstream stream failed before its first event")
		return upstream.RedactError(p.a.cand.Channel, gerr)
	}
	copyHeaders(w.Header(), resp, true)
	h := w.Header()
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	if c.Format == upstream.FormatGemini && !c.GeminiSSE {
		h.Set("Content-Type", "application/json")
	}
	w.WriteHeader(http.StatusOK)
	res.started = true
	sw := sse.NewWriter(w)
	havePending := true
	var counter tokencount.Stream
	var usage llm.Usage
	gotUsage := false
	var terminal []byte
	geminiArray := c.Format == upstream.FormatGemini && !c.GeminiSSE
	first := true
	var streamErr error
	clientGone := false

	for {
		var ev sse.Event
		if havePending {
			ev, havePending = pending, false
		} else {
			var err error
			if ev, err = rd.Next(); err != nil {
				if err != io.EOF {
					streamErr = err
				}
				break
			}
		}
		idle.Reset(timeout)
		data := ev.Data
		if data == nil {
			if !geminiArray {
				if err := sw.WriteRaw(ev.Raw); err != nil {
					clientGone = true
					break
				}
			}
			continue
		}
		if u, ok := wr.streamUsage(ev); ok {
			usage = usage.Merge(u)
			gotUsage = true
		}
		if c.Format == upstream.FormatOpenAI {
			if bytes.Equal(data, doneMarker) {
				terminal = ev.Raw
				break
			}
			if p.injectedUsage && isUsageOnlyChunk(data) {
				continue
			}
		}
		if wr.terminal(ev) {
			terminal = ev.Raw
			break
		}
		if string(ev.Event) == "error" || bytes.Contains(data, errorKey) {
			// Relayed verbatim otherwise: an upstream's error text must
			// not carry the channel's key or URL to the client.
			ev.Raw = []byte(upstream.Redact(p.a.cand.Channel, string(ev.Raw)))
			data = []byte(upstream.Redact(p.a.cand.Channel, string(data)))
		}
		if wr.streamText(data, &counter) && res.ttft == 0 {
			res.ttft = time.Since(c.Start)
		}
		var werr error
		if geminiArray {
			werr = writeArrayChunk(sw, data, first)
		} else if !first && rd.EventBuffered() {
			// More events are already here: send them in one flush. Never
			// the first one, though: the caller's time to first token
			// should not wait on the processing of everything behind it.
			werr = sw.WriteRawNoFlush(ev.Raw)
		} else {
			werr = sw.WriteRaw(ev.Raw)
		}
		first = false
		if werr != nil {
			clientGone = true
			break
		}
	}
	if ctx.Err() != nil {
		clientGone = true
	}
	res.usage, res.source = usage, gateway.UsageFromUpstream
	if !gotUsage || usage.OutputTokens == 0 && counter.Total() > 0 {
		// The upstream reported nothing (or the client left before the usage
		// event): bill what was produced, counted with the tokenizer.
		est := estimateUsage(c.Body, nil)
		est.OutputTokens = counter.Total()
		if gotUsage && usage.InputTokens > 0 {
			est.InputTokens = usage.InputTokens
			est.CachedInputTokens = usage.CachedInputTokens
			est.CacheWriteTokens = usage.CacheWriteTokens
		}
		res.usage, res.source = est, gateway.UsageEstimated
	}
	switch {
	case clientGone:
		p.a.rec.Status = 499
		p.a.rec.ErrorMessage = "client disconnected mid-stream"
	case errors.Is(streamErr, upstream.ErrMaxStreamDuration):
		// The operator's limit, not a broken channel.
		p.a.rec.Status = http.StatusGatewayTimeout
		p.a.rec.ErrorMessage = streamErr.Error()
	case streamErr != nil || (terminal == nil && wr.needsTerminal):
		p.a.rec.Status = http.StatusBadGateway
		p.a.rec.ErrorMessage = "upstream stream ended abnormally"
		r.report(p.a, gateway.OutcomeFailure, 0, "stream cut")
	}
	r.finish(p.a, *res)
	if clientGone {
		return nil
	}
	if p.a.rec.Status == http.StatusBadGateway || p.a.rec.Status == http.StatusGatewayTimeout {
		e := &gateway.Error{Kind: gateway.KindUpstream, Message: "the upstream stream ended before the answer was complete"}
		if p.a.rec.Status == http.StatusGatewayTimeout {
			e = &gateway.Error{Kind: gateway.KindTimeout, Message: "the stream reached the maximum duration the gateway allows for this channel"}
		}
		if geminiArray {
			_ = writeArrayChunk(sw, wireErrorBody(c.Format, e, c.RequestID), first)
			_ = sw.WriteRaw([]byte("]"))
			return nil
		}
		wr.streamError(sw, e, c.RequestID)
		return nil
	}
	switch {
	case terminal != nil:
		_ = sw.WriteRaw(terminal)
	case geminiArray:
		if first {
			_ = sw.WriteRaw([]byte("["))
		}
		_ = sw.WriteRaw([]byte("]"))
	}
	return nil
}

var (
	doneMarker = []byte("[DONE]")
	errorKey   = []byte(`"error"`)
)

// upstreamJSON vets upstream answers before gjson.ValidBytes or a format
// decoder (both recursive) sees them: a hostile upstream's nesting must not
// overflow the stack. Deeper than any real answer, shallow enough for
// recursion.
var upstreamJSON = jsonguard.New(jsonguard.Options{MaxDepth: jsonguard.MaxDepthLimit})

// isUsageOnlyChunk reports an OpenAI chunk with an empty choices array.
func isUsageOnlyChunk(data []byte) bool {
	ch := gjson.GetBytes(data, "choices")
	return ch.IsArray() && len(ch.Raw) <= 4 && bytes.IndexByte([]byte(ch.Raw), '{') < 0
}

// writeArrayChunk frames one Gemini chunk of the JSON-array stream.
func writeArrayChunk(sw *sse.Writer, data []byte, first bool) error {
	var prefix []byte
	if first {
		prefix = []byte("[")
	} else {
		prefix = []byte(",\r\n")
	}
	buf := make([]byte, 0, len(prefix)+len(data))
	buf = append(append(buf, prefix...), data...)
	return sw.WriteRaw(buf)
}

var errTooLarge = &sizeError{}

type sizeError struct{}

func (*sizeError) Error() string { return "response too large" }

// readLimited reads a whole answer of at most limit bytes. A declared
// length over the limit is refused before reading; a declared length is
// read into one exact allocation. An undeclared one is read in fixed-size
// chunks and joined once at the end: growing one slice by append leaves a
// trail of discarded copies several times the answer's size for the
// collector, whereas chunks cost the answer once (twice while joining) and
// an oversized answer never more than the limit.
func readLimited(resp *http.Response, limit int64) ([]byte, error) {
	if resp.ContentLength > limit {
		return nil, errTooLarge
	}
	if resp.ContentLength >= 0 {
		b := make([]byte, resp.ContentLength)
		if _, err := io.ReadFull(resp.Body, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	const chunkSize = 256 << 10
	var (
		chunks [][]byte
		total  int64
	)
	// The first chunk is small: most answers are a few KiB.
	chunk := make([]byte, 0, 16<<10)
	for {
		if len(chunk) == cap(chunk) {
			chunks = append(chunks, chunk)
			chunk = make([]byte, 0, chunkSize)
		}
		n, err := resp.Body.Read(chunk[len(chunk):cap(chunk)])
		chunk = chunk[:len(chunk)+n]
		total += int64(n)
		if total > limit {
			return nil, errTooLarge
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if len(chunks) == 0 {
		return chunk, nil
	}
	b := make([]byte, 0, total)
	for _, c := range chunks {
		b = append(b, c...)
	}
	return append(b, chunk...), nil
}

// estimateUsage counts the prompt's text (and an answer's, when given) with
// the tokenizer. Only used when the upstream reported no usage.
func estimateUsage(reqBody []byte, answer []string) llm.Usage {
	u := llm.Usage{InputTokens: tokencount.RequestTokens(reqBody)}
	for _, s := range answer {
		u.OutputTokens += int64(tokencount.Count(s))
	}
	return u
}

// responseText extracts the generated text of a non-streaming answer.
func responseText(format string, body []byte) []string {
	var paths []string
	switch format {
	case upstream.FormatOpenAI:
		paths = []string{"choices.#.message.content", "choices.#.message.reasoning_content", "choices.#.message.tool_calls.#.function.arguments"}
	case upstream.FormatAnthropic:
		paths = []string{"content.#.text", "content.#.thinking"}
	case upstream.FormatGemini:
		paths = []string{"candidates.#.content.parts.#.text"}
	}
	var out []string
	for _, p := range paths {
		collectStrings(gjson.GetBytes(body, p), &out)
	}
	return out
}

func collectStrings(v gjson.Result, out *[]string) {
	if v.IsArray() {
		v.ForEach(func(_, c gjson.Result) bool { collectStrings(c, out); return true })
		return
	}
	if v.Type == gjson.String && v.Str != "" {
		*out = append(*out, v.Str)
	}
}
