package sqlstore

import (
	"context"
	"fmt"
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
