package relay

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/internal/gateway"
	"switchboard/internal/pricing"
	"switchboard/internal/route"
)

// checkpointLedger records final records and checkpoints.
type checkpointLedger struct {
	nopLedger
	mu          sync.Mutex
	checkpoints []gateway.UsageRecord
	settles     []bool
}

func (l *checkpointLedger) Checkpoint(rec *gateway.UsageRecord, settle bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.checkpoints = append(l.checkpoints, *rec)
	l.settles = append(l.settles, settle)
	return nil
}

// A stream checkpoints what it delivered as it goes, priced, settling the
// hold should the process die, and at a bounded rate.
func TestStreamCheckpoints(t *testing.T) {
	t.Parallel()
	chunk := strings.Repeat("word ", 600)
	up := newTestUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		for i := range 4 {
			time.Sleep(300 * time.Millisecond)
			fmt.Fprintf(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":%q},\"finish_reason\":null}]}\n\n", fmt.Sprint(i, " ", chunk))
			_ = rc.Flush()
		}
		fmt.Fprint(w, "data: {\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n")
	})
	rt := route.New(nil)
	rt.SetChannels([]gateway.Channel{{ID: 1, Name: "oa", Type: gateway.ChannelOpenAI, BaseURL: up.URL, APIKeys: []string{"k"},
		Models: []string{"gpt-4o-mini"}, Weight: 1, Enabled: true}})
	led := &checkpointLedger{}
	e := &Engine{Router: rt, Budget: &grantingBudget{}, Prices: pricing.Builtin(), Ledger: led, Specs: testSpecs,
		Client: &http.Client{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if _, err := serveKey(e, budgetKey, `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"go"}]}`); err != nil {
		t.Fatal(err)
	}
	led.mu.Lock()
	defer led.mu.Unlock()
	if len(led.checkpoints) == 0 || len(led.checkpoints) > 4 {
		t.Fatalf("%d checkpoints for 4 chunks of 600 tokens 300ms apart; want 1 to 4", len(led.checkpoints))
	}
	prev := int64(0)
	for i, cp := range led.checkpoints {
		if cp.Usage.OutputTokens < prev+512 || cp.PriceNanoUSD <= 0 || cp.Status != http.StatusBadGateway || !led.settles[i] {
			t.Errorf("checkpoint %d: output %d (previous %d), price %d, status %d, settle %v", i, cp.Usage.OutputTokens, prev, cp.PriceNanoUSD, cp.Status, led.settles[i])
		}
		prev = cp.Usage.OutputTokens
	}
}
