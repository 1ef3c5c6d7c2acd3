package relay

import (
	"context"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"switchboard/internal/gateway"
	"switchboard/internal/llm"
	"switchboard/internal/tokencount"
)

// finish computes cost and writes the ledger record; it must run before
// the last byte of a successful answer is written. The work it does
// outlives the client's request (a client that hung up is still billed),
// so it runs on a context of its own, bounded by SettleTimeout.
func (e *Engine) finish(ctx context.Context, cs *callState, res result) {
	rec := &cs.rec
	cs.measureOverhead()
	rec.Latency = time.Since(cs.call.Start)
	rec.TTFT = res.ttft
	rec.Attempts = res.attempts
	rec.Usage = res.usage
	rec.Units = res.units
	if res.source != "" {
		rec.UsageSource = res.source
	}
	if rec.Status == 0 {
		rec.Status = http.StatusOK
	}
	defer e.observer().Finished(cs.call, rec)
	if cs.free {
		return
	}
	if !res.usage.IsZero() || len(res.units) > 0 {
		// Cost is what the upstream charges for its model on this channel;
		// price is what the key pays (the ledger settles budgets with it).
		bill := e.Prices.Charge(rec.Model, rec.UpstreamModel, cs.cand.Channel, res.usage, res.units)
		bill.Apply(rec)
		if !bill.Priced || !bill.CostKnown {
			// Never price an unknown model at $0 silently: say so.
			rec.ErrorMessage = appendNote(rec.ErrorMessage, "no price known for model")
			e.warnUnpriced(rec)
		}
	}
	settleCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.settleTimeout())
	defer cancel()
	if e.Limiter != nil && res.usage.Total() > 0 {
		e.Limiter.AddTokens(settleCtx, *cs.call.Key, res.usage.Total())
	}
	if err := e.Ledger.Record(rec, cs.reserved); err != nil {
		e.Log.Error("ledger record failed", "request_id", rec.RequestID, "err", err)
		if cs.reserved {
			_ = e.Budget.Release(settleCtx, rec.KeyID, rec.RequestID)
		}
	}
}

func (e *Engine) settleTimeout() time.Duration {
	if e.SettleTimeout > 0 {
		return e.SettleTimeout
	}
	return 10 * time.Second
}

// unpricedWarned remembers models already warned about, so an unpriced
// model logs once rather than on every call; unpricedCount bounds it,
// since glob channels let clients choose upstream model names.
var (
	unpricedWarned sync.Map
	unpricedCount  atomic.Int64
)

func (e *Engine) warnUnpriced(rec *gateway.UsageRecord) {
	if unpricedCount.Load() >= 1000 {
		return
	}
	if _, seen := unpricedWarned.LoadOrStore(rec.UpstreamModel, true); !seen {
		unpricedCount.Add(1)
		e.Log.Warn("no price for model; cost recorded as 0 and noted in the ledger (add it under prices:)", "model", rec.Model, "upstream_model", rec.UpstreamModel)
	}
}

func appendNote(s, note string) string {
	if s == "" {
		return note
	}
	return s + "; " + note
}

// estimateUsage counts the call's prompt with the tokenizer and takes
// output as counted. Only used when the upstream reported no usage.
func estimateUsage(c *Call, outputTokens int64) llm.Usage {
	if c.hub != nil {
		return llm.Usage{InputTokens: tokencount.Request(c.hub), OutputTokens: outputTokens}
	}
	return llm.Usage{InputTokens: tokencount.RequestTokens(c.Body.JSON), OutputTokens: outputTokens}
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
