package ledger

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"switchboard/internal/gateway"
)

// fakePrune holds row times per layer and deletes like the SQL store.
type fakePrune struct {
	mu    sync.Mutex
	rows  map[gateway.UsageGroupBy][]time.Time // "" = raw
	calls int
	fail  error
}

func (f *fakePrune) del(layer gateway.UsageGroupBy, before time.Time, limit int) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail != nil {
		return 0, f.fail
	}
	var keep []time.Time
	var n int64
	for _, t := range f.rows[layer] {
		if t.Before(before) && n < int64(limit) {
			n++
			continue
		}
		keep = append(keep, t)
	}
	f.rows[layer] = keep
	return n, nil
}

func (f *fakePrune) PruneUsage(_ context.Context, before time.Time, limit int) (int64, error) {
	return f.del("", before, limit)
}

func (f *fakePrune) PruneRollups(_ context.Context, g gateway.UsageGroupBy, before time.Time, limit int) (int64, error) {
	return f.del(g, before, limit)
}

func TestPruneOnce(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	hours := func(n int) []time.Time {
		var out []time.Time
		for i := range n {
			out = append(out, now.Add(-time.Duration(i)*time.Hour))
		}
		return out
	}
	cases := []struct {
		name      string
		retention Retention
		want      Pruned
		left      map[gateway.UsageGroupBy]int
	}{
		{"keep everything", Retention{}, Pruned{}, map[gateway.UsageGroupBy]int{"": 100, gateway.GroupByHour: 100, gateway.GroupByDay: 100}},
		{"raw only", Retention{Raw: 10 * time.Hour}, Pruned{Raw: 89}, map[gateway.UsageGroupBy]int{"": 11, gateway.GroupByHour: 100, gateway.GroupByDay: 100}},
		{"all layers", Retention{Raw: 10 * time.Hour, Hourly: 50 * time.Hour, Daily: 99 * time.Hour},
			Pruned{Raw: 89, Hourly: 49, Daily: 0}, map[gateway.UsageGroupBy]int{"": 11, gateway.GroupByHour: 51, gateway.GroupByDay: 100}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &fakePrune{rows: map[gateway.UsageGroupBy][]time.Time{"": hours(100), gateway.GroupByHour: hours(100), gateway.GroupByDay: hours(100)}}
			p := &Pruner{Store: f, Retention: c.retention, Batch: 7, Pause: time.Microsecond, Now: func() time.Time { return now }}
			got, err := p.PruneOnce(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Fatalf("pruned %+v, want %+v", got, c.want)
			}
			for layer, n := range c.left {
				if len(f.rows[layer]) != n {
					t.Fatalf("layer %q has %d rows left, want %d", layer, len(f.rows[layer]), n)
				}
			}
			if c.retention.Raw > 0 && f.calls < 89/7 {
				t.Fatalf("%d statements: want small batches", f.calls)
			}
		})
	}
}

func TestPruneStopsOnError(t *testing.T) {
	boom := errors.New("disk full")
	f := &fakePrune{rows: map[gateway.UsageGroupBy][]time.Time{}, fail: boom}
	p := &Pruner{Store: f, Retention: Retention{Raw: time.Hour, Hourly: time.Hour}}
	if _, err := p.PruneOnce(context.Background()); !errors.Is(err, boom) || f.calls != 1 {
		t.Fatalf("err %v after %d calls, want %v after 1", err, f.calls, boom)
	}
}

func TestPruneRunStopsWithContext(t *testing.T) {
	now := time.Now()
	f := &fakePrune{rows: map[gateway.UsageGroupBy][]time.Time{"": {now.Add(-48 * time.Hour)}}}
	p := &Pruner{Store: f, Retention: Retention{Raw: time.Hour}, Pause: time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx, time.Hour); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		f.mu.Lock()
		n := len(f.rows[""])
		f.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run did not prune at start")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}
