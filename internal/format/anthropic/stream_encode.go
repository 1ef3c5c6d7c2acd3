package anthropic

import (
	"slices"
	"strconv"

	"switchboard/internal/gateway"
	"switchboard/internal/llm"
	"switchboard/internal/sse"
)

// MaxBufferedToolArgs bounds the tool-call argument bytes a StreamEncoder
// holds back (see StreamEncoder); a stream beyond it fails.
const MaxBufferedToolArgs = 16 << 20

// StreamOptions configures a StreamEncoder.
type StreamOptions struct {
	ID    string // message id; EventStart's ID wins when set
	Model string // model name shown to the client; EventStart's Model wins when set
	// InputUsage is usage known before the stream (e.g. counted prompt
	// tokens); upstream usage events override it field by field.
	InputUsage llm.Usage
	// EstimateInput, when set, is asked for the prompt's token count if
	// message_start is due and no usage has arrived yet (an OpenAI
	// upstream reports usage only at the end): older SDKs read
	// input_tokens from message_start alone. message_delta carries the
	// final count.
	EstimateInput func() int64
}

type blockKind uint8

const (
	blockNone blockKind = iota
	blockText
	blockThinking
	blockTool
)

type pendingTool struct {
	index    int // hub index
	id, name string
	sig      string // a Gemini signature of the call, shown before it
	args     []byte
}

// StreamEncoder writes hub events as an Anthropic SSE stream to a client.
//
// Anthropic's grammar is strict: message_start; then each content block as
// content_block_start, deltas, content_block_stop, never interleaved; then
// message_delta and message_stop. The encoder opens blocks lazily, closes
// the open block when a different hub Index begins, and renumbers blocks
// 0, 1, 2, ... in the order it opens them.
//
// Hub streams may interleave argument deltas of parallel tool calls (OpenAI
// does); Anthropic cannot. The first tool call of a run of tool calls is
// streamed live; tool calls that start while it is open are buffered
// (arguments bounded by MaxBufferedToolArgs) and each is emitted whole —
// start, one input_json_delta, stop — when the run ends (at a non-tool
// block, stop or close). Deltas for a tool call whose block was already
// closed by an intervening text or thinking block cannot be placed and are
// dropped; no known upstream produces them.
type StreamEncoder struct {
	id, model string
	usage     llm.Usage
	estimate  func() int64
	issuer    llm.Issuer // EventStart's: who issued the stream's tokens
	signed    bool       // the open thinking block has its signature

	started, finished bool

	next    int // next Anthropic block index
	open    blockKind
	openHub int // hub Index of the open block
	openOut int // Anthropic index of the open block

	pending      []pendingTool
	pendingBytes int
	tools        []int // hub indexes of every tool call started so far

	stopReason   llm.StopReason
	stopSequence string

	buf []byte
}

// NewStreamEncoder returns an encoder for one response stream.
func NewStreamEncoder(opts StreamOptions) *StreamEncoder {
	return &StreamEncoder{id: opts.ID, model: opts.Model, usage: opts.InputUsage, estimate: opts.EstimateInput, buf: make([]byte, 0, 256)}
}

// Encode writes the frames for one hub event.
func (e *StreamEncoder) Encode(w *sse.Writer, ev llm.Event) error {
	if e.finished {
		return nil
	}
	switch ev.Type {
	case llm.EventStart:
		if ev.ID != "" {
			e.id = ev.ID
		}
		if ev.Model != "" {
			e.model = ev.Model
		}
		e.issuer = ev.Issuer
		return nil // message_start waits for usage that may follow
	case llm.EventUsage:
		if ev.Usage != nil {
			e.usage = e.usage.Merge(*ev.Usage)
		}
		return nil
	case llm.EventTextDelta:
		if ev.Text != "" {
			if err := e.openBlock(w, blockText, ev.Index, nil); err != nil {
				return err
			}
			if err := e.delta(w, "text_delta", "text", ev.Text); err != nil {
				return err
			}
		}
		if ev.Signature != "" {
			// A Gemini signature of a text part: a thinking block of its
			// own right after the text (see showTokens).
			return e.carrier(w, llm.ShowEventToken(e.issuer, llm.TokenText, ev.Signature, SourceFormat))
		}
		return nil
	case llm.EventReasoningDelta:
		if ev.Text == "" && ev.Signature == "" {
			return nil
		}
		if err := e.openBlock(w, blockThinking, ev.Index, nil); err != nil {
			return err
		}
		if ev.Text != "" {
			if err := e.delta(w, "thinking_delta", "thinking", ev.Text); err != nil {
				return err
			}
		}
		if ev.Signature != "" {
			e.signed = true
			return e.delta(w, "signature_delta", "signature", llm.ShowEventToken(e.issuer, llm.TokenThinking, ev.Signature, SourceFormat))
		}
		return nil
	case llm.EventRedactedReasoning:
		if err := e.ensureStarted(w); err != nil {
			return err
		}
		if err := e.endBlocks(w); err != nil {
			return err
		}
		b := e.startFrame(e.next)
		b = append(b, `"content_block":{"type":"redacted_thinking","data":`...)
		b = appendString(b, llm.ShowEventToken(e.issuer, llm.TokenRedacted, ev.Data, SourceFormat))
		b = append(b, "}}"...)
		if err := e.write(w, "content_block_start", b); err != nil {
			return err
		}
		e.next++
		return e.write(w, "content_block_stop", e.stopFrame(e.next-1))
	case llm.EventToolCallStart:
		sig := ""
		if ev.Signature != "" {
			sig = llm.ShowEventToken(e.issuer, llm.TokenCall, ev.Signature, SourceFormat)
		}
		return e.toolStart(w, ev.Index, ev.ToolCallID, ev.ToolName, sig)
	case llm.EventToolCallDelta:
		return e.toolDelta(w, ev.Index, ev.Text)
	case llm.EventMedia:
		return nil // Anthropic has no media output blocks
	case llm.EventStop:
		e.stopReason, e.stopSequence = ev.StopReason, ev.StopSequence
		return e.finish(w)
	case llm.EventError:
		return e.writeError(w, ev.Err)
	}
	return nil
}

// Close completes the stream if no stop or error ended it.
func (e *StreamEncoder) Close(w *sse.Writer) error {
	if e.finished {
		return nil
	}
	return e.finish(w)
}

func (e *StreamEncoder) finish(w *sse.Writer) error {
	if err := e.ensureStarted(w); err != nil {
		return err
	}
	if err := e.endBlocks(w); err != nil {
		return err
	}
	e.finished = true
	b := append(e.buf[:0], `{"type":"message_delta","delta":{"stop_reason":`...)
	b = appendString(b, stopToAnthropic(e.stopReason))
	b = append(b, `,"stop_sequence":`...)
	if e.stopSequence != "" {
		b = appendString(b, e.stopSequence)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `},"usage":`...)
	b = appendUsage(b, e.usage)
	b = append(b, '}')
	if err := e.write(w, "message_delta", b); err != nil {
		return err
	}
	return e.write(w, "message_stop", append(e.buf[:0], `{"type":"message_stop"}`...))
}

func (e *StreamEncoder) writeError(w *sse.Writer, se *llm.StreamError) error {
	e.finished = true
	e.pending = nil
	status, typ, msg := 0, "", "upstream stream error"
	if se != nil {
		status, typ = se.Status, se.Type
		if se.Message != "" {
			msg = se.Message
		}
	}
	b := appendErrorObject(e.buf[:0], streamErrorType(status, typ), msg)
	b = append(b, '}')
	return e.write(w, "error", b)
}

func (e *StreamEncoder) write(w *sse.Writer, event string, data []byte) error {
	e.buf = data[:0] // keep the grown buffer
	return w.WriteEvent(event, data)
}

func (e *StreamEncoder) ensureStarted(w *sse.Writer) error {
	if e.started {
		return nil
	}
	e.started = true
	if e.usage.InputTokens == 0 && e.estimate != nil {
		e.usage.InputTokens = e.estimate()
	}
	b := append(e.buf[:0], `{"type":"message_start","message":{"id":`...)
	b = appendString(b, messageID(e.id))
	b = append(b, `,"type":"message","role":"assistant","model":`...)
	b = appendString(b, e.model)
	b = append(b, `,"content":[],"stop_reason":null,"stop_sequence":null,"usage":`...)
	b = appendUsage(b, e.usage)
	b = append(b, "}}"...)
	return e.write(w, "message_start", b)
}

func (e *StreamEncoder) startFrame(index int) []byte {
	b := append(e.buf[:0], `{"type":"content_block_start","index":`...)
	b = strconv.AppendInt(b, int64(index), 10)
	return append(b, ',')
}

func (e *StreamEncoder) stopFrame(index int) []byte {
	b := append(e.buf[:0], `{"type":"content_block_stop","index":`...)
	b = strconv.AppendInt(b, int64(index), 10)
	return append(b, '}')
}

// openBlock makes a block of kind for hub index the open one, closing
// whatever else is open. tool is set for tool_use blocks.
func (e *StreamEncoder) openBlock(w *sse.Writer, kind blockKind, hubIndex int, tool *pendingTool) error {
	if e.open == kind && e.openHub == hubIndex {
		return nil
	}
	if err := e.ensureStarted(w); err != nil {
		return err
	}
	if err := e.endBlocks(w); err != nil {
		return err
	}
	b := e.startFrame(e.next)
	switch kind {
	case blockText:
		b = append(b, `"content_block":{"type":"text","text":""}}`...)
	case blockThinking:
		b = append(b, `"content_block":{"type":"thinking","thinking":"","signature":""}}`...)
	case blockTool:
		b = append(b, `"content_block":{"type":"tool_use","id":`...)
		b = appendString(b, toolUseID(tool.id, e.next))
		b = append(b, `,"name":`...)
		b = appendString(b, tool.name)
		b = append(b, `,"input":{}}}`...)
	}
	if err := e.write(w, "content_block_start", b); err != nil {
		return err
	}
	e.open, e.openHub, e.openOut = kind, hubIndex, e.next
	e.signed = false
	e.next++
	return nil
}

// carrier writes a thinking block that holds only sig: where Anthropic's
// grammar has no slot for a Gemini signature of a call or a text part.
func (e *StreamEncoder) carrier(w *sse.Writer, sig string) error {
	if err := e.openBlock(w, blockThinking, -1-e.next, nil); err != nil {
		return err
	}
	if err := e.delta(w, "signature_delta", "signature", sig); err != nil {
		return err
	}
	return e.closeOpen(w)
}

// callSignature shows a tool call's Gemini signature just before the
// tool_use block: in the open thinking block when it has none yet (the
// call's own thought), else in a carrier block.
func (e *StreamEncoder) callSignature(w *sse.Writer, sig string) error {
	if sig == "" {
		return nil
	}
	if e.open == blockThinking && !e.signed {
		e.signed = true
		return e.delta(w, "signature_delta", "signature", sig)
	}
	return e.carrier(w, sig)
}

// closeOpen ends the open block, if any.
func (e *StreamEncoder) closeOpen(w *sse.Writer) error {
	if e.open == blockNone {
		return nil
	}
	e.open = blockNone
	return e.write(w, "content_block_stop", e.stopFrame(e.openOut))
}

// endBlocks closes the open block and flushes buffered tool calls.
func (e *StreamEncoder) endBlocks(w *sse.Writer) error {
	if err := e.closeOpen(w); err != nil {
		return err
	}
	// Detach the list first: openBlock below re-enters endBlocks.
	pend := e.pending
	e.pending = e.pending[:0]
	e.pendingBytes = 0
	for i := range pend {
		p := &pend[i]
		if err := e.callSignature(w, p.sig); err != nil {
			return err
		}
		if err := e.openBlock(w, blockTool, p.index, p); err != nil {
			return err
		}
		if len(p.args) > 0 {
			if err := e.delta(w, "input_json_delta", "partial_json", string(p.args)); err != nil {
				return err
			}
		}
		if err := e.closeOpen(w); err != nil {
			return err
		}
	}
	return nil
}

func (e *StreamEncoder) delta(w *sse.Writer, deltaType, field, text string) error {
	b := append(e.buf[:0], `{"type":"content_block_delta","index":`...)
	b = strconv.AppendInt(b, int64(e.openOut), 10)
	b = append(b, `,"delta":{"type":"`...)
	b = append(b, deltaType...)
	b = append(b, `","`...)
	b = append(b, field...)
	b = append(b, `":`...)
	b = appendString(b, text)
	b = append(b, "}}"...)
	return e.write(w, "content_block_delta", b)
}

func (e *StreamEncoder) findPending(hubIndex int) *pendingTool {
	for i := range e.pending {
		if e.pending[i].index == hubIndex {
			return &e.pending[i]
		}
	}
	return nil
}

func (e *StreamEncoder) toolStart(w *sse.Writer, hubIndex int, id, name, sig string) error {
	if slices.Contains(e.tools, hubIndex) {
		return nil // a repeated start
	}
	e.tools = append(e.tools, hubIndex)
	if e.open == blockTool {
		e.pending = append(e.pending, pendingTool{index: hubIndex, id: id, name: name, sig: sig})
		return nil
	}
	if err := e.callSignature(w, sig); err != nil {
		return err
	}
	return e.openBlock(w, blockTool, hubIndex, &pendingTool{index: hubIndex, id: id, name: name})
}

func (e *StreamEncoder) toolDelta(w *sse.Writer, hubIndex int, frag string) error {
	if e.open == blockTool && e.openHub == hubIndex {
		if frag == "" {
			return nil
		}
		return e.delta(w, "input_json_delta", "partial_json", frag)
	}
	p := e.findPending(hubIndex)
	if p == nil {
		if !slices.Contains(e.tools, hubIndex) {
			// A delta with no start: open the call with a minted id.
			id := "toolu_" + sanitizeName(e.id, 64) + "_" + strconv.Itoa(hubIndex)
			if err := e.toolStart(w, hubIndex, id, "", ""); err != nil {
				return err
			}
			return e.toolDelta(w, hubIndex, frag)
		}
		return nil // the call's block was closed by a later block; see the type doc
	}
	if e.pendingBytes+len(frag) > MaxBufferedToolArgs {
		return &gateway.Error{Kind: gateway.KindUpstream, Message: "parallel tool-call arguments exceed the stream buffer"}
	}
	p.args = append(p.args, frag...)
	e.pendingBytes += len(frag)
	return nil
}
