package main

import (
	"context"
	"testing"
	"time"

	"switchboard/internal/gateway"
)

// TestLedgerRetentionPrunesInTheBackground: with ledger.retention set, the
// node's pruner deletes raw usage rows past it while serving, and the
// totals of their hours and days stay in the reports.
func TestLedgerRetentionPrunesInTheBackground(t *testing.T) {
	t.Parallel()
	n := startNode(t, mxSimulatorConfig+`
ledger:
  retention: 24h
  prune_interval: 50ms
`)
	ctx := context.Background()
	old := time.Now().Add(-72 * time.Hour).Truncate(time.Hour)
	recs := []gateway.UsageRecord{
		{RequestID: "old-1", Time: old.Add(time.Minute), KeyID: 1, KeyName: "alice", Model: "sim-1", Status: 200, PriceNanoUSD: 100},
		{RequestID: "old-2", Time: old.Add(2 * time.Minute), KeyID: 1, KeyName: "alice", Model: "sim-1", Status: 200, PriceNanoUSD: 200},
		{RequestID: "new-1", Time: time.Now(), KeyID: 1, KeyName: "alice", Model: "sim-1", Status: 200, PriceNanoUSD: 400},
	}
	if err := n.app.store.InsertUsage(ctx, recs); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		left, err := n.app.store.ListUsage(ctx, gateway.LedgerFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(left) == 1 && left[0].RequestID == "new-1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("raw rows past the retention still there: %d rows", len(left))
		}
		time.Sleep(20 * time.Millisecond)
	}
	sum, err := n.app.store.SumUsage(ctx, gateway.LedgerFilter{Since: old.Add(-24 * time.Hour)}, gateway.GroupByDay)
	if err != nil {
		t.Fatal(err)
	}
	var reqs, price int64
	for _, g := range sum {
		reqs += g.Requests
		price += g.PriceNanoUSD
	}
	if reqs != 3 || price != 700 {
		t.Fatalf("totals after pruning: %d requests, %d nano-USD; want 3 and 700", reqs, price)
	}
}
