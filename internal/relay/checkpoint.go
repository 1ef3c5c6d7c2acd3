package relay

import (
	"net/http"
	"time"

	"switchboard/internal/gateway"
	"switchboard/internal/tokencount"
)

// StreamCheckpointer is a Recorder that can also spool what a stream has
// delivered so far, billed only if the process dies before the stream's
// final record (internal/ledger.Writer.Checkpoint).
type StreamCheckpointer interface {
	Checkpoint(rec *gateway.UsageRecord, settle bool) error
}

// Checkpoint cadence: about once a second while output flows, or sooner
// once checkpointTokens more were delivered, but never more than four
// times a second.
const (
	checkpointEvery  = time.Second
	checkpointTokens = 512
)

// streamCheckpoint spools one stream's checkpoints at a bounded rate. It
// is owned by the stream's goroutine; nil checkpoints nothing.
type streamCheckpoint struct {
	e          *Engine
	cs         *callState
	w          StreamCheckpointer
	last       time.Time
	lastTokens int64
	input      int64 // the prompt counted by the tokenizer; -1: not yet
}

func (e *Engine) newStreamCheckpoint(cs *callState) *streamCheckpoint {
	w, ok := e.Ledger.(StreamCheckpointer)
	if !ok || cs.free {
		return nil
	}
	return &streamCheckpoint{e: e, cs: cs, w: w, last: time.Now(), input: -1}
}

// observe checkpoints the stream when one is due, given what its meter and
// counter say was delivered so far.
func (k *streamCheckpoint) observe(m *streamMeter, counter *tokencount.Stream) {
	if k == nil {
		return
	}
	now := time.Now()
	gap := now.Sub(k.last)
	if gap < checkpointEvery/4 {
		return
	}
	tokens := max(counter.Total(), m.usage.OutputTokens)
	if tokens <= k.lastTokens || (gap < checkpointEvery && tokens-k.lastTokens < checkpointTokens) {
		return
	}
	rec := k.cs.rec
	rec.Usage, rec.UsageSource = m.usage, gateway.UsageEstimated
	rec.Usage.OutputTokens = tokens
	if rec.Usage.InputTokens == 0 {
		// Upstreams that report usage only at the end: the prompt as the
		// tokenizer counts it, once per stream.
		if k.input < 0 {
			k.input = estimateUsage(k.cs.call, 0).InputTokens
		}
		rec.Usage.InputTokens = k.input
	}
	rec.Latency = now.Sub(k.cs.call.Start)
	// Should the process die now, the client saw its stream cut.
	rec.Status, rec.ErrorMessage = http.StatusBadGateway, "the gateway stopped while the answer streamed"
	bill := k.e.Prices.Charge(rec.Model, rec.UpstreamModel, k.cs.cand.Channel, rec.Usage, nil)
	bill.Apply(&rec)
	if err := k.w.Checkpoint(&rec, k.cs.reserved); err != nil {
		k.e.Log.Warn("stream checkpoint failed", "request_id", rec.RequestID, "err", err)
	}
	k.last, k.lastTokens = now, tokens
}
