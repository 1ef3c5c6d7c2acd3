package gemini

import (
	"bytes"
	"net/http"
	"sort"

	"github.com/tidwall/gjson"

	"switchboard/internal/gateway"
	"switchboard/internal/llm"
	"switchboard/internal/sse"
)

// maxChoices bounds the candidates a stream may address, so a hostile
// upstream cannot grow the decoder's state by sending huge indexes.
const maxChoices = 16

// maxToolArgs bounds the tool-call argument bytes the encoder buffers per
// stream while waiting for a call to complete.
const maxToolArgs = 8 << 20

type blockKind uint8

const (
	blockNone blockKind = iota
	blockText
	blockReasoning
	blockTool
	blockMedia
)

type choiceState struct {
	seen   bool
	next   int // index of the next content block
	cur    blockKind
	index  int // index of the open block
	called bool
	finish string
}

// StreamDecoder turns a Gemini stream (:streamGenerateContent?alt=sse, one
// GenerateContentResponse per data line, no terminator) into hub events.
// The relay always asks Gemini upstreams for alt=sse, so the JSON-array
// wire format never needs decoding.
//
// Gemini sends whole parts: text and thought deltas, complete functionCall
// parts (emitted as EventToolCallStart plus one EventToolCallDelta with the
// whole args JSON), inline media (EventMedia). usageMetadata is cumulative
// and repeated: EventUsage is emitted whenever it changes. The finishReason
// chunk normally carries the final usage and ends the stream with
// EventStop; if it does not, Stop waits for the next chunk with usage or
// for Finish. A part's thoughtSignature rides in Event.Signature: on the
// text or reasoning delta that carries it, on EventToolCallStart for a call.
type StreamDecoder struct {
	started  bool
	stopped  bool
	content  bool
	blocked  bool
	pending  bool // a finishReason arrived, Stop not yet emitted
	nextCall int
	usage    llm.Usage
	choices  [maxChoices]choiceState
	// Grounding seen so far; its chunk may carry no usage of its own.
	searches, grounded int64
}

// NewStreamDecoder returns a decoder for one upstream stream.
func NewStreamDecoder() *StreamDecoder { return &StreamDecoder{} }

// Decode handles one SSE event.
func (d *StreamDecoder) Decode(ev sse.Event) ([]llm.Event, error) {
	data := bytes.TrimSpace(ev.Data)
	if len(data) == 0 || string(data) == "[DONE]" {
		return nil, nil
	}
	if !gjson.ValidBytes(data) {
		return nil, &gateway.Error{Kind: gateway.KindUpstream, Message: "upstream sent a malformed Gemini stream chunk"}
	}
	r := gjson.ParseBytes(data)
	var out []llm.Event
	if r.IsArray() {
		for _, e := range r.Array() {
			out = d.chunk(out, e)
		}
		return out, nil
	}
	return d.chunk(out, r), nil
}

func (d *StreamDecoder) start(out []llm.Event, id, model string) []llm.Event {
	if d.started {
		return out
	}
	d.started = true
	return append(out, llm.Event{Type: llm.EventStart, ID: id, Model: model, Issuer: llm.Issuer{Provider: "gemini"}})
}

func (d *StreamDecoder) chunk(out []llm.Event, r gjson.Result) []llm.Event {
	if d.stopped || !r.IsObject() {
		return out
	}
	if e := r.Get("error"); e.IsObject() {
		d.stopped = true
		ge := ParseUpstreamError(int(e.Get("code").Int()), []byte(r.Raw))
		return append(out, llm.Event{Type: llm.EventError, Err: &llm.StreamError{
			Status: ge.HTTPStatus(), Type: ge.Type, Message: ge.Message,
		}})
	}
	var cands, usage, feedback gjson.Result
	var id, model string
	r.ForEach(func(k, v gjson.Result) bool {
		switch camel(k.Str) {
		case "candidates":
			cands = v
		case "usageMetadata":
			usage = v
		case "promptFeedback":
			feedback = v
		case "responseId":
			id = v.String()
		case "modelVersion":
			model = v.String()
		}
		return true
	})
	out = d.start(out, id, model)
	if q, g := groundingCounts(cands); g > 0 {
		d.searches, d.grounded = q, g
	}
	// Usage first: a chunk's prompt count is known before its content, and
	// an Anthropic client's message_start (written with the first content)
	// should carry it.
	if usage.IsObject() {
		u := UsageFromResult(usage)
		u.WebSearchRequests, u.GroundedPrompts = d.searches, d.grounded
		if u != d.usage {
			d.usage = u
			out = append(out, llm.Event{Type: llm.EventUsage, Usage: &u})
		}
	}
	for i, c := range cands.Array() {
		idx := i
		if x := c.Get("index"); x.Exists() {
			idx = int(x.Int())
		}
		if idx < 0 || idx >= maxChoices {
			continue
		}
		cs := &d.choices[idx]
		cs.seen = true
		for _, p := range c.Get("content.parts").Array() {
			out = d.part(out, idx, cs, parsePart(p))
		}
		if f := c.Get("finishReason"); f.Exists() && f.Str != "" {
			cs.finish = f.Str
			d.pending = true
		} else if f := c.Get("finish_reason"); f.Exists() && f.Str != "" {
			cs.finish = f.Str
			d.pending = true
		}
	}
	if !cands.Exists() && feedback.Get("blockReason").String() != "" {
		d.blocked, d.pending = true, true
	}
	if usage.IsObject() && d.pending {
		out = d.stop(out)
	}
	return out
}

// open starts a new block of kind k unless one is open already.
func (cs *choiceState) open(k blockKind) int {
	if cs.cur != k || k == blockTool || k == blockMedia {
		cs.cur = k
		cs.index = cs.next
		cs.next++
	}
	return cs.index
}

func (d *StreamDecoder) part(out []llm.Event, choice int, cs *choiceState, p wirePart) []llm.Event {
	switch {
	case p.call.Exists():
		name, id, args := functionCall(p.call)
		if id == "" {
			id = mintCallID(name, d.nextCall)
		}
		d.nextCall++
		cs.called = true
		d.content = true
		idx := cs.open(blockTool)
		return append(out,
			llm.Event{Type: llm.EventToolCallStart, Choice: choice, Index: idx, ToolCallID: id, ToolName: name, Signature: p.signature},
			llm.Event{Type: llm.EventToolCallDelta, Choice: choice, Index: idx, Text: string(args)})
	case p.inline.Exists() || p.file.Exists():
		mp := mediaPart(p.inline, true)
		if !p.inline.Exists() {
			mp = mediaPart(p.file, false)
		}
		d.content = true
		idx := cs.open(blockMedia)
		return append(out, llm.Event{Type: llm.EventMedia, Choice: choice, Index: idx, Part: &mp})
	case p.exec.Exists() || p.result.Exists():
		d.content = true
		idx := cs.open(blockText)
		return append(out, llm.Event{Type: llm.EventTextDelta, Choice: choice, Index: idx, Text: codeText(p)})
	case p.text.Str != "" || p.signature != "":
		d.content = true
		if p.thought {
			idx := cs.open(blockReasoning)
			return append(out, llm.Event{Type: llm.EventReasoningDelta, Choice: choice, Index: idx, Text: p.text.Str, Signature: p.signature})
		}
		idx := cs.open(blockText)
		return append(out, llm.Event{Type: llm.EventTextDelta, Choice: choice, Index: idx, Text: p.text.Str, Signature: p.signature})
	}
	return out
}

// stop emits one EventStop per candidate seen (one for a blocked prompt).
func (d *StreamDecoder) stop(out []llm.Event) []llm.Event {
	d.stopped, d.pending = true, false
	if d.blocked {
		return append(out, llm.Event{Type: llm.EventStop, StopReason: llm.StopContentFilter})
	}
	seen := false
	for i := range d.choices {
		cs := &d.choices[i]
		if !cs.seen {
			continue
		}
		seen = true
		out = append(out, llm.Event{Type: llm.EventStop, Choice: i, StopReason: stopReason(cs.finish, cs.called)})
	}
	if !seen {
		out = append(out, llm.Event{Type: llm.EventStop, StopReason: llm.StopEnd})
	}
	return out
}

// Finish is called at upstream EOF. A stream that produced content (or a
// finishReason) ends with Stop even if the last chunk was lost; one that
// produced nothing at all ends with EventError, since an empty answer
// would otherwise pass for a successful one.
func (d *StreamDecoder) Finish() ([]llm.Event, error) {
	if d.stopped {
		return nil, nil
	}
	if d.content || d.pending {
		out := d.start(nil, "", "")
		return d.stop(out), nil
	}
	d.stopped = true
	return []llm.Event{{Type: llm.EventError, Err: &llm.StreamError{
		Status: http.StatusBadGateway, Type: "upstream_error",
		Message: "upstream stream ended before any content",
	}}}, nil
}

// StreamOptions configures a StreamEncoder.
type StreamOptions struct {
	Model      string // modelVersion; the Start event's model when empty
	ResponseID string // responseId; the Start event's id when empty
	// SSE selects the alt=sse wire format (data: lines). Without it the
	// encoder writes streamGenerateContent's default: one JSON array,
	// streamed element by element.
	SSE bool
}

type callKey struct{ choice, index int }

type pendingCall struct {
	id, name, sig string
	args          []byte
}

// StreamEncoder writes hub events as a Gemini stream for a client. Text and
// reasoning deltas become one chunk each; tool calls are buffered (bounded)
// until their block completes, since Gemini sends whole functionCall parts;
// usage goes on the final chunk with finishReason. An EventError becomes a
// final {"error":{...}} chunk, after which the stream is closed.
type StreamEncoder struct {
	opts    StreamOptions
	model   string
	id      string
	issuer  llm.Issuer // EventStart's: who issued the stream's tokens
	wrote   bool       // array mode: the opening '[' is out
	closed  bool
	usage   *llm.Usage
	calls   map[callKey]*pendingCall
	order   []callKey
	argSize int
	frame   []byte
}

// NewStreamEncoder returns an encoder for one client stream.
func NewStreamEncoder(opts StreamOptions) *StreamEncoder {
	return &StreamEncoder{opts: opts, model: opts.Model, id: opts.ResponseID}
}

type outChunk struct {
	Candidates    []outCandidate `json:"candidates,omitempty"`
	UsageMetadata *outUsage      `json:"usageMetadata,omitempty"`
	ModelVersion  string         `json:"modelVersion,omitempty"`
	ResponseID    string         `json:"responseId,omitempty"`
}

// Encode writes the frames for one event.
func (e *StreamEncoder) Encode(w *sse.Writer, ev llm.Event) error {
	if e.closed {
		return nil
	}
	switch ev.Type {
	case llm.EventStart:
		if e.model == "" {
			e.model = ev.Model
		}
		if ev.ID != "" {
			e.id = ev.ID // the upstream's id; ResponseID stands in when there is none
		}
		e.issuer = ev.Issuer
	case llm.EventTextDelta, llm.EventReasoningDelta:
		if err := e.flushCalls(w, ev.Choice); err != nil {
			return err
		}
		if ev.Text == "" && ev.Signature == "" {
			return nil
		}
		kind := llm.TokenText
		if ev.Type == llm.EventReasoningDelta {
			kind = llm.TokenThinking
		}
		p := outPart{Text: ptr(ev.Text), ThoughtSignature: llm.ShowEventToken(e.issuer, kind, ev.Signature, "gemini"), Thought: ev.Type == llm.EventReasoningDelta}
		return e.writeParts(w, ev.Choice, []outPart{p}, "")
	case llm.EventRedactedReasoning:
		// Another provider's opaque thinking: an empty thought part that
		// carries it in an envelope, back to its issuer next turn.
		if err := e.flushCalls(w, ev.Choice); err != nil {
			return err
		}
		sig := llm.ShowEventToken(e.issuer, llm.TokenRedacted, ev.Data, "gemini")
		if sig == "" || sig == ev.Data {
			return nil // unknown issuer: a bare blob would read as Gemini's own
		}
		return e.writeParts(w, ev.Choice, []outPart{{Text: ptr(""), Thought: true, ThoughtSignature: sig}}, "")
	case llm.EventToolCallStart:
		if e.calls == nil {
			e.calls = make(map[callKey]*pendingCall)
		}
		k := callKey{ev.Choice, ev.Index}
		if _, ok := e.calls[k]; !ok {
			e.order = append(e.order, k)
		}
		e.calls[k] = &pendingCall{id: ev.ToolCallID, name: ev.ToolName, sig: llm.ShowEventToken(e.issuer, llm.TokenCall, ev.Signature, "gemini")}
	case llm.EventToolCallDelta:
		c := e.calls[callKey{ev.Choice, ev.Index}]
		if c == nil {
			return nil // a delta for a block never opened: nothing to attach it to
		}
		e.argSize += len(ev.Text)
		if e.argSize > maxToolArgs {
			return &gateway.Error{Kind: gateway.KindUpstream, Message: "tool call arguments exceed the gateway's stream buffer"}
		}
		c.args = append(c.args, ev.Text...)
		if ev.Signature != "" {
			c.sig = llm.ShowEventToken(e.issuer, llm.TokenCall, ev.Signature, "gemini")
		}
	case llm.EventMedia:
		if err := e.flushCalls(w, ev.Choice); err != nil {
			return err
		}
		if ev.Part == nil {
			return nil
		}
		parts, err := responsePartsOut([]llm.Part{*ev.Part}, e.issuer)
		if err != nil || len(parts) == 0 {
			return err
		}
		return e.writeParts(w, ev.Choice, parts, "")
	case llm.EventUsage:
		if ev.Usage != nil {
			u := *ev.Usage
			if e.usage != nil {
				u = e.usage.Merge(u)
			}
			e.usage = &u
		}
	case llm.EventStop:
		parts := e.takeCalls(ev.Choice)
		if len(parts) == 0 {
			parts = []outPart{{Text: ptr("")}}
		}
		return e.writeParts(w, ev.Choice, parts, finishReason(ev.StopReason))
	case llm.EventError:
		status, msg := http.StatusBadGateway, "upstream error"
		if ev.Err != nil {
			if ev.Err.Status != 0 {
				status = ev.Err.Status
			}
			if ev.Err.Message != "" {
				msg = ev.Err.Message
			}
		}
		name := statusNameForHTTP(status)
		if t := ev.Err; t != nil && isStatusName(t.Type) {
			name = t.Type
		}
		if err := e.write(w, errorFrame(status, msg, name)); err != nil {
			return err
		}
		return e.Close(w)
	}
	return nil
}

func isStatusName(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'A' && c <= 'Z' || c == '_') {
			return false
		}
	}
	return s != ""
}

// takeCalls removes the completed calls of a choice, in block order, as
// functionCall parts.
func (e *StreamEncoder) takeCalls(choice int) []outPart {
	if len(e.order) == 0 {
		return nil
	}
	sort.SliceStable(e.order, func(i, j int) bool { return e.order[i].index < e.order[j].index })
	var parts []outPart
	keep := e.order[:0]
	for _, k := range e.order {
		if k.choice != choice {
			keep = append(keep, k)
			continue
		}
		c := e.calls[k]
		delete(e.calls, k)
		e.argSize -= len(c.args)
		parts = append(parts, outPart{
			FunctionCall:     &outFunctionCall{ID: c.id, Name: c.name, Args: argsObject(c.args)},
			ThoughtSignature: c.sig,
		})
	}
	e.order = keep
	return parts
}

func (e *StreamEncoder) flushCalls(w *sse.Writer, choice int) error {
	parts := e.takeCalls(choice)
	if len(parts) == 0 {
		return nil
	}
	return e.writeParts(w, choice, parts, "")
}

func (e *StreamEncoder) writeParts(w *sse.Writer, choice int, parts []outPart, finish string) error {
	c := outChunk{
		Candidates: []outCandidate{{
			Content: &outContent{Role: "model", Parts: parts}, FinishReason: finish, Index: choice,
		}},
		ModelVersion: e.model,
		ResponseID:   e.id,
	}
	if finish != "" && e.usage != nil {
		c.UsageMetadata = usageOut(*e.usage)
	}
	b, err := marshal(c)
	if err != nil {
		return err
	}
	return e.write(w, b)
}

func (e *StreamEncoder) write(w *sse.Writer, b []byte) error {
	if e.opts.SSE {
		return w.WriteData(b)
	}
	e.frame = e.frame[:0]
	if e.wrote {
		e.frame = append(e.frame, "\r\n,"...)
	} else {
		e.frame = append(e.frame, '[')
		e.wrote = true
	}
	e.frame = append(e.frame, b...)
	return w.WriteRaw(e.frame)
}

// Close ends the stream: in JSON-array mode it writes the closing "]" (or
// "[]" for a stream that never had a chunk). It is safe to call twice.
func (e *StreamEncoder) Close(w *sse.Writer) error {
	if e.closed {
		return nil
	}
	e.closed = true
	if e.opts.SSE {
		return nil
	}
	if !e.wrote {
		return w.WriteRaw([]byte("[]"))
	}
	return w.WriteRaw([]byte("]"))
}
