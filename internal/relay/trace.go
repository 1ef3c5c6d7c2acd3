package relay

import (
	"context"
	"net/http"
	"unicode/utf8"

	"switchboard/internal/endpoint"
	"switchboard/internal/gateway"
	"switchboard/internal/llm"
)

// Tracer wraps each call and each of its upstream attempts in a span
// (internal/telemetry); Engine.Tracer nil traces nothing and costs nothing.
type Tracer interface {
	// TraceCall starts the call's span (a child of the client's W3C trace
	// context in c.Header, if any). The engine runs the call in the
	// returned context and calls end with the call's record when it ends.
	TraceCall(ctx context.Context, c *Call) (_ context.Context, end func(rec *gateway.UsageRecord))
	// TraceAttempt starts an attempt's span as a child of req's context
	// and writes its trace context into req's headers (traceparent), so
	// the upstream continues the trace. end hears the attempt's outcome.
	TraceAttempt(req *http.Request, c *Call, a Attempt) (_ *http.Request, end func(a Attempt))
	// Content reports whether spans record message content (opt-in); only
	// then does the engine keep the answer's text.
	Content() bool
}

// maxAnswerText bounds the answer text kept for a span.
const maxAnswerText = 16 << 10

// Answer is what a trace records of a call's answer. The engine fills it
// only when it traces.
type Answer struct {
	ID            string
	FinishReasons []string
	// Text is the generated text (at most 16 KiB), kept only when the
	// tracer records content.
	Text      []byte
	Truncated bool
}

// WriteString appends answer text up to the bound (endpoint.TextCounter).
func (a *Answer) WriteString(s string) {
	room := maxAnswerText - len(a.Text)
	if len(s) > room {
		for room > 0 && !utf8.RuneStart(s[room]) {
			room--
		}
		s, a.Truncated = s[:max(room, 0)], true
	}
	a.Text = append(a.Text, s...)
}

func (a *Answer) finish(reason string) {
	if reason != "" {
		a.FinishReasons = append(a.FinishReasons, reason)
	}
}

// Answer is what the engine learned of c's answer for its trace.
func (c *Call) Answer() *Answer { return &c.answer }

// teeText feeds text to the token counter and to the trace's answer.
type teeText struct {
	count endpoint.TextCounter
	keep  *Answer
}

func (t teeText) WriteString(s string) {
	t.count.WriteString(s)
	t.keep.WriteString(s)
}

// traced reports whether the engine collects answer facts for a trace,
// and whether it keeps the answer's text.
func (e *Engine) traced() (facts, content bool) {
	if e.Tracer == nil {
		return false, false
	}
	return true, e.Tracer.Content()
}

// describeBody records a complete pass-through answer's id, finish
// reasons and, with content, its text.
func (e *Engine) describeBody(c *Call, spec endpoint.Spec, pass endpoint.Passer, body []byte) {
	facts, content := e.traced()
	if !facts {
		return
	}
	if d, ok := spec.(endpoint.Describer); ok {
		id, reasons := d.DescribeAnswer(body)
		c.answer.ID = id
		c.answer.FinishReasons = append(c.answer.FinishReasons, reasons...)
	}
	if content {
		pass.CountAnswer(body, &c.answer)
	}
}

// describeHub records a translated answer's facts.
func (e *Engine) describeHub(c *Call, out *llm.Response) {
	facts, content := e.traced()
	if !facts {
		return
	}
	c.answer.ID = out.ID
	for _, ch := range out.Choices {
		c.answer.finish(string(ch.StopReason))
		if content {
			for _, p := range ch.Parts {
				c.answer.WriteString(p.Text)
			}
		}
	}
}

// describeHubEvent records a translated stream event's facts.
func (e *Engine) describeHubEvent(c *Call, ev *llm.Event) {
	if e.Tracer == nil {
		return
	}
	switch ev.Type {
	case llm.EventStart:
		if c.answer.ID == "" {
			c.answer.ID = ev.ID
		}
	case llm.EventStop:
		c.answer.finish(string(ev.StopReason))
	case llm.EventTextDelta:
		if e.Tracer.Content() {
			c.answer.WriteString(ev.Text)
		}
	}
}
