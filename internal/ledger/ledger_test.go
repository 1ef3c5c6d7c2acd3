package ledger

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"switchboard/internal/gateway"
)

type memStore struct {
	mu      sync.Mutex
	usage   map[string]gateway.UsageRecord
	settled map[string]int64
	fail    int // fail this many InsertUsage calls first
}

func newMemStore() *memStore {
	return &memStore{usage: map[string]gateway.UsageRecord{}, settled: map[string]int64{}}
}

func (m *memStore) InsertUsage(_ context.Context, recs []gateway.UsageRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail > 0 {
		m.fail--
		return fmt.Errorf("injected failure")
	}
	for _, r := range recs {
		if _, ok := m.usage[r.RequestID]; !ok {
			m.usage[r.RequestID] = r
		}
	}
	return nil
}
func (m *memStore) ListUsage(context.Context, gateway.LedgerFilter) ([]gateway.UsageRecord, error) {
	return nil, nil
}
func (m *memStore) Reserve(context.Context, int64, string, int64) error { return nil }
func (m *memStore) Settle(_ context.Context, _ int64, id string, actual int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.settled[id]; !ok {
		m.settled[id] = actual
	}
	return nil
}
func (m *memStore) Release(context.Context, int64, string) error { return nil }

func (m *memStore) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.usage)
}

func rec(i int) *gateway.UsageRecord {
	return &gateway.UsageRecord{RequestID: fmt.Sprintf("req-%d", i), KeyID: 1, Model: "m", Time: time.Now().UTC(),
		CostNanoUSD: int64(i), PriceNanoUSD: int64(2 * i)}
}

func TestRecordAndClose(t *testing.T) {
	dir := t.TempDir()
	st := newMemStore()
	st.fail = 2 // the flusher must retry, not drop
	w, err := Open(context.Background(), dir, st, Options{FlushInterval: 5 * time.Millisecond, SegmentMax: 50})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				if err := w.Record(rec(g*1000+i), i%2 == 0); err != nil {
					t.Error(err)
				}
			}
		}(g)
	}
	wg.Wait()
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := st.count(); got != 800 {
		t.Fatalf("stored %d records, want 800", got)
	}
	if len(st.settled) != 400 {
		t.Fatalf("settled %d, want 400", len(st.settled))
	}
	if files := SpoolFiles(dir); len(files) != 0 {
		t.Fatalf("spool not removed: %v", files)
	}
	if err := w.Record(rec(1), false); err == nil {
		t.Fatal("Record after Close succeeded")
	}
}

// A process killed before its flusher ran leaves records only in the
// spool; the next Open must store every one of them exactly once.
func TestReplayAfterCrash(t *testing.T) {
	dir := t.TempDir()
	crashed := newMemStore()
	crashed.fail = 1 << 30 // the store never accepts: as if the process died first
	w, err := Open(context.Background(), dir, crashed, Options{FlushInterval: time.Hour, SegmentMax: 7})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 30; i++ {
		if err := w.Record(rec(i), true); err != nil {
			t.Fatal(err)
		}
	}
	// Simulate a torn final write.
	files := SpoolFiles(dir)
	if len(files) == 0 {
		t.Fatal("no spool written")
	}
	f, err := os.OpenFile(dir+"/"+files[len(files)-1], os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString(`{"RequestID":"torn`)
	f.Close()

	fresh := newMemStore()
	w2, err := Open(context.Background(), dir, fresh, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := fresh.count(); got != 30 {
		t.Fatalf("replayed %d records, want 30", got)
	}
	if len(fresh.settled) != 30 {
		t.Fatalf("replayed %d settles, want 30", len(fresh.settled))
	}
	if err := w2.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	_ = w // the "crashed" writer is abandoned, as a killed process would be
}

func BenchmarkRecord(b *testing.B) {
	st := newMemStore()
	w, err := Open(context.Background(), b.TempDir(), st, Options{})
	if err != nil {
		b.Fatal(err)
	}
	r := rec(1)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		r.RequestID = fmt.Sprintf("r%d", i)
		if err := w.Record(r, false); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	_ = w.Close(context.Background())
}

// Close with a deadline and a store that never answers: the flusher's
// retries end (no goroutine left behind), Close reports the deadline, and
// the records wait in the spool for the next start.
func TestCloseGivesUpAndKeepsTheSpool(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	dir := t.TempDir()
	down := newMemStore()
	down.fail = 1 << 30
	w, err := Open(context.Background(), dir, down, Options{FlushInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if err := w.Record(rec(i), true); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := w.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close with the store down: %v", err)
	}
	// Generous: the point is that Close returns, not how fast.
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Close took %v", d)
	}
	select {
	case <-w.done:
	default:
		t.Fatal("the flusher still runs after Close returned")
	}
	goleak.VerifyNone(t, ignore)
	if len(SpoolFiles(dir)) == 0 {
		t.Fatal("the unstored records left no spool")
	}

	up := newMemStore()
	w2, err := Open(context.Background(), dir, up, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w2.Close(context.Background())
	if got := up.count(); got != 5 {
		t.Fatalf("replayed %d records, want 5", got)
	}
}
