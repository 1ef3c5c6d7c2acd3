package ledger

import (
	"context"
	"log/slog"
	"time"

	"switchboard/internal/gateway"
)

// PruneStore deletes what retention lets go: each call is one short
// statement deleting at most limit rows (raw) or buckets (rollups).
type PruneStore interface {
	PruneUsage(ctx context.Context, before time.Time, limit int) (int64, error)
	PruneRollups(ctx context.Context, grain gateway.UsageGroupBy, before time.Time, limit int) (int64, error)
}

// Retention is how long each layer of the ledger is kept; 0 keeps it for
// ever.
type Retention struct {
	Raw    time.Duration // usage rows (the usage log)
	Hourly time.Duration // per-hour totals (dashboard charts)
	Daily  time.Duration // per-day totals
}

// Pruner deletes ledger rows older than the retention, in small batches
// with a pause between them, so the usage writer (and with SQLite every
// other writer) waits at most one batch.
type Pruner struct {
	Store     PruneStore
	Retention Retention
	Batch     int           // rows per statement; 0 = 5000
	Pause     time.Duration // between statements; 0 = 50ms
	Log       *slog.Logger
	Now       func() time.Time
}

// Pruned counts what one pass deleted.
type Pruned struct {
	Raw, Hourly, Daily int64
}

// PruneOnce deletes everything past the retention and returns the counts.
// It stops early, with the context's error, when ctx ends.
func (p *Pruner) PruneOnce(ctx context.Context) (Pruned, error) {
	now := time.Now
	if p.Now != nil {
		now = p.Now
	}
	batch, pause := p.Batch, p.Pause
	if batch <= 0 {
		batch = 5000
	}
	if pause <= 0 {
		pause = 50 * time.Millisecond
	}
	t := now()
	var out Pruned
	layers := []struct {
		keep time.Duration
		n    *int64
		del  func(before time.Time, limit int) (int64, error)
	}{
		{p.Retention.Raw, &out.Raw, func(b time.Time, l int) (int64, error) { return p.Store.PruneUsage(ctx, b, l) }},
		// Rollups are deleted a day of buckets at a time.
		{p.Retention.Hourly, &out.Hourly, func(b time.Time, _ int) (int64, error) {
			return p.Store.PruneRollups(ctx, gateway.GroupByHour, b, 24)
		}},
		{p.Retention.Daily, &out.Daily, func(b time.Time, _ int) (int64, error) {
			return p.Store.PruneRollups(ctx, gateway.GroupByDay, b, 7)
		}},
	}
	for _, l := range layers {
		if l.keep <= 0 {
			continue
		}
		cut := t.Add(-l.keep)
		for {
			n, err := l.del(cut, batch)
			*l.n += n
			if err != nil {
				return out, err
			}
			if n == 0 {
				break
			}
			select {
			case <-ctx.Done():
				return out, ctx.Err()
			case <-time.After(pause):
			}
		}
	}
	return out, nil
}

// Run prunes at start and then every interval (0 = hourly) until ctx
// ends. Nothing is pruned when no retention is set.
func (p *Pruner) Run(ctx context.Context, interval time.Duration) {
	r := p.Retention
	if r.Raw <= 0 && r.Hourly <= 0 && r.Daily <= 0 {
		return
	}
	if interval <= 0 {
		interval = time.Hour
	}
	log := p.Log
	if log == nil {
		log = slog.Default()
	}
	for {
		n, err := p.PruneOnce(ctx)
		if err != nil && ctx.Err() == nil {
			log.Warn("prune ledger", "err", err)
		}
		if n.Raw+n.Hourly+n.Daily > 0 {
			log.Info("pruned ledger past its retention", "usage_rows", n.Raw, "hourly_rows", n.Hourly, "daily_rows", n.Daily)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}
