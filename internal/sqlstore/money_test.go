package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/internal/gateway"
	"switchboard/internal/llm"
)

// The tests below run in runConformance, on every engine.

func hold(t *testing.T, s *Store, req gateway.HoldRequest) int64 {
	t.Helper()
	n, err := s.Hold(context.Background(), req)
	if err != nil {
		t.Fatalf("Hold(%+v): %v", req, err)
	}
	return n
}

func testHoldSequential(t *testing.T, s *Store) {
	ctx := context.Background()
	id := createKey(t, s, "holder", 1000).ID
	steps := []struct {
		name            string
		req             gateway.HoldRequest
		want            int64
		wantErr         error
		spent, reserved int64
	}{
		{"all or nothing fits", gateway.HoldRequest{RequestID: "h1", Amount: 600}, 600, nil, 0, 600},
		{"repeat returns the first hold", gateway.HoldRequest{RequestID: "h1", Amount: 900}, 600, nil, 0, 600},
		{"all or nothing refused", gateway.HoldRequest{RequestID: "h2", Amount: 500}, 0, gateway.ErrBudgetExceeded, 0, 600},
		{"lowered to what remains", gateway.HoldRequest{RequestID: "h3", Amount: 500, Min: 100}, 400, nil, 0, 1000},
		{"nothing remains", gateway.HoldRequest{RequestID: "h4", Amount: 10, Min: 1}, 0, gateway.ErrBudgetExceeded, 0, 1000},
		{"a free call needs no budget", gateway.HoldRequest{RequestID: "h5", Amount: 0}, 0, nil, 0, 1000},
		{"empty id", gateway.HoldRequest{Amount: 1}, 0, errAny, 0, 1000},
		{"negative", gateway.HoldRequest{RequestID: "h6", Amount: -1}, 0, errAny, 0, 1000},
	}
	for _, st := range steps {
		st.req.KeyID = id
		got, err := s.Hold(ctx, st.req)
		switch {
		case st.wantErr == errAny:
			if err == nil {
				t.Fatalf("%s: succeeded", st.name)
			}
		case st.wantErr != nil:
			wantErrIs(t, st.name, err, st.wantErr)
		case err != nil:
			t.Fatalf("%s: %v", st.name, err)
		}
		if got != st.want {
			t.Fatalf("%s: held %d, want %d", st.name, got, st.want)
		}
		wantCounters(t, s, id, st.spent, st.reserved)
	}
	if err := s.Settle(ctx, id, "h3", 300); err != nil {
		t.Fatal(err)
	}
	if got := hold(t, s, gateway.HoldRequest{KeyID: id, RequestID: "h3", Amount: 999}); got != 300 {
		t.Fatalf("Hold of a settled request = %d, want what it was charged", got)
	}
	wantCounters(t, s, id, 300, 600)
	// Keys without a budget hold nothing and afford everything.
	open := createKey(t, s, "open", 0).ID
	if got := hold(t, s, gateway.HoldRequest{KeyID: open, RequestID: "o1", Amount: 1 << 50}); got != 1<<50 {
		t.Fatalf("unlimited key held %d", got)
	}
	wantCounters(t, s, open, 0, 0)
	_, err := s.Hold(ctx, gateway.HoldRequest{KeyID: 99999, RequestID: "x", Amount: 1})
	wantErrIs(t, "missing key", err, gateway.ErrNotFound)
}

// testHoldNeverOverdraws: 64 concurrent calls whose worst case exceeds
// what is left lower their output to what their hold affords and cost at
// most what they held; the key's spend never passes its budget, at the end
// or at any moment a reader looks.
func testHoldNeverOverdraws(t *testing.T, s *Store) {
	ctx := context.Background()
	const (
		workers = 64
		budget  = int64(10_000_000)
		worst   = int64(1_000_000)
	)
	id := createKey(t, s, "never-overdrawn", budget).ID
	var (
		wg                sync.WaitGroup
		admitted, refused atomic.Int64
		stop              = make(chan struct{})
		peak              atomic.Int64
	)
	watch := make(chan struct{})
	go func() {
		defer close(watch)
		for {
			select {
			case <-stop:
				return
			default:
			}
			spent, reserved := counters(t, s, id)
			if spent+reserved > peak.Load() {
				peak.Store(spent + reserved)
			}
			time.Sleep(time.Millisecond)
		}
	}()
	for i := range workers {
		wg.Go(func() {
			req := fmt.Sprintf("w-%d", i)
			held, err := s.Hold(ctx, gateway.HoldRequest{KeyID: id, RequestID: req, Amount: worst, Min: worst / 10})
			if errors.Is(err, gateway.ErrBudgetExceeded) {
				refused.Add(1)
				return
			}
			if err != nil {
				t.Error(err)
				return
			}
			admitted.Add(1)
			// The call costs between half its hold and all of it.
			cost := held/2 + rand.Int64N(held/2+1)
			time.Sleep(time.Duration(i%4) * time.Millisecond)
			if err := s.Settle(ctx, id, req, cost); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	close(stop)
	<-watch
	spent, reserved := counters(t, s, id)
	if reserved != 0 {
		t.Fatalf("reserved = %d after every call settled", reserved)
	}
	if spent > budget || peak.Load() > budget {
		t.Fatalf("budget %d overdrawn: spent %d, peak spent+reserved %d", budget, spent, peak.Load())
	}
	if admitted.Load() < 10 || admitted.Load()+refused.Load() != workers {
		t.Fatalf("admitted %d, refused %d", admitted.Load(), refused.Load())
	}
}

func testBudgetPeriods(t *testing.T, s *Store) {
	ctx := context.Background()
	s.nodeClock = true
	// Wednesday 2026-03-04 23:00 UTC.
	now := time.Date(2026, 3, 4, 23, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	mk := func(name string, p gateway.BudgetPeriod) int64 {
		k, err := s.CreateKey(ctx, gateway.Key{Name: name, Hash: "h-" + name, BudgetNanoUSD: 100, BudgetPeriod: p, Enabled: true})
		if err != nil {
			t.Fatal(err)
		}
		return k.ID
	}
	ids := map[gateway.BudgetPeriod]int64{}
	for _, p := range gateway.BudgetPeriods {
		ids[p] = mk(string(p), p)
		if err := s.Settle(ctx, ids[p], "first-"+string(p), 100); err != nil {
			t.Fatal(err)
		}
		_, err := s.Hold(ctx, gateway.HoldRequest{KeyID: ids[p], RequestID: "refused-" + string(p), Amount: 1})
		wantErrIs(t, "exhausted "+string(p), err, gateway.ErrBudgetExceeded)
	}
	if k := mustKey(t, s, ids[gateway.BudgetDaily]); k.BudgetPeriod != gateway.BudgetDaily || !k.PeriodStart.Equal(time.Date(2026, 3, 4, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("daily key = %+v", k)
	}
	steps := []struct {
		at    time.Time
		fresh map[gateway.BudgetPeriod]bool // spend starts again
	}{
		{time.Date(2026, 3, 5, 0, 0, 0, 1000, time.UTC), map[gateway.BudgetPeriod]bool{gateway.BudgetDaily: true}},
		{time.Date(2026, 3, 9, 0, 0, 1, 0, time.UTC), map[gateway.BudgetPeriod]bool{gateway.BudgetDaily: true, gateway.BudgetWeekly: true}},
		{time.Date(2026, 4, 1, 0, 0, 1, 0, time.UTC), map[gateway.BudgetPeriod]bool{gateway.BudgetDaily: true, gateway.BudgetWeekly: true, gateway.BudgetMonthly: true}},
	}
	for i, st := range steps {
		now = st.at
		for _, p := range gateway.BudgetPeriods {
			id := ids[p]
			// The key reads as reset before any call touches it.
			if k := mustKey(t, s, id); (k.SpentNanoUSD == 0) != st.fresh[p] {
				t.Fatalf("step %d %s: read spent %d, fresh %v", i, p, k.SpentNanoUSD, st.fresh[p])
			}
			req := fmt.Sprintf("s%d-%s", i, p)
			_, err := s.Hold(ctx, gateway.HoldRequest{KeyID: id, RequestID: req, Amount: 100})
			if !st.fresh[p] {
				wantErrIs(t, fmt.Sprintf("step %d %s", i, p), err, gateway.ErrBudgetExceeded)
				continue
			}
			if err != nil {
				t.Fatalf("step %d %s: %v", i, p, err)
			}
			if err := s.Settle(ctx, id, req, 100); err != nil {
				t.Fatal(err)
			}
			wantCounters(t, s, id, 100, 0)
		}
	}
	// A hold in flight across midnight keeps its reservation; its charge
	// lands in the new period.
	now = time.Date(2026, 4, 1, 23, 59, 0, 0, time.UTC)
	d := mk("midnight", gateway.BudgetDaily)
	hold(t, s, gateway.HoldRequest{KeyID: d, RequestID: "m1", Amount: 60})
	now = now.Add(2 * time.Minute)
	if err := s.Settle(ctx, d, "m1", 50); err != nil {
		t.Fatal(err)
	}
	wantCounters(t, s, d, 50, 0)
}

// testBudgetPeriodDatabaseClock: on PostgreSQL the period is judged by the
// database's clock, whatever the node's says.
func testBudgetPeriodDatabaseClock(t *testing.T, s *Store) {
	ctx := context.Background()
	k, err := s.CreateKey(ctx, gateway.Key{Name: "dbclock", Hash: "h-dbclock", BudgetNanoUSD: 100, BudgetPeriod: gateway.BudgetDaily, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Settle(ctx, k.ID, "spend", 100); err != nil {
		t.Fatal(err)
	}
	// The spend belongs to a day long gone.
	if _, err := s.w.ExecContext(ctx, s.q(`UPDATE keys SET period_start = ? WHERE id = ?`), s.ts(time.Now().AddDate(0, 0, -3)), k.ID); err != nil {
		t.Fatal(err)
	}
	if s.d == dialectPostgres {
		s.now = func() time.Time { return time.Now().AddDate(0, 0, -5) } // a node clock far behind
	}
	if got := hold(t, s, gateway.HoldRequest{KeyID: k.ID, RequestID: "after", Amount: 100}); got != 100 {
		t.Fatalf("held %d in the new period", got)
	}
}

func testReleaseNode(t *testing.T, s *Store) {
	ctx := context.Background()
	id := createKey(t, s, "nodes", 10_000).ID
	if _, err := s.ReleaseNode(ctx); err == nil {
		t.Fatal("ReleaseNode without a node id succeeded")
	}
	s.nodeID = "node-a"
	hold(t, s, gateway.HoldRequest{KeyID: id, RequestID: "a-call", Amount: 100})
	hold(t, s, gateway.HoldRequest{KeyID: id, RequestID: "a-task", Amount: 1000, Kind: gateway.HoldTask, Expires: time.Now().Add(6 * time.Hour)})
	if err := s.Reserve(ctx, id, "a-legacy", 10); err != nil {
		t.Fatal(err)
	}
	s.nodeID = "node-b"
	hold(t, s, gateway.HoldRequest{KeyID: id, RequestID: "b-call", Amount: 200})
	wantCounters(t, s, id, 0, 1310)

	s.nodeID = "node-a" // node a starts again
	n, err := s.ReleaseNode(ctx)
	if err != nil || n != 2 {
		t.Fatalf("ReleaseNode = %d, %v; want a's two call holds", n, err)
	}
	wantCounters(t, s, id, 0, 1200)
	if n, _ := s.ReleaseNode(ctx); n != 0 {
		t.Fatalf("second ReleaseNode released %d", n)
	}
	// The task settles later on whatever node polls it.
	if err := s.Settle(ctx, id, "a-task", 700); err != nil {
		t.Fatal(err)
	}
	wantCounters(t, s, id, 700, 200)
}

func testStaleSweepSparesTasks(t *testing.T, s *Store) {
	ctx := context.Background()
	id := createKey(t, s, "sweep", 10_000).ID
	start := time.Now()
	s.now = func() time.Time { return start }
	hold(t, s, gateway.HoldRequest{KeyID: id, RequestID: "call", Amount: 100})
	hold(t, s, gateway.HoldRequest{KeyID: id, RequestID: "task", Amount: 1000, Kind: gateway.HoldTask, Expires: start.Add(5 * time.Hour)})
	hold(t, s, gateway.HoldRequest{KeyID: id, RequestID: "short", Amount: 10, Expires: start.Add(time.Minute)})

	s.now = func() time.Time { return start.Add(time.Hour) }
	n, err := s.ReleaseStale(ctx, 30*time.Minute)
	if err != nil || n != 2 { // the old call hold and the expired one
		t.Fatalf("ReleaseStale after 1h = %d, %v; want 2", n, err)
	}
	wantCounters(t, s, id, 0, 1000)
	s.now = func() time.Time { return start.Add(5*time.Hour + time.Second) }
	if n, err := s.ReleaseStale(ctx, 30*time.Minute); err != nil || n != 1 {
		t.Fatalf("ReleaseStale after the task's expiry = %d, %v", n, err)
	}
	wantCounters(t, s, id, 0, 0)
}

func testUsageReports(t *testing.T, s *Store) {
	ctx := context.Background()
	base := time.Date(2026, 5, 1, 10, 30, 0, 0, time.UTC)
	var recs []gateway.UsageRecord
	for i := range 40 {
		r := gateway.UsageRecord{
			RequestID: fmt.Sprintf("u-%02d", i), Time: base.Add(time.Duration(i) * 20 * time.Minute),
			KeyID: int64(1 + i%2), KeyName: fmt.Sprintf("key%d", 1+i%2),
			Model: []string{"gpt-4o", "claude", "gemini", "gpt-4o"}[i%4], ChannelID: int64(10 + i%3), ChannelName: fmt.Sprintf("ch%d", i%3),
			Status: 200, UsageSource: gateway.UsageFromUpstream,
			Usage:       llm.Usage{InputTokens: 100, OutputTokens: 10, CachedInputTokens: 5, ReasoningTokens: 1, CacheWrite1hTokens: 2, WebSearchRequests: 1},
			CostNanoUSD: 700, PriceNanoUSD: 1000,
		}
		if i%5 == 0 {
			r.Status = 502
		}
		if i%7 == 0 {
			r.UsageSource = gateway.UsageEstimated
		}
		if i == 39 {
			r.UsageSource = gateway.UsageCheckpoint
		}
		if i%10 == 3 {
			r.Unpriced, r.CostUnknown, r.PriceNanoUSD, r.CostNanoUSD = true, true, 0, 0
		}
		if i == 1 {
			r.Units = []gateway.Metered{{Unit: "image:1024x1024:hd", Count: 2}, {Unit: "video_second", Count: 8}}
		}
		recs = append(recs, r)
	}
	if err := s.InsertUsage(ctx, recs); err != nil {
		t.Fatal(err)
	}
	all, err := s.ListUsage(ctx, gateway.LedgerFilter{})
	if err != nil || len(all) != 40 {
		t.Fatalf("ListUsage: %d, %v", len(all), err)
	}
	if got := all[38]; got.Units == nil || got.Units[1].Count != 8 || got.Usage.CacheWrite1hTokens != 2 || got.PriceNanoUSD != 1000 {
		t.Fatalf("round trip of the new fields: %+v", got)
	}
	if got := all[36]; !got.Unpriced || !got.CostUnknown {
		t.Fatalf("flags lost: %+v", got)
	}

	count := func(f gateway.LedgerFilter) int {
		n := 0
		if err := s.EachUsage(ctx, f, func(*gateway.UsageRecord) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	filters := []struct {
		f    gateway.LedgerFilter
		want int
	}{
		{gateway.LedgerFilter{Model: "gpt-4o"}, 20},
		{gateway.LedgerFilter{Model: "gpt-4o", KeyID: 1}, 10},
		{gateway.LedgerFilter{Model: "claude", KeyID: 1}, 0},
		{gateway.LedgerFilter{ChannelID: 11}, 13},
		{gateway.LedgerFilter{StatusMin: 400}, 8},
		{gateway.LedgerFilter{StatusMax: 399}, 32},
		{gateway.LedgerFilter{StatusMin: 200, StatusMax: 200}, 32},
		{gateway.LedgerFilter{Since: base.Add(time.Hour), Until: base.Add(2 * time.Hour)}, 3},
		{gateway.LedgerFilter{Model: "nope"}, 0},
	}
	for _, ft := range filters {
		if got := count(ft.f); got != ft.want {
			t.Errorf("EachUsage(%+v) = %d records, want %d", ft.f, got, ft.want)
		}
	}

	// Pages of 7 walk every record once, newest first, including records
	// that share a timestamp.
	same := []gateway.UsageRecord{usageRec("tie-1", 3, base), usageRec("tie-2", 3, base), usageRec("tie-3", 3, base)}
	if err := s.InsertUsage(ctx, same); err != nil {
		t.Fatal(err)
	}
	var seen []string
	f := gateway.LedgerFilter{Limit: 7}
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
		p, err := s.UsagePage(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Records {
			seen = append(seen, r.RequestID)
		}
		if p.Next == "" {
			break
		}
		f.Cursor = p.Next
	}
	if len(seen) != 43 || seen[0] != "u-39" || !strings.HasPrefix(seen[42], "tie-") && seen[42] != "u-00" {
		t.Fatalf("pages saw %d records: %v", len(seen), seen)
	}
	uniq := map[string]bool{}
	for _, id := range seen {
		if uniq[id] {
			t.Fatalf("record %s on two pages", id)
		}
		uniq[id] = true
	}
	if _, err := s.UsagePage(ctx, gateway.LedgerFilter{Cursor: "garbage"}); err == nil {
		t.Fatal("a bad cursor was accepted")
	}

	f2 := gateway.LedgerFilter{Until: base.Add(24 * time.Hour), KeyID: 0}
	tot, err := s.SumUsage(ctx, gateway.LedgerFilter{Model: "gpt-4o"})
	if err != nil || len(tot) != 1 {
		t.Fatalf("SumUsage: %v, %v", tot, err)
	}
	g := tot[0].UsageTotals
	want := oracleTotals(append(recs, same...), gateway.LedgerFilter{Model: "gpt-4o"})
	if g != want || want.Unpriced == 0 || want.Estimated == 0 {
		t.Fatalf("totals =\n%+v\nwant\n%+v", g, want)
	}
	byKey, err := s.SumUsage(ctx, f2, gateway.GroupByKey)
	if err != nil || len(byKey) != 3 || byKey[0].KeyName == "" || byKey[0].PriceNanoUSD < byKey[1].PriceNanoUSD {
		t.Fatalf("by key = %+v, %v", byKey, err)
	}
	byDay, err := s.SumUsage(ctx, gateway.LedgerFilter{KeyID: 1}, gateway.GroupByDay, gateway.GroupByModel)
	if err != nil {
		t.Fatal(err)
	}
	if len(byDay) == 0 || !byDay[0].Bucket.Equal(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)) || byDay[0].Model == "" {
		t.Fatalf("by day and model = %+v", byDay)
	}
	var n int64
	for _, g := range byDay {
		n += g.Requests
	}
	if n != 20 {
		t.Fatalf("by day covers %d requests of key 1, want 20", n)
	}
	byHour, err := s.SumUsage(ctx, gateway.LedgerFilter{Since: base, Until: base.Add(2 * time.Hour), Model: "gpt-4o"}, gateway.GroupByHour, gateway.GroupByChannel)
	if err != nil || len(byHour) == 0 || byHour[0].Bucket.Hour() != 10 || byHour[0].ChannelName == "" {
		t.Fatalf("by hour = %+v, %v", byHour, err)
	}
	if _, err := s.SumUsage(ctx, gateway.LedgerFilter{}, "week"); err == nil {
		t.Fatal("unknown grouping accepted")
	}
	empty, err := s.SumUsage(ctx, gateway.LedgerFilter{Model: "none"})
	if err != nil || len(empty) != 1 || empty[0].Requests != 0 {
		t.Fatalf("totals of nothing = %+v, %v", empty, err)
	}
}
