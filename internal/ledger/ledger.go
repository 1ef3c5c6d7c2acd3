// Package ledger writes usage records durably and off the hot path.
//
// A request's record is appended to a local spool file with one write(2)
// before the client sees the end of its answer, then inserted into the
// store in batches by a background flusher, which also settles budget
// reservations. A record acknowledged to a client therefore survives the
// process being killed at any moment: at the next start the spool is
// replayed (inserts are idempotent by request id, settles by reservation).
// The spool is fsynced about once a second, so an operating-system crash
// or power loss can lose at most that last second; a process crash loses
// nothing.
//
// Streams in flight checkpoint what they have delivered so far
// (Checkpoint, at a bounded rate: Checkpointer). A checkpoint lives only in
// the spool: the stream's final record supersedes it. When a node dies
// mid-stream, the next start finds the checkpoint without a final record
// and bills it, marked as such, settling the stream's hold.
package ledger

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"switchboard/internal/gateway"
)

// Store is what the flusher writes to.
type Store interface {
	gateway.Ledger
	gateway.Budget
}

// Options tune the writer; zero values pick defaults.
type Options struct {
	BatchSize     int           // records per insert; default 1024
	FlushInterval time.Duration // longest a record waits in memory; default 250ms
	SyncInterval  time.Duration // fsync period of the spool; default 1s
	SegmentMax    int           // records per spool segment before rotation; default 4096
	Logger        *slog.Logger
	// OnFlush, if set, hears of every batch stored: its size and how long
	// storing it took, retries included (metrics).
	OnFlush func(records int, took time.Duration)
}

// spooled is one spool line. Settle says the flusher must settle the
// key's reservation for this request with the record's price. A
// Checkpoint line is not stored unless the process dies before the
// request's final record.
type spooled struct {
	gateway.UsageRecord
	Settle     bool `json:"settle,omitempty"`
	Checkpoint bool `json:"checkpoint,omitempty"`
}

// CheckpointNote marks a record billed from a checkpoint at replay.
const CheckpointNote = "billed from the last checkpoint: the gateway stopped while the answer streamed"

type queued struct {
	rec spooled
	seg *segment
}

type segment struct {
	path    string
	f       *os.File
	written int
	pending int // records written but not yet in the store
	// checkpoints counts the open streams whose latest checkpoint is in
	// this segment: it must outlive them.
	checkpoints int
	sealed      bool
}

// Writer is the durable usage sink. Safe for concurrent use.
type Writer struct {
	dir   string
	store Store
	opts  Options
	log   *slog.Logger

	mu   sync.Mutex // guards segments, buf and open
	cur  *segment
	segs []*segment
	seq  int64
	buf  []byte
	// open maps a streaming request to the segment of its latest
	// checkpoint, until its final record arrives.
	open map[string]*segment

	// sendMu orders Record's send against Close's close(queue); the flusher
	// never takes it, so a full queue cannot deadlock the two.
	sendMu sync.RWMutex
	closed bool

	queue chan *queued
	done  chan struct{}
	dirty chan struct{}
	// ctx bounds the flusher's store calls and retries; Close cancels it
	// when its own deadline passes, leaving what is unstored in the spool.
	ctx    context.Context
	cancel context.CancelFunc
}

// Open replays any spool left in dir by an earlier process into store, then
// starts a writer. Close must be called to drain it.
func Open(ctx context.Context, dir string, store Store, opts Options) (*Writer, error) {
	// Large batches amortise a transaction's commit, which dominated the
	// database's share of CPU under load.
	if opts.BatchSize <= 0 {
		opts.BatchSize = 1024
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = 250 * time.Millisecond
	}
	if opts.SyncInterval <= 0 {
		opts.SyncInterval = time.Second
	}
	if opts.SegmentMax <= 0 {
		opts.SegmentMax = 4096
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create spool dir %q: %w", dir, err)
	}
	w := &Writer{
		dir: dir, store: store, opts: opts, log: opts.Logger, open: map[string]*segment{},
		queue: make(chan *queued, 1<<14),
		done:  make(chan struct{}),
		dirty: make(chan struct{}, 1),
	}
	if err := w.replay(ctx); err != nil {
		return nil, err
	}
	w.ctx, w.cancel = context.WithCancel(context.WithoutCancel(ctx))
	go w.flushLoop()
	return w, nil
}

// QueueLen is the number of records waiting for the flusher.
func (w *Writer) QueueLen() int { return len(w.queue) }

// Replayed spool files are named so that lexical order is write order.
func segmentName(seq int64) string {
	return fmt.Sprintf("spool-%020d-%06d.jsonl", time.Now().UnixNano(), seq)
}

func (w *Writer) replay(ctx context.Context) error {
	paths, err := filepath.Glob(filepath.Join(w.dir, "spool-*.jsonl"))
	if err != nil {
		return fmt.Errorf("list spool: %w", err)
	}
	sort.Strings(paths)
	// Every segment is read before anything is stored: a stream's final
	// record may sit in a later segment than its checkpoints.
	var (
		finals []spooled
		final  = map[string]bool{}
		cps    = map[string]spooled{} // the latest checkpoint per request
		order  []string
	)
	for _, p := range paths {
		recs, err := readSegment(p)
		if err != nil {
			return err
		}
		for _, r := range recs {
			if r.Checkpoint {
				if _, seen := cps[r.RequestID]; !seen {
					order = append(order, r.RequestID)
				}
				cps[r.RequestID] = r
				continue
			}
			final[r.RequestID] = true
			finals = append(finals, r)
		}
	}
	billed := 0
	for _, id := range order {
		if final[id] {
			continue
		}
		r := cps[id]
		r.Checkpoint = false
		r.UsageSource = gateway.UsageCheckpoint
		r.ErrorMessage = appendNote(r.ErrorMessage, CheckpointNote)
		finals = append(finals, r)
		billed++
	}
	for start := 0; start < len(finals); start += w.opts.BatchSize {
		end := min(start+w.opts.BatchSize, len(finals))
		if err := w.commit(ctx, finals[start:end]); err != nil {
			return fmt.Errorf("replay spool: %w", err)
		}
	}
	for _, p := range paths {
		if err := os.Remove(p); err != nil {
			return fmt.Errorf("remove replayed spool %q: %w", p, err)
		}
	}
	if len(finals) > 0 {
		w.log.Info("replayed usage spool", "files", len(paths), "records", len(finals), "billed_from_checkpoints", billed)
	}
	return nil
}

func appendNote(s, note string) string {
	if s == "" {
		return note
	}
	return s + "; " + note
}

func readSegment(path string) ([]spooled, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open spool %q: %w", path, err)
	}
	defer f.Close()
	var out []spooled
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		var r spooled
		if err := json.Unmarshal(line, &r); err != nil {
			// Only the last line can be torn by a crash mid-write; a
			// torn record was never acknowledged, so skipping it is right.
			continue
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read spool %q: %w", path, err)
	}
	return out, nil
}

// Record appends rec to the spool and queues it for the store. When settle
// is true the flusher settles rec.KeyID's reservation for rec.RequestID
// with rec.PriceNanoUSD. When Record returns nil the record is durable
// against a process crash. It supersedes the request's checkpoints.
func (w *Writer) Record(rec *gateway.UsageRecord, settle bool) error {
	s := spooled{UsageRecord: *rec, Settle: settle}
	w.sendMu.RLock()
	defer w.sendMu.RUnlock()
	if w.closed {
		return errors.New("ledger closed")
	}
	w.mu.Lock()
	seg, err := w.appendLocked(&s)
	if err != nil {
		w.mu.Unlock()
		return err
	}
	seg.pending++
	if cp, ok := w.open[rec.RequestID]; ok {
		cp.checkpoints--
		delete(w.open, rec.RequestID)
	}
	w.rotateLocked(seg)
	w.mu.Unlock()
	w.queue <- &queued{rec: s, seg: seg}
	return nil
}

// Checkpoint spools what a stream has delivered so far as rec (its usage
// and price up to now), without storing it: if the process dies before
// the request's final Record, the next Open bills rec, marked as billed
// from a checkpoint, settling the hold when settle is true. Call it at a
// bounded rate (Checkpointer); each call costs one write(2).
func (w *Writer) Checkpoint(rec *gateway.UsageRecord, settle bool) error {
	s := spooled{UsageRecord: *rec, Settle: settle, Checkpoint: true}
	w.sendMu.RLock()
	defer w.sendMu.RUnlock()
	if w.closed {
		return errors.New("ledger closed")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	seg, err := w.appendLocked(&s)
	if err != nil {
		return err
	}
	if prev, ok := w.open[rec.RequestID]; ok {
		prev.checkpoints--
	}
	seg.checkpoints++
	w.open[rec.RequestID] = seg
	w.rotateLocked(seg)
	w.removeDoneLocked()
	return nil
}

// appendLocked writes one spool line to the current segment.
func (w *Writer) appendLocked(s *spooled) (*segment, error) {
	seg, err := w.segmentLocked()
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode usage record: %w", err)
	}
	w.buf = append(append(w.buf[:0], b...), '\n')
	if _, err := seg.f.Write(w.buf); err != nil {
		return nil, fmt.Errorf("append usage spool: %w", err)
	}
	seg.written++
	return seg, nil
}

func (w *Writer) rotateLocked(seg *segment) {
	if seg.written >= w.opts.SegmentMax {
		w.sealLocked()
	}
}

func (w *Writer) segmentLocked() (*segment, error) {
	if w.cur != nil {
		return w.cur, nil
	}
	w.seq++
	p := filepath.Join(w.dir, segmentName(w.seq))
	f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create spool segment: %w", err)
	}
	w.cur = &segment{path: p, f: f}
	w.segs = append(w.segs, w.cur)
	return w.cur, nil
}

func (w *Writer) sealLocked() {
	if w.cur == nil {
		return
	}
	w.cur.sealed = true
	_ = w.cur.f.Sync()
	w.cur = nil
	w.removeDoneLocked()
}

// removeDoneLocked deletes sealed segments whose every record is stored.
func (w *Writer) removeDoneLocked() {
	keep := w.segs[:0]
	for _, s := range w.segs {
		if s.sealed && s.pending == 0 && s.checkpoints == 0 {
			_ = s.f.Close()
			if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
				w.log.Warn("remove spool segment", "err", err)
			}
			continue
		}
		keep = append(keep, s)
	}
	w.segs = keep
}

func (w *Writer) flushLoop() {
	defer close(w.done)
	tick := time.NewTicker(w.opts.FlushInterval)
	defer tick.Stop()
	syncTick := time.NewTicker(w.opts.SyncInterval)
	defer syncTick.Stop()
	batch := make([]*queued, 0, w.opts.BatchSize)
	// flush stores the batch; false means Close gave up on it.
	flush := func() bool {
		if len(batch) == 0 {
			return true
		}
		recs := make([]spooled, len(batch))
		for i, q := range batch {
			recs[i] = q.rec
		}
		// Retry until stored: the spool keeps the records safe meanwhile,
		// and dropping them would lose money. Only Close giving up ends
		// the retries; the records then wait in the spool.
		began := time.Now()
		for attempt := 0; ; attempt++ {
			ctx, cancel := context.WithTimeout(w.ctx, 10*time.Second)
			err := w.commit(ctx, recs)
			cancel()
			if err == nil {
				break
			}
			if w.ctx.Err() != nil {
				return false
			}
			w.log.Error("store usage batch", "err", err, "records", len(recs), "attempt", attempt)
			pause := time.NewTimer(min(time.Duration(attempt+1)*200*time.Millisecond, 5*time.Second))
			select {
			case <-pause.C:
			case <-w.ctx.Done():
				pause.Stop()
				return false
			}
		}
		if w.opts.OnFlush != nil {
			w.opts.OnFlush(len(recs), time.Since(began))
		}
		w.mu.Lock()
		for _, q := range batch {
			q.seg.pending--
		}
		w.removeDoneLocked()
		w.mu.Unlock()
		batch = batch[:0]
		return true
	}
	for {
		select {
		case q, ok := <-w.queue:
			if !ok {
				flush()
				return
			}
			batch = append(batch, q)
			if len(batch) >= w.opts.BatchSize && !flush() {
				return
			}
		case <-tick.C:
			if !flush() {
				return
			}
		case <-syncTick.C:
			w.mu.Lock()
			if w.cur != nil {
				_ = w.cur.f.Sync()
				// Rotate idle segments so finished ones get removed.
				if w.cur.written > 0 {
					w.sealLocked()
				}
			}
			w.mu.Unlock()
		}
	}
}

func (w *Writer) commit(ctx context.Context, recs []spooled) error {
	rows := make([]gateway.UsageRecord, len(recs))
	for i := range recs {
		rows[i] = recs[i].UsageRecord
	}
	if err := w.store.InsertUsage(ctx, rows); err != nil {
		return fmt.Errorf("insert usage: %w", err)
	}
	for i := range recs {
		r := &recs[i]
		if !r.Settle || r.KeyID == 0 {
			continue
		}
		if err := w.store.Settle(ctx, r.KeyID, r.RequestID, r.PriceNanoUSD); err != nil {
			return fmt.Errorf("settle %s: %w", r.RequestID, err)
		}
	}
	return nil
}

// Close stops accepting records, stores everything queued and removes the
// spool. Records still unstored when ctx ends stay in the spool for the
// next start.
func (w *Writer) Close(ctx context.Context) error {
	w.sendMu.Lock()
	if w.closed {
		w.sendMu.Unlock()
		return nil
	}
	w.closed = true
	close(w.queue)
	w.sendMu.Unlock()
	select {
	case <-w.done:
	case <-ctx.Done():
		// Give up: the flusher's store call and retries end, and what is
		// unstored stays in the spool for the next start.
		w.cancel()
		<-w.done
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, s := range w.segs {
			_ = s.f.Close()
		}
		return fmt.Errorf("drain usage ledger: %w", ctx.Err())
	}
	w.cancel()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sealLocked()
	for _, s := range w.segs {
		_ = s.f.Close()
	}
	if len(w.segs) > 0 {
		return fmt.Errorf("ledger closed with %d spool segments pending", len(w.segs))
	}
	return nil
}

// SpoolFiles lists the spool segments on disk (for tests and diagnostics).
func SpoolFiles(dir string) []string {
	paths, _ := filepath.Glob(filepath.Join(dir, "spool-*.jsonl"))
	out := paths[:0]
	for _, p := range paths {
		out = append(out, strings.TrimPrefix(p, dir+string(filepath.Separator)))
	}
	return out
}
