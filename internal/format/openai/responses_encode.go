package openai

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"switchboard/internal/llm"
	"switchboard/internal/sse"
)

// ---------------------------------------------------------------------------
// Encoding: hub → a Responses API client (translated answers).
//
// One state machine serves both a stream and a complete answer: a complete
// answer is fed through it as the events a stream of it would have had,
// with the events discarded and only the final Response object kept.
//
//	hub                               | Responses output
//	----------------------------------+-----------------------------------------------------------
//	text blocks                       | one message item; each block an output_text part
//	reasoning (text, signature)       | reasoning item: summary_text, encrypted_content = the
//	                                  | signature (another provider's in the gateway's envelope)
//	redacted reasoning                | reasoning item with encrypted_content only
//	tool call                         | function_call item (arguments streamed as deltas)
//	signature of a call / a text      | a reasoning item carrying only encrypted_content, before
//	(Gemini)                          | the call / after the message (placeResponsesTokens undoes it)
//	media output                      | not shown (no Responses item for inline media)
//	stop max_tokens / content_filter  | status incomplete, incomplete_details.reason
//	error mid-stream                  | response.failed with the output so far
// ---------------------------------------------------------------------------

// ResponsesStreamOptions configure a ResponsesStreamEncoder.
type ResponsesStreamOptions struct {
	ID      string // the gateway's request id; the response id is derived from it
	Model   string // as the client named it
	Created int64
	// Request is the decoded request, whose settings the Response echoes
	// (nil: defaults).
	Request *llm.Request
}

// ResponseID is the id of the Response answering a call: "resp_" and the
// request id's hex.
func ResponseID(requestID string) string {
	if strings.HasPrefix(requestID, "resp_") {
		return requestID
	}
	return "resp_" + strings.TrimPrefix(requestID, "req_")
}

// ResponsesStreamEncoder writes hub events as a Responses event stream.
type ResponsesStreamEncoder struct {
	o       ResponsesStreamOptions
	id      string
	echo    map[string]json.RawMessage
	issuer  llm.Issuer
	w       *sse.Writer // nil: a complete answer, events discarded
	seq     int64
	buf     []byte
	started bool
	done    bool

	out   [][]byte // rendered items by output index (nil while open)
	cur   *openItem
	calls []*openCall
	usage llm.Usage
	stop  llm.StopReason
	// namespaced maps a namespace's flattened function names back
	// (NamespacedName) for the calls the answer shows.
	namespaced map[string][2]string
}

// openItem is the message or reasoning item being streamed.
type openItem struct {
	reasoning bool
	index     int // output index
	id        string
	hub       int // the hub block index of the current part
	texts     []string
	text      strings.Builder // the current content part or summary
	partOpen  bool
	sig       string // reasoning: encrypted_content; message: a text signature to carry after it
}

// openCall is a function call being streamed.
type openCall struct {
	index        int
	id           string
	callID, name string
	namespace    string
	hub          int
	args         strings.Builder
}

// NewResponsesStreamEncoder returns an encoder for one stream.
func NewResponsesStreamEncoder(o ResponsesStreamOptions) *ResponsesStreamEncoder {
	e := &ResponsesStreamEncoder{o: o, id: ResponseID(o.ID)}
	if o.Request != nil && o.Request.SourceFormat == ResponsesSourceFormat {
		e.echo = o.Request.Extra
		gjson.ParseBytes(e.echo["tools"]).ForEach(func(_, t gjson.Result) bool {
			if t.Get("type").Str == "namespace" {
				ns := t.Get("name").Str
				t.Get("tools").ForEach(func(_, fn gjson.Result) bool {
					if e.namespaced == nil {
						e.namespaced = map[string][2]string{}
					}
					e.namespaced[NamespacedName(ns, fn.Get("name").Str)] = [2]string{ns, fn.Get("name").Str}
					return true
				})
			}
			return true
		})
	}
	if e.o.Created == 0 {
		e.o.Created = time.Now().Unix()
	}
	return e
}

// ContentType is the Content-Type of the streams the encoder writes.
func (e *ResponsesStreamEncoder) ContentType() string { return "text/event-stream" }

// Encode writes the events for one hub event.
func (e *ResponsesStreamEncoder) Encode(w *sse.Writer, ev llm.Event) error {
	if e.done {
		return nil
	}
	e.w = w
	if ev.Type == llm.EventStart {
		e.issuer = ev.Issuer
	}
	if err := e.ensureStarted(); err != nil {
		return err
	}
	switch ev.Type {
	case llm.EventTextDelta:
		if ev.Text != "" {
			if err := e.textDelta(ev.Index, ev.Text); err != nil {
				return err
			}
		}
		if ev.Signature != "" {
			if e.cur == nil || e.cur.reasoning {
				return e.carrier(llm.ShowEventToken(e.issuer, llm.TokenText, ev.Signature, SourceFormat))
			}
			e.cur.sig = llm.ShowEventToken(e.issuer, llm.TokenText, ev.Signature, SourceFormat)
		}
	case llm.EventReasoningDelta:
		if ev.Text == "" && ev.Signature == "" {
			return nil
		}
		if err := e.reasoningDelta(ev.Index, ev.Text); err != nil {
			return err
		}
		if ev.Signature != "" {
			e.cur.sig = llm.ShowEventToken(e.issuer, llm.TokenThinking, ev.Signature, SourceFormat)
		}
	case llm.EventRedactedReasoning:
		return e.carrier(llm.ShowEventToken(e.issuer, llm.TokenRedacted, ev.Data, SourceFormat))
	case llm.EventToolCallStart:
		return e.callStart(ev)
	case llm.EventToolCallDelta:
		return e.callDelta(ev.Index, ev.Text)
	case llm.EventUsage:
		if ev.Usage != nil {
			e.usage = e.usage.Merge(*ev.Usage)
		}
	case llm.EventStop:
		e.stop = ev.StopReason
		return e.finish(nil)
	case llm.EventError:
		return e.finish(ev.Err)
	}
	return nil
}

// Close completes a stream that no stop or error ended.
func (e *ResponsesStreamEncoder) Close(w *sse.Writer) error {
	if e.done {
		return nil
	}
	e.w = w
	if err := e.ensureStarted(); err != nil {
		return err
	}
	return e.finish(nil)
}

// event starts an event's JSON: {"type":typ
func (e *ResponsesStreamEncoder) event(typ string) []byte {
	b := append(e.buf[:0], `{"type":"`...)
	b = append(b, typ...)
	return append(b, '"')
}

// emit ends an event with its sequence number and writes it.
func (e *ResponsesStreamEncoder) emit(typ string, b []byte) error {
	b = append(b, `,"sequence_number":`...)
	b = strconv.AppendInt(b, e.seq, 10)
	b = append(b, '}')
	e.buf = b
	e.seq++
	if e.w == nil {
		return nil
	}
	return e.w.WriteEvent(typ, b)
}

func appendIndex(b []byte, key string, n int) []byte {
	b = append(b, `,"`...)
	b = append(b, key...)
	b = append(b, `":`...)
	return strconv.AppendInt(b, int64(n), 10)
}

func appendField(b []byte, key, s string) []byte {
	b = append(b, `,"`...)
	b = append(b, key...)
	b = append(b, `":`...)
	return appendString(b, s)
}

func (e *ResponsesStreamEncoder) ensureStarted() error {
	if e.started {
		return nil
	}
	e.started = true
	for _, typ := range [...]string{evCreated, evInProgress} {
		b := e.event(typ)
		b = append(b, `,"response":`...)
		b = e.appendResponse(b, "in_progress", nil)
		if err := e.emit(typ, b); err != nil {
			return err
		}
	}
	return nil
}

func (e *ResponsesStreamEncoder) itemID(prefix string, index int) string {
	return prefix + "_" + strings.TrimPrefix(e.id, "resp_") + "_" + strconv.Itoa(index)
}

// next reserves the next output index.
func (e *ResponsesStreamEncoder) next() int {
	e.out = append(e.out, nil)
	return len(e.out) - 1
}

func (e *ResponsesStreamEncoder) itemAdded(index int, item []byte) error {
	b := e.event(evItemAdded)
	b = appendIndex(b, "output_index", index)
	b = append(b, `,"item":`...)
	b = append(b, item...)
	return e.emit(evItemAdded, b)
}

func (e *ResponsesStreamEncoder) itemDone(index int, item []byte) error {
	e.out[index] = item
	b := e.event(evItemDone)
	b = appendIndex(b, "output_index", index)
	b = append(b, `,"item":`...)
	b = append(b, item...)
	return e.emit(evItemDone, b)
}

// closeAll ends the open message or reasoning item and the open calls.
func (e *ResponsesStreamEncoder) closeAll() error {
	if err := e.closeCur(); err != nil {
		return err
	}
	return e.closeCalls()
}

func (e *ResponsesStreamEncoder) textDelta(hub int, text string) error {
	if e.cur != nil && e.cur.reasoning {
		if err := e.closeCur(); err != nil {
			return err
		}
	}
	if err := e.closeCalls(); err != nil {
		return err
	}
	if e.cur == nil {
		it := &openItem{index: e.next(), hub: hub}
		it.id = e.itemID("msg", it.index)
		e.cur = it
		if err := e.itemAdded(it.index, appendMessageItem(nil, it.id, "in_progress", nil)); err != nil {
			return err
		}
	} else if e.cur.hub != hub && e.cur.partOpen {
		if err := e.closePart(); err != nil {
			return err
		}
		e.cur.hub = hub
	}
	it := e.cur
	if !it.partOpen {
		it.partOpen = true
		b := e.event(evPartAdded)
		b = appendField(b, "item_id", it.id)
		b = appendIndex(b, "output_index", it.index)
		b = appendIndex(b, "content_index", len(it.texts))
		b = append(b, `,"part":`...)
		b = appendOutputText(b, "")
		if err := e.emit(evPartAdded, b); err != nil {
			return err
		}
	}
	it.text.WriteString(text)
	b := e.event(evTextDelta)
	b = appendField(b, "item_id", it.id)
	b = appendIndex(b, "output_index", it.index)
	b = appendIndex(b, "content_index", len(it.texts))
	b = appendField(b, "delta", text)
	b = append(b, `,"logprobs":[]`...)
	return e.emit(evTextDelta, b)
}

// closePart ends a message's current output_text part.
func (e *ResponsesStreamEncoder) closePart() error {
	it := e.cur
	text := it.text.String()
	it.text.Reset()
	it.partOpen = false
	ci := len(it.texts)
	it.texts = append(it.texts, text)
	b := e.event(evTextDone)
	b = appendField(b, "item_id", it.id)
	b = appendIndex(b, "output_index", it.index)
	b = appendIndex(b, "content_index", ci)
	b = appendField(b, "text", text)
	b = append(b, `,"logprobs":[]`...)
	if err := e.emit(evTextDone, b); err != nil {
		return err
	}
	b = e.event(evPartDone)
	b = appendField(b, "item_id", it.id)
	b = appendIndex(b, "output_index", it.index)
	b = appendIndex(b, "content_index", ci)
	b = append(b, `,"part":`...)
	b = appendOutputText(b, text)
	return e.emit(evPartDone, b)
}

func (e *ResponsesStreamEncoder) reasoningDelta(hub int, text string) error {
	if e.cur != nil && (!e.cur.reasoning || e.cur.hub != hub) {
		if err := e.closeCur(); err != nil {
			return err
		}
	}
	if err := e.closeCalls(); err != nil {
		return err
	}
	if e.cur == nil {
		it := &openItem{reasoning: true, index: e.next(), hub: hub}
		it.id = e.itemID("rs", it.index)
		e.cur = it
		if err := e.itemAdded(it.index, appendReasoningItem(nil, it.id, nil, "")); err != nil {
			return err
		}
	}
	if text == "" {
		return nil
	}
	it := e.cur
	if !it.partOpen {
		it.partOpen = true
		b := e.event(evSummaryPartAdded)
		b = appendField(b, "item_id", it.id)
		b = appendIndex(b, "output_index", it.index)
		b = appendIndex(b, "summary_index", 0)
		b = append(b, `,"part":{"type":"summary_text","text":""}`...)
		if err := e.emit(evSummaryPartAdded, b); err != nil {
			return err
		}
	}
	it.text.WriteString(text)
	b := e.event(evSummaryDelta)
	b = appendField(b, "item_id", it.id)
	b = appendIndex(b, "output_index", it.index)
	b = appendIndex(b, "summary_index", 0)
	b = appendField(b, "delta", text)
	return e.emit(evSummaryDelta, b)
}

// closeCur ends the open message or reasoning item.
func (e *ResponsesStreamEncoder) closeCur() error {
	it := e.cur
	if it == nil {
		return nil
	}
	e.cur = nil
	if !it.reasoning {
		if it.partOpen {
			e.cur = it
			err := e.closePart()
			e.cur = nil
			if err != nil {
				return err
			}
		}
		if err := e.itemDone(it.index, appendMessageItem(nil, it.id, "completed", it.texts)); err != nil {
			return err
		}
		if it.sig != "" {
			return e.carrier(it.sig)
		}
		return nil
	}
	var summary []string
	if it.partOpen {
		text := it.text.String()
		summary = []string{text}
		b := e.event(evSummaryDone)
		b = appendField(b, "item_id", it.id)
		b = appendIndex(b, "output_index", it.index)
		b = appendIndex(b, "summary_index", 0)
		b = appendField(b, "text", text)
		if err := e.emit(evSummaryDone, b); err != nil {
			return err
		}
		b = e.event(evSummaryPartDone)
		b = appendField(b, "item_id", it.id)
		b = appendIndex(b, "output_index", it.index)
		b = appendIndex(b, "summary_index", 0)
		b = append(b, `,"part":{"type":"summary_text","text":`...)
		b = appendString(b, text)
		b = append(b, '}')
		if err := e.emit(evSummaryPartDone, b); err != nil {
			return err
		}
	}
	return e.itemDone(it.index, appendReasoningItem(nil, it.id, summary, it.sig))
}

// carrier is a reasoning item of its own holding only an opaque token.
func (e *ResponsesStreamEncoder) carrier(token string) error {
	if err := e.closeAll(); err != nil {
		return err
	}
	index := e.next()
	id := e.itemID("rs", index)
	if err := e.itemAdded(index, appendReasoningItem(nil, id, nil, "")); err != nil {
		return err
	}
	return e.itemDone(index, appendReasoningItem(nil, id, nil, token))
}

func (e *ResponsesStreamEncoder) callStart(ev llm.Event) error {
	if err := e.closeCur(); err != nil {
		return err
	}
	if ev.Signature != "" {
		// A Gemini call signature rides in a reasoning item just before
		// the call; the open calls end first so that order holds.
		if err := e.carrier(llm.ShowEventToken(e.issuer, llm.TokenCall, ev.Signature, SourceFormat)); err != nil {
			return err
		}
	}
	c := &openCall{index: e.next(), callID: ev.ToolCallID, name: ev.ToolName, hub: ev.Index}
	if m, ok := e.namespaced[ev.ToolName]; ok {
		c.namespace, c.name = m[0], m[1]
	}
	c.id = e.itemID("fc", c.index)
	e.calls = append(e.calls, c)
	return e.itemAdded(c.index, appendCallItem(nil, c, "in_progress", ""))
}

func (e *ResponsesStreamEncoder) callDelta(hub int, text string) error {
	if text == "" {
		return nil
	}
	for _, c := range e.calls {
		if c.hub != hub {
			continue
		}
		c.args.WriteString(text)
		b := e.event(evArgsDelta)
		b = appendField(b, "item_id", c.id)
		b = appendIndex(b, "output_index", c.index)
		b = appendField(b, "delta", text)
		return e.emit(evArgsDelta, b)
	}
	return nil // a fragment for no open call: nothing can show it
}

func (e *ResponsesStreamEncoder) closeCalls() error {
	calls := e.calls
	e.calls = nil
	for _, c := range calls {
		args := c.args.String()
		if args == "" {
			args = "{}"
		}
		b := e.event(evArgsDone)
		b = appendField(b, "item_id", c.id)
		b = appendField(b, "name", c.name)
		b = appendIndex(b, "output_index", c.index)
		b = appendField(b, "arguments", args)
		if err := e.emit(evArgsDone, b); err != nil {
			return err
		}
		if err := e.itemDone(c.index, appendCallItem(nil, c, "completed", args)); err != nil {
			return err
		}
	}
	return nil
}

// finish ends every open item and writes the terminal event.
func (e *ResponsesStreamEncoder) finish(serr *llm.StreamError) error {
	if err := e.closeAll(); err != nil {
		return err
	}
	e.done = true
	status, typ := "completed", evCompleted
	switch {
	case serr != nil:
		status, typ = "failed", evFailed
	case e.stop == llm.StopMaxTokens || e.stop == llm.StopContentFilter:
		status, typ = "incomplete", evIncomplete
	}
	b := e.event(typ)
	b = append(b, `,"response":`...)
	b = e.appendResponse(b, status, serr)
	return e.emit(typ, b)
}

// Response renders the final Response object (after a stop).
func (e *ResponsesStreamEncoder) Response() []byte {
	status := "completed"
	if e.stop == llm.StopMaxTokens || e.stop == llm.StopContentFilter {
		status = "incomplete"
	}
	return e.appendResponse(nil, status, nil)
}

// echoed is the request's value of a field the Response repeats, or def.
func (e *ResponsesStreamEncoder) echoed(key, def string) string {
	if v, ok := e.echo[key]; ok && len(v) > 0 && string(v) != "null" {
		return string(v)
	}
	return def
}

func (e *ResponsesStreamEncoder) appendResponse(b []byte, status string, serr *llm.StreamError) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, e.id)
	b = append(b, `,"object":"response","created_at":`...)
	b = strconv.AppendInt(b, e.o.Created, 10)
	b = appendField(b, "status", status)
	if status == "completed" {
		b = append(b, `,"completed_at":`...)
		b = strconv.AppendInt(b, time.Now().Unix(), 10)
	}
	b = append(b, `,"error":`...)
	if serr != nil {
		b = append(b, `{"code":"server_error","message":`...)
		b = appendString(b, serr.Message)
		b = append(b, '}')
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"incomplete_details":`...)
	switch {
	case status != "incomplete":
		b = append(b, "null"...)
	case e.stop == llm.StopContentFilter:
		b = append(b, `{"reason":"content_filter"}`...)
	default:
		b = append(b, `{"reason":"max_output_tokens"}`...)
	}
	for _, f := range [...]struct{ key, def string }{{"instructions", "null"}, {"max_output_tokens", "null"}} {
		b = append(b, `,"`+f.key+`":`...)
		b = append(b, e.echoed(f.key, f.def)...)
	}
	b = appendField(b, "model", e.o.Model)
	b = append(b, `,"output":[`...)
	n := 0
	for _, it := range e.out {
		if it == nil {
			continue
		}
		if n > 0 {
			b = append(b, ',')
		}
		b = append(b, it...)
		n++
	}
	b = append(b, ']')
	b = append(b, `,"tools":`...)
	b = e.appendTools(b)
	for _, f := range [...]struct{ key, def string }{
		{"parallel_tool_calls", "true"}, {"previous_response_id", "null"}, {"reasoning", `{"effort":null,"summary":null}`},
		{"store", "true"}, {"temperature", "1"}, {"text", `{"format":{"type":"text"}}`}, {"tool_choice", `"auto"`},
		{"top_p", "1"}, {"truncation", `"disabled"`}, {"metadata", "{}"},
	} {
		b = append(b, `,"`+f.key+`":`...)
		b = append(b, e.echoed(f.key, f.def)...)
	}
	for _, key := range [...]string{"user", "prompt_cache_key", "safety_identifier", "service_tier"} {
		if v := e.echoed(key, ""); v != "" {
			b = append(b, `,"`+key+`":`...)
			b = append(b, v...)
		}
	}
	if status != "in_progress" {
		b = append(b, `,"usage":`...)
		b = appendResponsesUsage(b, e.usage)
	}
	return append(b, '}')
}

// appendTools renders the request's tools as a Response shows them: its
// functions and namespaces (a translated request holds no other kind),
// each function with every field the schema requires.
func (e *ResponsesStreamEncoder) appendTools(b []byte) []byte {
	b = append(b, '[')
	n := 0
	gjson.ParseBytes(e.echo["tools"]).ForEach(func(_, t gjson.Result) bool {
		if n > 0 {
			b = append(b, ',')
		}
		n++
		if t.Get("type").Str != "namespace" {
			b = appendFunctionTool(b, t)
			return true
		}
		b = append(b, `{"type":"namespace","name":`...)
		b = appendString(b, t.Get("name").Str)
		b = append(b, `,"description":`...)
		b = appendString(b, t.Get("description").Str)
		b = append(b, `,"tools":[`...)
		k := 0
		t.Get("tools").ForEach(func(_, fn gjson.Result) bool {
			if k > 0 {
				b = append(b, ',')
			}
			k++
			b = appendFunctionTool(b, fn)
			return true
		})
		b = append(b, "]}"...)
		return true
	})
	return append(b, ']')
}

func appendFunctionTool(b []byte, t gjson.Result) []byte {
	b = append(b, `{"type":"function","name":`...)
	b = appendString(b, t.Get("name").Str)
	for _, f := range [...]string{"description", "parameters", "strict"} {
		b = append(b, `,"`+f+`":`...)
		switch v := t.Get(f); {
		case !v.Exists():
			b = append(b, "null"...)
		case f == "description" && v.Type != gjson.String, f == "parameters" && !v.IsObject() && v.Type != gjson.Null,
			f == "strict" && v.Type != gjson.True && v.Type != gjson.False && v.Type != gjson.Null:
			b = append(b, "null"...)
		default:
			b = append(b, v.Raw...)
		}
	}
	return append(b, '}')
}

func appendResponsesUsage(b []byte, u llm.Usage) []byte {
	b = append(b, `{"input_tokens":`...)
	b = strconv.AppendInt(b, u.InputTokens, 10)
	b = append(b, `,"input_tokens_details":{"cached_tokens":`...)
	b = strconv.AppendInt(b, u.CachedInputTokens, 10)
	b = append(b, `,"cache_write_tokens":`...)
	b = strconv.AppendInt(b, u.CacheWriteTokens, 10)
	b = append(b, `},"output_tokens":`...)
	b = strconv.AppendInt(b, u.OutputTokens, 10)
	b = append(b, `,"output_tokens_details":{"reasoning_tokens":`...)
	b = strconv.AppendInt(b, u.ReasoningTokens, 10)
	b = append(b, `},"total_tokens":`...)
	b = strconv.AppendInt(b, u.Total(), 10)
	return append(b, '}')
}

func appendOutputText(b []byte, text string) []byte {
	b = append(b, `{"type":"output_text","text":`...)
	b = appendString(b, text)
	return append(b, `,"annotations":[],"logprobs":[]}`...)
}

func appendMessageItem(b []byte, id, status string, texts []string) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, id)
	b = append(b, `,"type":"message","status":"`...)
	b = append(b, status...)
	b = append(b, `","role":"assistant","content":[`...)
	for i, t := range texts {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendOutputText(b, t)
	}
	return append(b, "]}"...)
}

func appendReasoningItem(b []byte, id string, summary []string, encrypted string) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, id)
	b = append(b, `,"type":"reasoning","summary":[`...)
	for i, s := range summary {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"type":"summary_text","text":`...)
		b = appendString(b, s)
		b = append(b, '}')
	}
	b = append(b, ']')
	if encrypted != "" {
		b = appendField(b, "encrypted_content", encrypted)
	}
	return append(b, '}')
}

func appendCallItem(b []byte, c *openCall, status, args string) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, c.id)
	b = append(b, `,"type":"function_call","status":"`...)
	b = append(b, status...)
	b = append(b, '"')
	b = appendField(b, "call_id", c.callID)
	b = appendField(b, "name", c.name)
	if c.namespace != "" {
		b = appendField(b, "namespace", c.namespace)
	}
	b = appendField(b, "arguments", args)
	return append(b, '}')
}

// EncodeResponsesAnswer renders a complete hub answer as a Response
// object, by running its parts through the stream encoder.
func EncodeResponsesAnswer(resp *llm.Response, o ResponsesStreamOptions) []byte {
	if o.Created == 0 {
		o.Created = resp.Created
	}
	e := NewResponsesStreamEncoder(o)
	evs := []llm.Event{{Type: llm.EventStart, Issuer: resp.Issuer}}
	if len(resp.Choices) > 0 {
		ch := resp.Choices[0]
		for i, p := range ch.Parts {
			switch p.Type {
			case llm.PartText:
				evs = append(evs, llm.Event{Type: llm.EventTextDelta, Index: i, Text: p.Text, Signature: p.Signature})
			case llm.PartReasoning:
				evs = append(evs, llm.Event{Type: llm.EventReasoningDelta, Index: i, Text: p.Text, Signature: p.Signature})
			case llm.PartRedactedReasoning:
				evs = append(evs, llm.Event{Type: llm.EventRedactedReasoning, Index: i, Data: p.Data})
			case llm.PartToolCall:
				evs = append(evs,
					llm.Event{Type: llm.EventToolCallStart, Index: i, ToolCallID: p.ToolCallID, ToolName: p.ToolName, Signature: p.Signature},
					llm.Event{Type: llm.EventToolCallDelta, Index: i, Text: argumentsToWire(p.Arguments)})
			}
		}
		e.stop = ch.StopReason
	}
	u := resp.Usage
	evs = append(evs, llm.Event{Type: llm.EventUsage, Usage: &u})
	for _, ev := range evs {
		_ = e.Encode(nil, ev) // no writer: nothing can fail
	}
	_ = e.closeAll()
	e.done = true
	return e.Response()
}
