package relay

import (
	"context"
	"log/slog"
	"time"

	"switchboard/internal/gateway"
)

// Observer hears about every call the engine runs: metrics, traces and
// the access log are observers. Methods are called on the call's own
// goroutine and must not block.
type Observer interface {
	// Started: the call was admitted and is about to be routed.
	Started(c *Call)
	// Attempted: one upstream attempt got its answer's status (or failed
	// to get one: Status 0).
	Attempted(c *Call, a Attempt)
	// FirstToken: the first generated content of the call arrived.
	FirstToken(c *Call, ttft time.Duration)
	// Finished: the call ended; rec is its ledger record (usage, cost,
	// status). It must not be kept after the call returns.
	Finished(c *Call, rec *gateway.UsageRecord)
}

// Attempt is one upstream attempt's outcome.
type Attempt struct {
	Channel       *gateway.Channel
	KeyIndex      int
	UpstreamModel string
	PassThrough   bool
	Status        int            // the upstream's HTTP status; 0 when none came
	Err           *gateway.Error // nil on a 2xx
	Duration      time.Duration  // until the upstream's headers (or the failure)
}

// Observers fans one call's events out to several observers.
type Observers []Observer

func (os Observers) Started(c *Call) {
	for _, o := range os {
		o.Started(c)
	}
}

func (os Observers) Attempted(c *Call, a Attempt) {
	for _, o := range os {
		o.Attempted(c, a)
	}
}

func (os Observers) FirstToken(c *Call, ttft time.Duration) {
	for _, o := range os {
		o.FirstToken(c, ttft)
	}
}

func (os Observers) Finished(c *Call, rec *gateway.UsageRecord) {
	for _, o := range os {
		o.Finished(c, rec)
	}
}

func (e *Engine) observer() Observer {
	if e.Observer == nil {
		return Observers(nil)
	}
	return e.Observer
}

func (e *Engine) attempted(cs *callState, x exchange, status int, err *gateway.Error, sent time.Time) {
	if e.Observer == nil && e.Tracer == nil {
		return
	}
	a := Attempt{
		Channel: cs.cand.Channel, KeyIndex: cs.cand.KeyIndex, UpstreamModel: cs.cand.UpstreamModel,
		PassThrough: x.passThrough(), Status: status, Err: err, Duration: time.Since(sent),
	}
	cs.attempt = a
	if e.Observer != nil {
		e.Observer.Attempted(cs.call, a)
	}
}

// AccessLog writes one structured line per call: the first observer.
type AccessLog struct {
	Log *slog.Logger
}

func (AccessLog) Started(*Call)                   {}
func (AccessLog) Attempted(*Call, Attempt)        {}
func (AccessLog) FirstToken(*Call, time.Duration) {}
func (l AccessLog) Finished(c *Call, rec *gateway.UsageRecord) {
	level := slog.LevelInfo
	if rec.Status >= 500 {
		level = slog.LevelWarn
	}
	if !l.Log.Enabled(context.Background(), level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("request_id", rec.RequestID),
		slog.String("endpoint", rec.Endpoint),
		slog.String("key", rec.KeyName),
		slog.String("model", rec.Model),
		slog.String("channel", rec.ChannelName),
		slog.String("upstream_model", rec.UpstreamModel),
		slog.Int("status", rec.Status),
		slog.Bool("stream", rec.Stream),
		slog.Int("attempts", rec.Attempts),
		slog.Int64("input_tokens", rec.Usage.InputTokens),
		slog.Int64("output_tokens", rec.Usage.OutputTokens),
		slog.Int64("cached_input_tokens", rec.Usage.CachedInputTokens),
		slog.Int64("reasoning_tokens", rec.Usage.ReasoningTokens),
		slog.String("usage_source", string(rec.UsageSource)),
		slog.Int64("cost_nano_usd", rec.CostNanoUSD),
		slog.Int64("price_nano_usd", rec.PriceNanoUSD),
		slog.Duration("latency", rec.Latency),
		slog.Duration("ttft", rec.TTFT),
	}
	if d, ok := c.Overhead(); ok {
		attrs = append(attrs, slog.Duration("overhead", d))
	}
	if rec.ErrorMessage != "" {
		attrs = append(attrs, slog.String("error", rec.ErrorMessage))
	}
	l.Log.LogAttrs(context.Background(), level, "call", attrs...)
}
