package sqlstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"switchboard/internal/gateway"
)

func TestRollupsSQLite(t *testing.T)   { testRollups(t, openSQLite(t)) }
func TestRollupsPostgres(t *testing.T) { testRollups(t, openPostgres(t)) }

// oracleTotals sums recs matching f in Go, the way SumUsage must.
func oracleTotals(recs []gateway.UsageRecord, f gateway.LedgerFilter) gateway.UsageTotals {
	var w gateway.UsageTotals
	for _, r := range recs {
		if (f.KeyID != 0 && r.KeyID != f.KeyID) || (f.Model != "" && r.Model != f.Model) ||
			(f.ChannelID != 0 && r.ChannelID != f.ChannelID) ||
			(!f.Since.IsZero() && r.Time.Before(f.Since)) || (!f.Until.IsZero() && !r.Time.Before(f.Until)) ||
			(f.StatusMin > 0 && r.Status < f.StatusMin) || (f.StatusMax > 0 && r.Status > f.StatusMax) {
			continue
		}
		w.Requests++
		if r.Status >= 400 {
			w.Errors++
		}
		w.InputTokens += r.Usage.InputTokens
		w.CachedInputTokens += r.Usage.CachedInputTokens
		w.OutputTokens += r.Usage.OutputTokens
		w.ReasoningTokens += r.Usage.ReasoningTokens
		w.CostNanoUSD += r.CostNanoUSD
		w.PriceNanoUSD += r.PriceNanoUSD
		if r.UsageSource == gateway.UsageEstimated || r.UsageSource == gateway.UsageCheckpoint {
			w.Estimated++
		}
		if r.Unpriced {
			w.Unpriced++
		}
		if r.CostUnknown {
			w.CostUnknown++
		}
		w.Latency.Observe(r.Latency)
		if r.TTFT > 0 {
			w.TTFT.Observe(r.TTFT)
		}
	}
	return w
}

func testRollups(t *testing.T, s *Store) {
	ctx := context.Background()
	base := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(1, 2))
	var recs []gateway.UsageRecord
	// Four days, odd times, three keys, two models, two channels, some
	// errors, streams and estimated usage.
	for i := range 600 {
		r := usageRec(fmt.Sprintf("roll-%03d", i), int64(1+rng.IntN(3)), base.Add(time.Duration(rng.Int64N(int64(96*time.Hour)))))
		r.Model = []string{"gpt-4o", "claude"}[rng.IntN(2)]
		r.ChannelID = int64(1 + rng.IntN(2))
		r.Latency = time.Duration(rng.Int64N(int64(20 * time.Second)))
		r.TTFT = 0
		if rng.IntN(2) == 0 {
			r.TTFT = r.Latency / 3
		}
		if rng.IntN(10) == 0 {
			r.Status = 500 + rng.IntN(4)
		}
		if rng.IntN(7) == 0 {
			r.UsageSource = gateway.UsageEstimated
		}
		r.Unpriced = rng.IntN(11) == 0
		r.PriceNanoUSD = rng.Int64N(1_000_000)
		recs = append(recs, r)
	}
	// Several batches, one replayed: a skipped record is not counted twice.
	for start := 0; start < len(recs); start += 150 {
		if err := s.InsertUsage(ctx, recs[start:start+150]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.InsertUsage(ctx, recs[100:200]); err != nil {
		t.Fatal(err)
	}
	filters := []struct {
		name string
		f    gateway.LedgerFilter
	}{
		{"all", gateway.LedgerFilter{}},
		{"aligned days", gateway.LedgerFilter{Since: base.Add(24 * time.Hour), Until: base.Add(72 * time.Hour)}},
		{"ragged", gateway.LedgerFilter{Since: base.Add(5*time.Hour + 17*time.Minute), Until: base.Add(70*time.Hour + 3*time.Second)}},
		{"inside one hour", gateway.LedgerFilter{Since: base.Add(30*time.Hour + 5*time.Minute), Until: base.Add(30*time.Hour + 50*time.Minute)}},
		{"open end", gateway.LedgerFilter{Since: base.Add(49*time.Hour + 30*time.Minute)}},
		{"open start", gateway.LedgerFilter{Until: base.Add(49*time.Hour + 30*time.Minute)}},
		{"key model channel", gateway.LedgerFilter{KeyID: 2, Model: "claude", ChannelID: 1, Since: base.Add(3 * time.Hour)}},
		{"errors only", gateway.LedgerFilter{StatusMin: 400, Since: base.Add(90 * time.Minute)}},
	}
	check := func(stage string) {
		t.Helper()
		for _, c := range filters {
			for _, by := range [][]gateway.UsageGroupBy{nil, {gateway.GroupByHour}, {gateway.GroupByDay, gateway.GroupByKey}, {gateway.GroupByModel, gateway.GroupByChannel}} {
				groups, err := s.SumUsage(ctx, c.f, by...)
				if err != nil {
					t.Fatalf("%s %s by %v: %v", stage, c.name, by, err)
				}
				var got gateway.UsageTotals
				for _, g := range groups {
					got.Requests += g.Requests
					got.Errors += g.Errors
					got.InputTokens += g.InputTokens
					got.CachedInputTokens += g.CachedInputTokens
					got.OutputTokens += g.OutputTokens
					got.ReasoningTokens += g.ReasoningTokens
					got.CostNanoUSD += g.CostNanoUSD
					got.PriceNanoUSD += g.PriceNanoUSD
					got.Estimated += g.Estimated
					got.Unpriced += g.Unpriced
					got.CostUnknown += g.CostUnknown
					got.Latency.Add(g.Latency)
					got.TTFT.Add(g.TTFT)
				}
				if want := oracleTotals(recs, c.f); got != want {
					t.Fatalf("%s %s by %v:\n got %+v\nwant %+v", stage, c.name, by, got, want)
				}
			}
		}
	}
	check("maintained")
	if err := s.RebuildRollups(ctx); err != nil {
		t.Fatal(err)
	}
	check("rebuilt")

	// Per-hour groups carry their bucket, and a group's totals are its own.
	hours, err := s.SumUsage(ctx, gateway.LedgerFilter{Since: base.Add(10 * time.Hour), Until: base.Add(16 * time.Hour), KeyID: 1}, gateway.GroupByHour)
	if err != nil || len(hours) < 2 {
		t.Fatalf("hours: %+v, %v", hours, err)
	}
	for i, h := range hours {
		if i > 0 && !hours[i-1].Bucket.Before(h.Bucket) {
			t.Fatalf("hours out of order: %s then %s", hours[i-1].Bucket, h.Bucket)
		}
		if h.Bucket.Before(base.Add(10*time.Hour)) || !h.Bucket.Before(base.Add(16*time.Hour)) || h.Bucket.Minute() != 0 {
			t.Fatalf("hour bucket %s outside the range", h.Bucket)
		}
		if want := oracleTotals(recs, gateway.LedgerFilter{Since: h.Bucket, Until: h.Bucket.Add(time.Hour), KeyID: 1}); h.UsageTotals != want {
			t.Fatalf("hour %s: %+v, want %+v", h.Bucket, h.UsageTotals, want)
		}
	}

	// Pruning raw rows keeps the totals of whole hours.
	cut := base.Add(48 * time.Hour)
	var pruned int64
	for {
		n, err := s.PruneUsage(ctx, cut, 37)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		pruned += n
	}
	if want := oracleTotals(recs, gateway.LedgerFilter{Until: cut}).Requests; pruned != want {
		t.Fatalf("pruned %d rows, want %d", pruned, want)
	}
	left, err := s.ListUsage(ctx, gateway.LedgerFilter{Until: cut})
	if err != nil || len(left) != 0 {
		t.Fatalf("raw rows before the cut after pruning: %d, %v", len(left), err)
	}
	all, err := s.SumUsage(ctx, gateway.LedgerFilter{Since: base, Until: base.Add(96 * time.Hour)})
	if err != nil || all[0].UsageTotals != oracleTotals(recs, gateway.LedgerFilter{}) {
		t.Fatalf("totals after pruning raw rows = %+v, %v", all, err)
	}
	// Pruning hourly totals leaves the daily ones.
	for {
		n, err := s.PruneRollups(ctx, gateway.GroupByHour, cut, 5)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	days, err := s.SumUsage(ctx, gateway.LedgerFilter{Until: cut}, gateway.GroupByDay)
	if err != nil || len(days) != 2 || days[0].Requests+days[1].Requests != pruned {
		t.Fatalf("days after pruning hours = %+v, %v", days, err)
	}
	hoursLeft, err := s.SumUsage(ctx, gateway.LedgerFilter{Until: cut}, gateway.GroupByHour)
	if err != nil || len(hoursLeft) != 0 {
		t.Fatalf("hours before the cut after pruning = %+v, %v", hoursLeft, err)
	}
	if _, err := s.PruneRollups(ctx, gateway.GroupByModel, cut, 5); err == nil {
		t.Fatal("pruning a grain that is no time accepted")
	}
}

func TestSpans(t *testing.T) {
	d := func(h, m int) time.Time {
		return time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
	}
	var z time.Time
	cases := []struct {
		name         string
		since, until time.Time
		days         bool
		want         []span
	}{
		{"open", z, z, true, []span{{grainDay, z, z}}},
		{"open hours", z, z, false, []span{{grainHour, z, z}}},
		{"within an hour", d(1, 5), d(1, 55), true, []span{{"", d(1, 5), d(1, 55)}}},
		{"across one boundary", d(1, 5), d(2, 5), true, []span{{"", d(1, 5), d(2, 5)}}},
		{"ragged hours", d(1, 5), d(5, 5), true, []span{{"", d(1, 5), d(2, 0)}, {grainHour, d(2, 0), d(5, 0)}, {"", d(5, 0), d(5, 5)}}},
		{"days inside", d(20, 30), d(75, 0), true, []span{{"", d(20, 30), d(21, 0)}, {grainHour, d(21, 0), d(24, 0)}, {grainDay, d(24, 0), d(72, 0)}, {grainHour, d(72, 0), d(75, 0)}}},
		{"days inside, by hour", d(20, 30), d(75, 0), false, []span{{"", d(20, 30), d(21, 0)}, {grainHour, d(21, 0), d(75, 0)}}},
		{"open start", z, d(30, 10), true, []span{{grainDay, z, d(24, 0)}, {grainHour, d(24, 0), d(30, 0)}, {"", d(30, 0), d(30, 10)}}},
		{"open end", d(30, 10), z, true, []span{{"", d(30, 10), d(31, 0)}, {grainHour, d(31, 0), d(48, 0)}, {grainDay, d(48, 0), z}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := spans(c.since, c.until, c.days)
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Fatalf("spans =\n%v\nwant\n%v", got, c.want)
			}
		})
	}
}

func TestRollupsConcurrentSQLite(t *testing.T)   { testRollupsConcurrent(t, openSQLite(t)) }
func TestRollupsConcurrentPostgres(t *testing.T) { testRollupsConcurrent(t, openPostgres(t)) }

// testRollupsConcurrent has several writers (nodes) add to the same
// rollup rows at once, some batches replayed: the totals stay exact and no
// writer deadlocks another.
func testRollupsConcurrent(t *testing.T, s *Store) {
	ctx := context.Background()
	base := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	const writers, batches, perBatch = 4, 8, 40
	all := make([][]gateway.UsageRecord, writers)
	for w := range writers {
		for i := range batches * perBatch {
			r := usageRec(fmt.Sprintf("c-%d-%04d", w, i), int64(1+i%3), base.Add(time.Duration((i*7919+w*131)%(6*60))*time.Minute))
			r.Model = []string{"a", "b"}[i%2]
			r.ChannelID = int64(1 + (i/2)%2)
			all[w] = append(all[w], r)
		}
	}
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			var err error
			for b := 0; b < batches && err == nil; b++ {
				batch := all[w][b*perBatch : (b+1)*perBatch]
				if err = s.InsertUsage(ctx, batch); err == nil && b%3 == 0 {
					err = s.InsertUsage(ctx, batch) // a replay counts nothing
				}
			}
			errs <- err
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var recs []gateway.UsageRecord
	for _, w := range all {
		recs = append(recs, w...)
	}
	for _, f := range []gateway.LedgerFilter{{}, {Since: base.Add(time.Hour), Until: base.Add(5 * time.Hour)}, {KeyID: 2, Model: "b"}} {
		got, err := s.SumUsage(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		if want := oracleTotals(recs, f); got[0].UsageTotals != want {
			t.Fatalf("filter %+v:\n got %+v\nwant %+v", f, got[0].UsageTotals, want)
		}
	}
}

func TestEncodeTried(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want string
	}{
		{nil, ""},
		{[]string{"a: 503 down"}, "a: 503 down"},
		{[]string{"a: 503 two\nlines", "b: 429 slow"}, "a: 503 two lines\nb: 429 slow"},
	} {
		if got := encodeTried(c.in); got != c.want {
			t.Errorf("encodeTried(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
