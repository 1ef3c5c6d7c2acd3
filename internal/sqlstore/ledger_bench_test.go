package sqlstore

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/internal/gateway"
)

// BenchmarkInsertUsageSQLite inserts the ledger flusher's full batch (1,024
// records) per op into a file-backed SQLite store.
func BenchmarkInsertUsageSQLite(b *testing.B) {
	s := openSQLite(b)
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	recs := make([]gateway.UsageRecord, 1024)
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		for i := range recs {
			n++
			recs[i] = usageRec(fmt.Sprintf("bench-%d", n), 1, base.Add(time.Duration(n)*time.Millisecond))
		}
		if err := s.InsertUsage(context.Background(), recs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
}

// BenchmarkUsageReports1M runs the admin usage queries against a SQLite
// ledger of a million synthetic records (50 keys, 20 models, 8 channels,
// 30 days): each op is one query as the usage API sends it. Building the
// ledger takes a while; the first sub-benchmark pays for it.
//
//	go test ./internal/sqlstore -run '^$' -bench UsageReports1M -benchtime 10x
func BenchmarkUsageReports1M(b *testing.B) {
	const rows = 1_000_000
	s := openSQLite(b)
	ctx := context.Background()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	step := 30 * 24 * time.Hour / rows
	start := time.Now()
	batch := make([]gateway.UsageRecord, 0, 4096)
	for i := range rows {
		r := usageRec(fmt.Sprintf("big-%07d", i), int64(1+i%50), base.Add(time.Duration(i)*step))
		r.Model = fmt.Sprintf("model-%02d", i%20)
		r.ChannelID = int64(1 + i%8)
		r.PriceNanoUSD = r.CostNanoUSD * 5 / 4
		if i%97 == 0 {
			r.Status = 500
		}
		batch = append(batch, r)
		if len(batch) == cap(batch) || i == rows-1 {
			if err := s.InsertUsage(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	b.Logf("inserted %d records in %s", rows, time.Since(start).Round(time.Millisecond))
	week := gateway.LedgerFilter{Since: base.Add(10 * 24 * time.Hour), Until: base.Add(17 * 24 * time.Hour)}
	withKey := week
	withKey.KeyID = 7
	withModel := week
	withModel.Model = "model-03"
	cases := []struct {
		name string
		run  func() error
	}{
		{"total-all", func() error { _, err := s.SumUsage(ctx, gateway.LedgerFilter{}); return err }},
		{"by-day-all", func() error { _, err := s.SumUsage(ctx, gateway.LedgerFilter{}, gateway.GroupByDay); return err }},
		{"by-model-week", func() error { _, err := s.SumUsage(ctx, week, gateway.GroupByModel); return err }},
		{"by-channel-week", func() error { _, err := s.SumUsage(ctx, week, gateway.GroupByChannel); return err }},
		{"key-by-hour-week", func() error { _, err := s.SumUsage(ctx, withKey, gateway.GroupByHour); return err }},
		{"model-total-week", func() error { _, err := s.SumUsage(ctx, withModel); return err }},
		{"page-newest-100", func() error { _, err := s.UsagePage(ctx, gateway.LedgerFilter{Limit: 100}); return err }},
		{"page-key-model-100", func() error {
			_, err := s.UsagePage(ctx, gateway.LedgerFilter{KeyID: 7, Model: "model-07", Limit: 100})
			return err
		}},
		{"page-deep-cursor", func() error {
			c := gateway.UsageCursor{Time: base.Add(15 * 24 * time.Hour), ID: rows / 2}
			_, err := s.UsagePage(ctx, gateway.LedgerFilter{Cursor: c.String(), Limit: 100})
			return err
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if err := c.run(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// With one CPU, a goroutine woken by a timer must get to run between the
// chunks of a big usage batch, not only when the runtime preempts the
// flusher (every 10 ms): InsertUsage yields after each chunk.
func TestInsertUsageYieldsBetweenChunks(t *testing.T) {
	s := openSQLite(t)
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	recs := make([]gateway.UsageRecord, 1024) // 16 chunks of usageStmtRows
	for i := range recs {
		recs[i] = usageRec(fmt.Sprintf("yield-%d", i), 1, base.Add(time.Duration(i)*time.Millisecond))
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var wakeups atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(50 * time.Microsecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				wakeups.Add(1)
			}
		}
	}()
	runtime.Gosched()
	before := wakeups.Load()
	if err := s.InsertUsage(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	during := wakeups.Load() - before
	close(stop)
	<-done
	if chunks := int64(len(recs) / usageStmtRows); during < chunks/2 {
		t.Fatalf("the ticker ran %d times during a %d-chunk insert: the flusher does not yield", during, chunks)
	}
}
