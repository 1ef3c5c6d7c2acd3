package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"switchboard/internal/gateway"
	"switchboard/internal/gatewaytest"
)

const e2eBudgetKey = "sk-e2e-budget-0123456789abc"

// TestBudgetHoldsUnderConcurrency fires 300 concurrent calls at a key whose
// budget covers about five: on SQLite with one node, and on PostgreSQL +
// Redis with two nodes sharing the database. The final spend never exceeds
// the budget, and it must be exactly what the successful calls cost.
func TestBudgetHoldsUnderConcurrency(t *testing.T) {
	// 10 prompt + 100 completion tokens of gpt-4o-mini ($0.15 / $0.60 per
	// Mtok) = 61,500 nano-USD a call. max_tokens 100 keeps the worst-case
	// reservation close to that, so several calls can hold budget at once.
	const (
		callCost = 10*150 + 100*600
		calls    = 300
	)
	budgetUSD := fmt.Sprintf("%.7f", float64(5*callCost)/1e9)
	for _, tc := range []struct {
		name  string
		nodes int
	}{
		{"sqlite", 1},
		{"postgres+redis", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if testing.Short() {
				t.Skip("skipping process end-to-end test in -short mode")
			}
			dir := t.TempDir()
			storage := ""
			var dsn string
			if tc.nodes == 1 {
				dsn = "sqlite://" + filepath.Join(dir, "sb.db")
				storage = "  database: " + dsn
			} else {
				dsn = e2ePostgresDB(t)
				storage = "  database: " + dsn + "\n" + e2eRedisStorage(t)
			}
			e2eBinary(t)
			up := gatewaytest.NewUpstream(t, gatewaytest.OpenAIChat{
				Text: "a short answer", PromptTokens: 10, CompletionTokens: 100, ChunkDelay: 2 * time.Millisecond,
			}.Handler())
			cfg := e2eNodeConfig(up.URL, storage, `  - name: budgeted
    key: `+e2eBudgetKey+`
    models: ["*"]
    budget_usd: `+budgetUSD+`
`)
			var nodes []*e2eProc
			for i := range tc.nodes {
				// Each node gets its own working directory: its own spool.
				ndir := dir
				if tc.nodes > 1 {
					ndir = filepath.Join(dir, fmt.Sprintf("node%d", i))
				}
				nodes = append(nodes, startE2EProc(t, fmt.Sprintf("node%d", i), e2eMkdir(t, ndir), cfg))
			}

			client := e2eClient(t, calls)
			statuses := map[int]int{}
			var (
				mu    sync.Mutex
				wg    sync.WaitGroup
				start = make(chan struct{})
			)
			for i := range calls {
				wg.Go(func() {
					<-start
					// Two thirds at once; the rest trickle in while the
					// first answers settle, when freed headroom tempts.
					if i >= 2*calls/3 {
						time.Sleep(time.Duration(i-2*calls/3) * 10 * time.Millisecond)
					}
					n := nodes[i%len(nodes)]
					r := e2eChat(context.Background(), client, n.URL(), e2eBudgetKey, e2eChatBody("gpt-4o-mini", i%2 == 0, 100))
					mu.Lock()
					defer mu.Unlock()
					switch {
					case r.err != nil && r.status == 0:
						statuses[-1]++
						t.Errorf("call %d: %v", i, r.err)
					case r.status == http.StatusOK && !r.acked:
						statuses[-2]++
						t.Errorf("call %d: 200 but the answer was incomplete: %v", i, r.err)
					default:
						statuses[r.status]++
					}
				})
			}
			close(start)
			wg.Wait()
			t.Logf("statuses: %v", statuses)
			for st, n := range statuses {
				if st != http.StatusOK && st != http.StatusTooManyRequests {
					t.Errorf("%d calls answered %d; want only 200 or 429 (budget exhausted)", n, st)
				}
			}
			ok := statuses[http.StatusOK]
			if ok == 0 {
				t.Fatal("no call succeeded: the budget admitted nothing")
			}
			for _, n := range nodes {
				n.terminate(30 * time.Second)
			}

			st := e2eOpenStore(t, dsn)
			keys, err := st.ListKeys(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var key gateway.Key
			for _, k := range keys {
				if k.Name == "budgeted" {
					key = k
				}
			}
			if key.ID == 0 {
				t.Fatal("key budgeted not in the database")
			}
			recs, err := st.ListUsage(context.Background(), gateway.LedgerFilter{KeyID: key.ID})
			if err != nil {
				t.Fatal(err)
			}
			var billed, okRecs int64
			for _, r := range recs {
				billed += r.CostNanoUSD
				if r.Status == http.StatusOK {
					okRecs++
					if r.CostNanoUSD != callCost {
						t.Errorf("request %s cost %d, want %d", r.RequestID, r.CostNanoUSD, callCost)
					}
				}
			}
			t.Logf("budget %d, spent %d (%d calls of %d), reserved %d", key.BudgetNanoUSD, key.SpentNanoUSD, ok, callCost, key.ReservedNanoUSD)
			if key.SpentNanoUSD > key.BudgetNanoUSD {
				t.Errorf("spent %d overdraws the budget %d", key.SpentNanoUSD, key.BudgetNanoUSD)
			}
			if key.ReservedNanoUSD != 0 {
				t.Errorf("%d nano-USD still reserved after every call ended", key.ReservedNanoUSD)
			}
			if want := int64(ok) * callCost; key.SpentNanoUSD != want {
				t.Errorf("spent %d, but %d successful calls cost %d", key.SpentNanoUSD, ok, want)
			}
			if billed != key.SpentNanoUSD {
				t.Errorf("ledger bills %d, key spent %d", billed, key.SpentNanoUSD)
			}
			if okRecs != int64(ok) {
				t.Errorf("ledger has %d successful calls, clients saw %d", okRecs, ok)
			}
			// Every call that reached the upstream was billed: nothing ran free.
			if got := up.Count(); got != ok {
				t.Errorf("upstream served %d calls, %d succeeded", got, ok)
			}
		})
	}
}

// e2eMkdir creates dir (and parents) and returns it.
func e2eMkdir(t testing.TB, dir string) string {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	return dir
}
