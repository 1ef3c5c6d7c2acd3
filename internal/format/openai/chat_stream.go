package openai

import (
	"bytes"
	"strconv"

	"github.com/tidwall/gjson"

	"switchboard/internal/gateway"
	"switchboard/internal/llm"
	"switchboard/internal/sse"
)

// Bounds on what one stream may make the decoder hold, so a hostile or
// broken upstream cannot grow memory without limit.
const (
	maxStreamChoices  = 128     // OpenAI's own cap on n
	maxStreamTools    = 1024    // tool calls per choice
	maxPendingToolArg = 1 << 20 // argument bytes buffered before a call's name arrives
)

type blockKind uint8

const (
	blockNone blockKind = iota
	blockText
	blockReasoning
	blockAudio
	blockImage
)

// decChoice is the decoder's state for one choice.
type decChoice struct {
	seen     bool
	next     int       // next block index
	open     int       // block index of the open text/reasoning/audio block
	openKind blockKind // blockNone when no such block is open
	tools    []decTool
	finish   string
	finished bool
	refusal  bool
	stopSeq  string
}

// decTool maps one OpenAI tool_calls[].index to its hub block.
type decTool struct {
	wire    int // OpenAI's tool index
	block   int // -1 until the call has a name
	id      string
	name    string
	pending []byte // arguments that arrived before the name
}

// StreamDecoder turns an upstream Chat Completions SSE stream into hub
// events. It holds the finish_reason until [DONE] (or EOF) because the
// usage chunk follows it, then emits Usage and Stop in canonical order.
// Every index it trusts from the wire is bounded.
type StreamDecoder struct {
	started bool
	done    bool // [DONE], an error chunk, or Finish
	choices []decChoice
	usage   llm.Usage
	hasUse  bool
	id      string
	model   string
}

// NewStreamDecoder returns a decoder for one stream.
func NewStreamDecoder() *StreamDecoder { return &StreamDecoder{} }

var doneMarker = []byte("[DONE]")

// Decode consumes one SSE event. Comments and empty events yield nothing;
// anything after [DONE] or an error chunk is ignored.
func (d *StreamDecoder) Decode(ev sse.Event) ([]llm.Event, error) {
	if d.done {
		return nil, nil
	}
	data := bytes.TrimSpace(ev.Data)
	if len(data) == 0 {
		return nil, nil
	}
	if bytes.Equal(data, doneMarker) {
		d.done = true
		return d.flush(nil), nil
	}
	if !gjson.ValidBytes(data) {
		return nil, upstreamInvalid("upstream sent an invalid stream chunk")
	}
	chunk := gjson.ParseBytes(data)
	if !chunk.IsObject() {
		return nil, upstreamInvalid("upstream sent an invalid stream chunk")
	}
	// One pass over the chunk's keys: a Get per field would rescan the
	// whole chunk for each, which showed as half of a translated stream's
	// cost. The first of duplicate keys wins, as with Get.
	var f chunkFields
	f.collect(chunk)
	var out []llm.Event
	if e := f.err; e.Exists() && e.Type != gjson.Null {
		d.done = true
		if d.hasUse {
			out = d.startIfNeeded(out)
			u := d.usage
			out = append(out, llm.Event{Type: llm.EventUsage, Usage: &u})
		}
		return append(out, llm.Event{Type: llm.EventError, Err: streamErrorFrom(e)}), nil
	}
	if !d.started {
		d.id, d.model = f.id.String(), f.model.String()
	}
	if u := f.usage; u.IsObject() {
		d.usage = d.usage.Merge(UsageFromResult(u))
		d.hasUse = !d.usage.IsZero() || d.hasUse
	}
	var err error
	f.choices.ForEach(func(_, c gjson.Result) bool {
		out, err = d.decodeChoice(out, c)
		return err == nil
	})
	return out, err
}

// collectFirst reads obj's members in one pass, storing each into the
// field pick returns for its key (nil: not wanted). The first of
// duplicate keys wins, as with gjson's Get.
func collectFirst(obj gjson.Result, pick func(key string) *gjson.Result) {
	obj.ForEach(func(k, v gjson.Result) bool {
		if dst := pick(k.Str); dst != nil && !dst.Exists() {
			*dst = v
		}
		return true
	})
}

// chunkFields are the top-level members of a stream chunk the decoder reads.
type chunkFields struct {
	err, id, model, usage, choices gjson.Result
}

func (f *chunkFields) collect(chunk gjson.Result) {
	collectFirst(chunk, func(key string) *gjson.Result {
		switch key {
		case "error":
			return &f.err
		case "id":
			return &f.id
		case "model":
			return &f.model
		case "usage":
			return &f.usage
		case "choices":
			return &f.choices
		}
		return nil
	})
}

// choiceFields are the members of one streamed choice and of its delta.
type choiceFields struct {
	index, delta, finishReason, stopReason                                  gjson.Result
	reasoningContent, reasoning, content, refusal, audio, images, toolCalls gjson.Result
}

func (f *choiceFields) collect(c gjson.Result) {
	collectFirst(c, func(key string) *gjson.Result {
		switch key {
		case "index":
			return &f.index
		case "delta":
			return &f.delta
		case "finish_reason":
			return &f.finishReason
		case "stop_reason":
			return &f.stopReason
		}
		return nil
	})
	collectFirst(f.delta, func(key string) *gjson.Result {
		switch key {
		case "reasoning_content":
			return &f.reasoningContent
		case "reasoning":
			return &f.reasoning
		case "content":
			return &f.content
		case "refusal":
			return &f.refusal
		case "audio":
			return &f.audio
		case "images":
			return &f.images
		case "tool_calls":
			return &f.toolCalls
		}
		return nil
	})
}

func (d *StreamDecoder) startIfNeeded(out []llm.Event) []llm.Event {
	if d.started {
		return out
	}
	d.started = true
	return append(out, llm.Event{Type: llm.EventStart, ID: d.id, Model: d.model, Issuer: llm.Issuer{Provider: SourceFormat}})
}

func (d *StreamDecoder) choice(i int64) (*decChoice, error) {
	if i < 0 || i >= maxStreamChoices {
		return nil, upstreamInvalid("upstream sent a stream chunk with choice index %d", i)
	}
	for int(i) >= len(d.choices) {
		d.choices = append(d.choices, decChoice{})
	}
	c := &d.choices[i]
	c.seen = true
	return c, nil
}

func (d *StreamDecoder) decodeChoice(out []llm.Event, c gjson.Result) ([]llm.Event, error) {
	var f choiceFields
	f.collect(c)
	ci := f.index.Int()
	st, err := d.choice(ci)
	if err != nil {
		return out, err
	}
	choice := int(ci)
	out = d.startIfNeeded(out)
	if r := f.reasoningContent; r.Type == gjson.String && r.Str != "" {
		out = st.textual(out, choice, blockReasoning, llm.EventReasoningDelta, r.Str)
	} else if r := f.reasoning; r.Type == gjson.String && r.Str != "" {
		out = st.textual(out, choice, blockReasoning, llm.EventReasoningDelta, r.Str)
	}
	if t := f.content; t.Type == gjson.String && t.Str != "" {
		out = st.textual(out, choice, blockText, llm.EventTextDelta, t.Str)
	}
	if t := f.refusal; t.Type == gjson.String && t.Str != "" {
		st.refusal = true
		out = st.textual(out, choice, blockText, llm.EventTextDelta, t.Str)
	}
	if a := f.audio; a.IsObject() {
		p := &llm.Part{Type: llm.PartAudio, Signature: a.Get("id").String(),
			Data: a.Get("data").String(), Text: a.Get("transcript").String()}
		out = append(out, llm.Event{Type: llm.EventMedia, Choice: choice, Index: st.block(blockAudio), Part: p})
	}
	f.images.ForEach(func(_, im gjson.Result) bool {
		if url := im.Get("image_url.url").String(); url != "" {
			p := imagePart(url)
			st.openKind = blockNone // every image is a block of its own
			out = append(out, llm.Event{Type: llm.EventMedia, Choice: choice, Index: st.block(blockImage), Part: &p})
		}
		return true
	})
	if tcs := f.toolCalls; tcs.IsArray() {
		var err error
		tcs.ForEach(func(_, tc gjson.Result) bool {
			out, err = st.toolDelta(out, choice, tc)
			return err == nil
		})
		if err != nil {
			return out, err
		}
	}
	if fr := f.finishReason; fr.Type == gjson.String && fr.Str != "" {
		st.finish, st.finished = fr.Str, true
		if sr := f.stopReason; sr.Type == gjson.String {
			st.stopSeq = sr.Str
		}
		// Calls that never got a name still owe their arguments: flush them
		// under a minted name rather than drop what the model produced.
		for i := range st.tools {
			if st.tools[i].block < 0 {
				out = st.startTool(out, choice, &st.tools[i])
			}
		}
	}
	return out, nil
}

// block returns the index of the open block of kind k, opening one if needed.
func (st *decChoice) block(k blockKind) int {
	if st.openKind != k {
		st.open, st.openKind = st.next, k
		st.next++
	}
	return st.open
}

func (st *decChoice) textual(out []llm.Event, choice int, k blockKind, t llm.EventType, text string) []llm.Event {
	return append(out, llm.Event{Type: t, Choice: choice, Index: st.block(k), Text: text})
}

func (st *decChoice) toolDelta(out []llm.Event, choice int, tc gjson.Result) ([]llm.Event, error) {
	id := tc.Get("id").String()
	fn := tc.Get("function")
	name := fn.Get("name").String()
	args := fn.Get("arguments").String()
	var t *decTool
	if w := tc.Get("index"); w.Type == gjson.Number {
		wire := w.Int()
		if wire < 0 || wire >= maxStreamTools {
			return out, upstreamInvalid("upstream sent a tool call with index %d", wire)
		}
		t = st.tool(int(wire))
	} else {
		// Some compatible servers omit index and send each call whole: a
		// new id is a new call, no id continues the last one.
		switch {
		case id != "" && (len(st.tools) == 0 || st.tools[len(st.tools)-1].id != id):
			t = st.tool(len(st.tools))
		case len(st.tools) > 0:
			t = &st.tools[len(st.tools)-1]
		default:
			t = st.tool(0)
		}
	}
	if t == nil {
		return out, upstreamInvalid("upstream sent too many tool calls")
	}
	if t.block < 0 {
		if id != "" {
			t.id = id
		}
		if name != "" {
			t.name = name
		}
		if t.name == "" {
			if len(t.pending)+len(args) > maxPendingToolArg {
				return out, upstreamInvalid("upstream sent tool call arguments without a tool name")
			}
			t.pending = append(t.pending, args...)
			return out, nil
		}
		out = st.startTool(out, choice, t)
	}
	if args != "" {
		out = append(out, llm.Event{Type: llm.EventToolCallDelta, Choice: choice, Index: t.block, Text: args})
	}
	return out, nil
}

// tool finds or adds the state of OpenAI tool index wire.
func (st *decChoice) tool(wire int) *decTool {
	for i := range st.tools {
		if st.tools[i].wire == wire {
			return &st.tools[i]
		}
	}
	if len(st.tools) >= maxStreamTools {
		return nil
	}
	st.tools = append(st.tools, decTool{wire: wire, block: -1})
	return &st.tools[len(st.tools)-1]
}

func (st *decChoice) startTool(out []llm.Event, choice int, t *decTool) []llm.Event {
	t.block = st.next
	st.next++
	st.openKind = blockNone
	if t.id == "" {
		t.id = "call_" + strconv.Itoa(choice) + "_" + strconv.Itoa(t.wire)
	}
	out = append(out, llm.Event{Type: llm.EventToolCallStart, Choice: choice, Index: t.block, ToolCallID: t.id, ToolName: t.name})
	if len(t.pending) > 0 {
		out = append(out, llm.Event{Type: llm.EventToolCallDelta, Choice: choice, Index: t.block, Text: string(t.pending)})
		t.pending = nil
	}
	return out
}

// flush emits what is held back at the end of a stream: Usage, then one
// Stop per choice (a stream without choices still ends with one Stop).
func (d *StreamDecoder) flush(out []llm.Event) []llm.Event {
	out = d.startIfNeeded(out)
	if d.hasUse {
		u := d.usage
		out = append(out, llm.Event{Type: llm.EventUsage, Usage: &u})
	}
	stops := 0
	for i := range d.choices {
		st := &d.choices[i]
		if !st.seen {
			continue
		}
		ev := llm.Event{Type: llm.EventStop, Choice: i, StopReason: stopFromFinish(st.finish, st.refusal)}
		if st.finish == "stop" && st.stopSeq != "" {
			ev.StopReason, ev.StopSequence = llm.StopSequence, st.stopSeq
		}
		out = append(out, ev)
		stops++
	}
	if stops == 0 {
		out = append(out, llm.Event{Type: llm.EventStop, StopReason: llm.StopEnd})
	}
	return out
}

// Finish is called at upstream EOF. A stream that ended without [DONE] but
// after a finish_reason is complete (several compatible servers omit
// [DONE]): its held Usage and Stop are emitted. A stream cut before any
// finish_reason is truncated: Finish returns the usage seen so far (for
// billing) together with a KindUpstream error the caller renders as the
// stream's error event.
func (d *StreamDecoder) Finish() ([]llm.Event, error) {
	if d.done {
		return nil, nil
	}
	d.done = true
	finished := false
	for i := range d.choices {
		if d.choices[i].finished {
			finished = true
		}
	}
	if finished {
		return d.flush(nil), nil
	}
	var out []llm.Event
	if d.hasUse {
		out = d.startIfNeeded(out)
		u := d.usage
		out = append(out, llm.Event{Type: llm.EventUsage, Usage: &u})
	}
	return out, gateway.Errorf(gateway.KindUpstream, "upstream stream ended before the answer was complete")
}

// streamErrorFrom reads an in-stream error object. OpenRouter and others
// put the HTTP status in a numeric code; otherwise the stream failed after
// its 200, which clients see as a bad gateway.
func streamErrorFrom(e gjson.Result) *llm.StreamError {
	se := &llm.StreamError{Status: 502, Type: "upstream_error", Message: "upstream reported an error"}
	if !e.IsObject() {
		if e.Type == gjson.String && e.Str != "" {
			se.Message = e.Str
		}
		return se
	}
	if m := e.Get("message"); m.Type == gjson.String && m.Str != "" {
		se.Message = m.Str
	}
	if t := e.Get("type"); t.Type == gjson.String && t.Str != "" {
		se.Type = t.Str
	}
	code := e.Get("code")
	if code.Type == gjson.String {
		code = gjson.Result{Type: gjson.Number, Num: float64(atoiOrZero(code.Str))}
	}
	if code.Type == gjson.Number && code.Num >= 400 && code.Num < 600 {
		se.Status = int(code.Num)
	}
	return se
}

func atoiOrZero(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0
	}
	return n
}

// StreamOptions configures a StreamEncoder. Created is the chunk timestamp
// (the codec has no clock). ID stands in when the Start event has none
// (the upstream's id is shown, as in non-stream answers); Model, when set,
// is shown instead of the Start event's.
// IncludeUsage sends the final usage chunk (choices: []) — only to clients
// that asked for it with stream_options.include_usage, since many index
// choices[0] of every chunk.
type StreamOptions struct {
	ID           string
	Model        string
	Created      int64
	IncludeUsage bool
}

// encChoice is the encoder's state for one choice.
type encChoice struct {
	roleSent bool
	tools    map[int]int // hub block index → OpenAI tool index
	nextTool int
}

// StreamEncoder turns hub events into a Chat Completions SSE stream:
// a role chunk first, content and tool-call deltas, a finish_reason chunk
// per choice, the usage chunk when asked for, and [DONE] at Close.
//
// An EventError is written as one `data: {"error":{...}}` chunk and the
// stream then ends without [DONE]: the official SDKs (openai-go's
// ssestream, openai-python) raise any chunk that has an "error" key as an
// error, whereas [DONE] after it would read as a clean end.
type StreamEncoder struct {
	opts    StreamOptions
	prefix  []byte // `{"id":…,"object":"chat.completion.chunk","created":…,"model":…,"choices":[`
	choices []encChoice
	usage   *llm.Usage
	closed  bool // [DONE] or an error chunk was written
	buf     []byte
}

// NewStreamEncoder returns an encoder for one client stream.
func NewStreamEncoder(opts StreamOptions) *StreamEncoder {
	return &StreamEncoder{opts: opts}
}

func (e *StreamEncoder) choice(i int) (*encChoice, error) {
	if i < 0 || i >= maxStreamChoices {
		return nil, gateway.Errorf(gateway.KindInternal, "stream event for choice %d out of range", i)
	}
	for i >= len(e.choices) {
		e.choices = append(e.choices, encChoice{})
	}
	return &e.choices[i], nil
}

// Encode writes the frames for one event.
func (e *StreamEncoder) Encode(w *sse.Writer, ev llm.Event) error {
	if e.closed {
		return nil
	}
	switch ev.Type {
	case llm.EventStart:
		if ev.ID != "" {
			e.opts.ID = ev.ID
		}
		if e.opts.Model == "" {
			e.opts.Model = ev.Model
		}
		return e.ensureRole(w, 0)
	case llm.EventUsage:
		if ev.Usage != nil {
			u := *ev.Usage
			if e.usage != nil {
				u = e.usage.Merge(u)
			}
			e.usage = &u
		}
		return nil
	case llm.EventError:
		// A client that asked for usage still gets what was used before
		// the failure; the error chunk is the stream's last frame.
		if err := e.writeUsage(w); err != nil {
			return err
		}
		e.closed = true
		e.buf = errorChunk(e.buf[:0], ev.Err)
		return w.WriteData(e.buf)
	}
	st, err := e.choice(ev.Choice)
	if err != nil {
		return err
	}
	if err := e.ensureRole(w, ev.Choice); err != nil {
		return err
	}
	b := e.open(ev.Choice)
	switch ev.Type {
	case llm.EventTextDelta:
		if ev.Text == "" {
			return nil
		}
		b = append(b, `"content":`...)
		b = appendString(b, ev.Text)
	case llm.EventReasoningDelta:
		if ev.Text == "" {
			return nil // a lone signature has no Chat Completions slot
		}
		b = append(b, `"reasoning_content":`...)
		b = appendString(b, ev.Text)
	case llm.EventRedactedReasoning:
		return nil
	case llm.EventToolCallStart:
		ti := st.toolIndex(ev.Index)
		b = append(b, `"tool_calls":[{"index":`...)
		b = strconv.AppendInt(b, int64(ti), 10)
		b = append(b, `,"id":`...)
		b = appendString(b, ev.ToolCallID)
		b = append(b, `,"type":"function","function":{"name":`...)
		b = appendString(b, ev.ToolName)
		b = append(b, `,"arguments":""}}]`...)
	case llm.EventToolCallDelta:
		if ev.Text == "" {
			return nil
		}
		ti := st.toolIndex(ev.Index)
		b = append(b, `"tool_calls":[{"index":`...)
		b = strconv.AppendInt(b, int64(ti), 10)
		b = append(b, `,"function":{"arguments":`...)
		b = appendString(b, ev.Text)
		b = append(b, `}}]`...)
	case llm.EventMedia:
		if ev.Part == nil {
			return nil
		}
		switch ev.Part.Type {
		case llm.PartAudio:
			b = append(b, `"audio":{"id":`...)
			b = appendString(b, ev.Part.Signature)
			if ev.Part.Data != "" {
				b = append(b, `,"data":`...)
				b = appendString(b, ev.Part.Data)
			}
			if ev.Part.Text != "" {
				b = append(b, `,"transcript":`...)
				b = appendString(b, ev.Part.Text)
			}
			b = append(b, '}')
		case llm.PartImage:
			url := ev.Part.URL
			if ev.Part.Data != "" {
				url = dataURI(ev.Part.MediaType, ev.Part.Data)
			}
			b = append(b, `"images":[{"type":"image_url","image_url":{"url":`...)
			b = appendString(b, url)
			b = append(b, `}}]`...)
		default:
			return nil
		}
	case llm.EventStop:
		b = append(b, `},"finish_reason":"`...)
		b = append(b, finishFromStop(ev.StopReason)...)
		b = append(b, `"}]}`...)
		e.buf = b
		return w.WriteData(b)
	default:
		return nil
	}
	b = append(b, `},"finish_reason":null}]}`...)
	e.buf = b
	return w.WriteData(b)
}

func (st *encChoice) toolIndex(block int) int {
	if st.tools == nil {
		st.tools = make(map[int]int)
	}
	ti, ok := st.tools[block]
	if !ok {
		ti = st.nextTool
		st.tools[block] = ti
		st.nextTool++
	}
	return ti
}

// open starts a chunk for choice c up to the inside of its delta object.
func (e *StreamEncoder) open(c int) []byte {
	if e.prefix == nil {
		p := append([]byte(`{"id":`), appendString(nil, e.opts.ID)...)
		p = append(p, `,"object":"chat.completion.chunk","created":`...)
		p = strconv.AppendInt(p, e.opts.Created, 10)
		p = append(p, `,"model":`...)
		p = appendString(p, e.opts.Model)
		e.prefix = append(p, `,"choices":[`...)
	}
	b := append(e.buf[:0], e.prefix...)
	b = append(b, `{"index":`...)
	b = strconv.AppendInt(b, int64(c), 10)
	return append(b, `,"delta":{`...)
}

func (e *StreamEncoder) ensureRole(w *sse.Writer, c int) error {
	st, err := e.choice(c)
	if err != nil {
		return err
	}
	if st.roleSent {
		return nil
	}
	st.roleSent = true
	b := e.open(c)
	b = append(b, `"role":"assistant","content":""},"finish_reason":null}]}`...)
	e.buf = b
	return w.WriteData(b)
}

// Close ends the stream: the usage chunk (when the client asked for it and
// usage is known) and [DONE]. After an error chunk it writes nothing.
func (e *StreamEncoder) Close(w *sse.Writer) error {
	if e.closed {
		return nil
	}
	e.closed = true
	if err := e.writeUsage(w); err != nil {
		return err
	}
	return w.WriteData(doneMarker)
}

// writeUsage writes the usage chunk (choices: []) once, if the client asked
// for it and usage is known.
func (e *StreamEncoder) writeUsage(w *sse.Writer) error {
	if !e.opts.IncludeUsage || e.usage == nil {
		return nil
	}
	b := e.open(0)
	b = b[:len(b)-len(`{"index":0,"delta":{`)]
	b = append(b, `],"usage":`...)
	b = appendUsage(b, *e.usage)
	b = append(b, '}')
	e.buf = b
	e.usage = nil
	return w.WriteData(b)
}

func appendUsage(b []byte, u llm.Usage) []byte {
	b = append(b, `{"prompt_tokens":`...)
	b = strconv.AppendInt(b, u.InputTokens, 10)
	b = append(b, `,"completion_tokens":`...)
	b = strconv.AppendInt(b, u.OutputTokens, 10)
	b = append(b, `,"total_tokens":`...)
	b = strconv.AppendInt(b, u.Total(), 10)
	b = append(b, `,"prompt_tokens_details":{"cached_tokens":`...)
	b = strconv.AppendInt(b, u.CachedInputTokens, 10)
	b = append(b, `,"audio_tokens":`...)
	b = strconv.AppendInt(b, u.AudioInputTokens, 10)
	b = append(b, `},"completion_tokens_details":{"reasoning_tokens":`...)
	b = strconv.AppendInt(b, u.ReasoningTokens, 10)
	b = append(b, `,"audio_tokens":`...)
	b = strconv.AppendInt(b, u.AudioOutputTokens, 10)
	return append(b, `}}`...)
}

// errorChunk renders {"error":{"message","type","param","code"}}, the
// shape of OpenAI's error envelope (param and code are required, strings
// or null). code carries the HTTP status as a numeric string, which
// StreamDecoder reads back as OpenRouter's numeric codes are.
func errorChunk(b []byte, se *llm.StreamError) []byte {
	msg, typ, status := "stream failed", "server_error", 0
	if se != nil {
		if se.Message != "" {
			msg = se.Message
		}
		if se.Type != "" {
			typ = se.Type
		}
		status = se.Status
	}
	b = append(b, `{"error":{"message":`...)
	b = appendString(b, msg)
	b = append(b, `,"type":`...)
	b = appendString(b, typ)
	b = append(b, `,"param":null,"code":`...)
	if status > 0 {
		b = append(b, '"')
		b = strconv.AppendInt(b, int64(status), 10)
		b = append(b, '"')
	} else {
		b = append(b, "null"...)
	}
	return append(b, `}}`...)
}
