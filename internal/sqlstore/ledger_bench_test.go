package sqlstore

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"switchboard/internal/gateway"
	"switchboard/internal/secret"
)

// BenchmarkInsertUsageSQLite inserts the ledger flusher's full batch (1,024
// records) per op into a file-backed SQLite store.
func BenchmarkInsertUsageSQLite(b *testing.B) {
	box, err := secret.New(bytes.Repeat([]byte{0x42}, secret.KeySize))
	if err != nil {
		b.Fatal(err)
	}
	s, err := Open(context.Background(), "sqlite://"+filepath.Join(b.TempDir(), "sb.db"), Options{Secret: box})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
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
