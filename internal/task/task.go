// Package task is the gateway's subsystem for asynchronous jobs
// (Midjourney actions, videos): a task is stored, owned by the key that
// created it, holds its worst-case price from submission, is refreshed by
// read-through fetches and by a poller that runs on one node at a time,
// and is billed (or released) exactly once when it ends, across restarts
// and nodes. Its notifications go out through the SSRF guard, signed.
//
// The wire formats live elsewhere: an Adapter per TaskKind polls its
// upstreams and renders hook bodies; the HTTP handlers (mj.go, video.go)
// speak the clients' protocols.
package task

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"switchboard/internal/gateway"
	"switchboard/internal/llm"
	"switchboard/internal/pricing"
)

// Recorder is the durable ledger sink (internal/ledger.Writer): a record
// with settle true settles its hold, idempotently per request id.
type Recorder interface {
	Record(rec *gateway.UsageRecord, settle bool) error
}

// Adapter knows the upstream side of one kind of task.
type Adapter interface {
	// Poll asks the upstream for the state of t on ch.
	Poll(ctx context.Context, ch *gateway.Channel, t *gateway.Task) (Update, error)
	// HookBody is the notification a task's hook receives for its
	// current state (nil: the protocol sends none for it).
	HookBody(t *gateway.Task) ([]byte, error)
}

// Update is what a poll learned.
type Update struct {
	Status     gateway.TaskStatus
	Progress   int
	Result     []byte // nil keeps the stored result
	FailReason string
	// Units, when set, replace the task's units for billing (what the
	// upstream reports it produced).
	Units []gateway.Metered
}

// Options tune the subsystem; zero fields take the defaults.
type Options struct {
	// PollInterval is the poller's first delay after a refresh; each
	// further poll of the same task doubles it up to MaxPollInterval.
	PollInterval    time.Duration
	MaxPollInterval time.Duration
	// FetchInterval is the least time between two read-through refreshes
	// of one task: faster fetches are answered from the store.
	FetchInterval time.Duration
	// Timeout fails a task unfinished this long after it was created (its
	// hold released); SubmitTimeout fails a task whose submission never
	// completed (its node died while submitting).
	Timeout       time.Duration
	SubmitTimeout time.Duration
	// Tick is how often the poller looks for due tasks; LeaseTTL how long
	// its lease lasts without renewal.
	Tick     time.Duration
	LeaseTTL time.Duration
	// Workers bounds concurrent upstream polls of the poller.
	Workers int
}

// Defaults of Options.
const (
	DefaultPollInterval    = 5 * time.Second
	DefaultMaxPollInterval = time.Minute
	DefaultFetchInterval   = 500 * time.Millisecond
	DefaultTimeout         = 3 * time.Hour
	DefaultSubmitTimeout   = 5 * time.Minute
	DefaultTick            = time.Second
	DefaultLeaseTTL        = 15 * time.Second
	DefaultWorkers         = 4
)

func (o *Options) defaults() {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	set(&o.PollInterval, DefaultPollInterval)
	set(&o.MaxPollInterval, DefaultMaxPollInterval)
	set(&o.FetchInterval, DefaultFetchInterval)
	set(&o.Timeout, DefaultTimeout)
	set(&o.SubmitTimeout, DefaultSubmitTimeout)
	set(&o.Tick, DefaultTick)
	set(&o.LeaseTTL, DefaultLeaseTTL)
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
}

// Event is one state change of a task, as observers hear it.
type Event struct {
	Task gateway.Task
	From gateway.TaskStatus // "" when the task was just created
}

// Observer hears task state changes (metrics, the console's gallery). It
// is called synchronously and must not block.
type Observer interface {
	TaskChanged(e Event)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(Event)

// TaskChanged calls f.
func (f ObserverFunc) TaskChanged(e Event) { f(e) }

// Service is the task subsystem of one node. It is safe for concurrent use.
type Service struct {
	Store    gateway.TaskStore
	Holder   gateway.Holder
	Ledger   Recorder
	Prices   *pricing.Table
	Unpriced pricing.UnpricedPolicy
	// Channel finds a channel by id (route.Router.Channel).
	Channel  func(id int64) (*gateway.Channel, bool)
	Adapters map[gateway.TaskKind]Adapter
	// Hooks delivers notifications; nil sends none.
	Hooks    *Hooks
	Log      *slog.Logger
	Now      func() time.Time
	Options  Options
	observer []Observer

	once    sync.Once
	mu      sync.Mutex
	flights map[string]*flight   // read-through refreshes in progress
	fetched map[string]time.Time // last read-through refresh per task
}

// flight is one refresh in progress that concurrent fetches wait for.
type flight struct {
	done chan struct{}
	t    gateway.Task
	err  error
}

// Subscribe adds an observer of task state changes. Call it before the
// service is used.
func (s *Service) Subscribe(o Observer) { s.observer = append(s.observer, o) }

func (s *Service) init() {
	s.once.Do(func() {
		s.Options.defaults()
		if s.Now == nil {
			s.Now = time.Now
		}
		if s.Log == nil {
			s.Log = slog.Default()
		}
		s.flights = map[string]*flight{}
		s.fetched = map[string]time.Time{}
	})
}

func (s *Service) now() time.Time { s.init(); return s.Now().UTC() }

func (s *Service) emit(t gateway.Task, from gateway.TaskStatus) {
	if t.Status == from {
		return
	}
	for _, o := range s.observer {
		o.TaskChanged(Event{Task: t, From: from})
	}
}

// NewNumericID returns a gateway task id in Midjourney's style: a 16-digit
// number, time-ordered (milliseconds, then three random digits).
func NewNumericID(now time.Time) string {
	var b [2]byte
	_, _ = rand.Read(b[:])
	n := now.UnixMilli()*1000 + int64(int(b[0])<<8|int(b[1]))%1000
	return strconv.FormatInt(n, 10)
}

// NewID returns a gateway task id with prefix and 24 random hex digits.
func NewID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// Hold reserves the worst case of a task priced as model with units
// (per-call prices, or per unit: seconds of video by resolution) against
// the key's budget, as a task hold that the stale sweep of calls leaves
// alone. It returns what was held.
func (s *Service) Hold(ctx context.Context, key *gateway.Key, holdID, model string, units []gateway.Metered, routes []pricing.Route) (int64, *gateway.Error) {
	s.init()
	h := s.Prices.Hold(pricing.Call{ClientModel: model, Routes: routes, Units: units})
	if !h.Priced {
		if ok, warn := s.Unpriced.Admit(key); !ok {
			return 0, pricing.RefuseUnpriced(model, h.Unpriced)
		} else if warn {
			s.Log.Warn("task model has no price: running it unbilled", "model", model)
		}
	}
	held, err := s.Holder.Hold(ctx, gateway.HoldRequest{KeyID: key.ID, RequestID: holdID, Amount: h.Amount,
		Kind: gateway.HoldTask, Expires: s.now().Add(s.Options.Timeout + time.Hour)})
	if errors.Is(err, gateway.ErrBudgetExceeded) {
		return 0, &gateway.Error{Kind: gateway.KindInsufficientQuota, Message: "this key's budget is exhausted", Code: "insufficient_quota"}
	}
	if err != nil {
		return 0, &gateway.Error{Kind: gateway.KindInternal, Message: "could not check the key's budget", Err: err}
	}
	return held, nil
}

// Begin stores a new task in the submitting state, before the upstream
// sees it: a crash from here on is recovered by the poller.
func (s *Service) Begin(ctx context.Context, t *gateway.Task) error {
	s.init()
	t.Status = gateway.TaskSubmitting
	t.CreatedAt = s.now()
	t.NextPollAt = t.CreatedAt.Add(s.Options.SubmitTimeout)
	if err := s.Store.CreateTask(ctx, t); err != nil {
		return err
	}
	return nil
}

// Accepted records that the upstream took t as upstreamID, in the state
// u says, and schedules its first poll.
func (s *Service) Accepted(ctx context.Context, t *gateway.Task, upstreamID string, u Update) error {
	t.UpstreamID = upstreamID
	if u.Status == "" {
		u.Status = gateway.TaskQueued
	}
	return s.apply(ctx, t, u, false)
}

// Failed ends t as failed with reason (an upstream that refused the
// submission, a poll that says so): its hold is released.
func (s *Service) Failed(ctx context.Context, t *gateway.Task, reason string) error {
	return s.apply(ctx, t, Update{Status: gateway.TaskFailed, FailReason: reason, Progress: t.Progress}, false)
}

// Cancel ends t as canceled (the client deleted it); its hold is
// released. A finished task is left as it is.
func (s *Service) Cancel(ctx context.Context, t *gateway.Task) error {
	if t.Status.Terminal() {
		return nil
	}
	return s.apply(ctx, t, Update{Status: gateway.TaskCanceled, Progress: t.Progress, FailReason: "canceled"}, false)
}

// Owned returns task id if key owns it and it is of kind; any other case
// is ErrNotFound, so ids leak nothing about other keys' tasks.
func (s *Service) Owned(ctx context.Context, key *gateway.Key, kind gateway.TaskKind, id string) (gateway.Task, error) {
	t, err := s.Store.TaskByID(ctx, id)
	if err != nil {
		return gateway.Task{}, err
	}
	if t.KeyID != key.ID || t.Kind != kind || t.Status == gateway.TaskSubmitting {
		return gateway.Task{}, fmt.Errorf("task %s: %w", id, gateway.ErrNotFound)
	}
	return t, nil
}

// Fresh returns t, refreshed from the upstream first when it is
// unfinished and was not refreshed in the last FetchInterval. Concurrent
// fetches of one task share one upstream call. A failed refresh answers
// the stored state.
func (s *Service) Fresh(ctx context.Context, t gateway.Task) gateway.Task {
	s.init()
	if t.Status.Terminal() || t.UpstreamID == "" {
		return t
	}
	s.mu.Lock()
	if f, ok := s.flights[t.ID]; ok {
		s.mu.Unlock()
		select {
		case <-f.done:
			if f.err == nil {
				return f.t
			}
		case <-ctx.Done():
		}
		return t
	}
	if last, ok := s.fetched[t.ID]; ok && s.now().Sub(last) < s.Options.FetchInterval {
		s.mu.Unlock()
		return t
	}
	f := &flight{done: make(chan struct{})}
	s.flights[t.ID] = f
	s.fetched[t.ID] = s.now()
	s.mu.Unlock()

	// The refresh outlives a client that hangs up: others may wait on it.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	f.t, f.err = s.Refresh(rctx, t, false)
	cancel()
	s.mu.Lock()
	delete(s.flights, t.ID)
	if f.err == nil && f.t.Status.Terminal() {
		delete(s.fetched, t.ID)
	}
	s.mu.Unlock()
	close(f.done)
	if f.err != nil {
		s.Log.Debug("task read-through failed", "task", t.ID, "err", f.err)
		return t
	}
	return f.t
}

// Refresh polls the upstream for t and stores what it learned. byPoller
// says the poller asked (its backoff grows); a client's fetch resets it.
func (s *Service) Refresh(ctx context.Context, t gateway.Task, byPoller bool) (gateway.Task, error) {
	s.init()
	ad, ok := s.Adapters[t.Kind]
	if !ok {
		return t, fmt.Errorf("task %s: no adaptor for kind %q", t.ID, t.Kind)
	}
	ch, ok := s.Channel(t.ChannelID)
	if !ok {
		err := s.Failed(ctx, &t, "the channel that ran this task no longer exists")
		return t, err
	}
	u, err := ad.Poll(ctx, ch, &t)
	if err != nil {
		if byPoller {
			// Back off as if it had answered; the timeout bounds the rest.
			return t, errors.Join(err, s.apply(ctx, &t, Update{Status: t.Status, Progress: t.Progress}, true))
		}
		return t, err
	}
	if !u.Status.Terminal() && s.now().Sub(t.CreatedAt) > s.Options.Timeout {
		u = Update{Status: gateway.TaskFailed, Progress: t.Progress, FailReason: "the task did not finish in time"}
	}
	err = s.apply(ctx, &t, u, byPoller)
	return t, err
}

// apply moves t to what u says and stores it, against concurrent writers:
// on a version conflict it re-reads the task and applies u again unless
// the task ended meanwhile. A task that ends is billed at once.
func (s *Service) apply(ctx context.Context, t *gateway.Task, u Update, byPoller bool) error {
	s.init()
	for attempt := 0; ; attempt++ {
		from := t.Status
		if from.Terminal() {
			return nil // ended elsewhere; ends are final
		}
		changed := u.Status != from || u.Progress != t.Progress
		next := *t
		next.Status, next.Progress = u.Status, max(u.Progress, 0)
		if u.Result != nil {
			next.Result = u.Result
		}
		if u.FailReason != "" {
			next.FailReason = u.FailReason
		}
		if u.Units != nil {
			next.Units = u.Units
		}
		now := s.now()
		if next.StartedAt.IsZero() && (next.Status == gateway.TaskInProgress || next.Status.Terminal()) {
			next.StartedAt = now
		}
		if next.Status.Terminal() {
			next.Progress = min(next.Progress, 100)
			if next.Status == gateway.TaskSucceeded {
				next.Progress = 100
			}
			next.FinishedAt, next.NextPollAt = now, time.Time{}
			if next.HookURL != "" && s.Hooks != nil {
				next.HookState = gateway.HookPending
			}
		} else {
			if byPoller && !changed {
				next.Polls++
			} else {
				next.Polls = 0
			}
			next.NextPollAt = now.Add(s.backoff(next.Polls))
		}
		err := s.Store.UpdateTask(ctx, &next)
		if errors.Is(err, gateway.ErrConflict) && attempt < 5 {
			fresh, gerr := s.Store.TaskByID(ctx, t.ID)
			if gerr != nil {
				return gerr
			}
			*t = fresh
			continue
		}
		if err != nil {
			return err
		}
		*t = next
		if next.Status.Terminal() {
			s.mu.Lock()
			delete(s.fetched, t.ID)
			s.mu.Unlock()
		}
		if changed || from != next.Status {
			s.emit(next, from)
			if s.Hooks != nil && next.HookURL != "" && !next.Status.Terminal() {
				s.notify(next, false)
			}
		}
		if next.Status.Terminal() {
			return s.finish(ctx, t)
		}
		return nil
	}
}

func (s *Service) backoff(polls int) time.Duration {
	d := s.Options.PollInterval
	for i := 0; i < polls && d < s.Options.MaxPollInterval; i++ {
		d *= 2
	}
	return min(d, s.Options.MaxPollInterval)
}

// finish bills an ended task (once: the ledger skips a record whose
// request id it has, and settling is idempotent) and sends its final
// notification.
func (s *Service) finish(ctx context.Context, t *gateway.Task) error {
	if !t.Billed {
		if err := s.bill(ctx, t); err != nil {
			return err
		}
	}
	if t.HookState == gateway.HookPending {
		s.notify(*t, true)
	}
	return nil
}

// Endpoint labels a task's ledger record.
func Endpoint(t *gateway.Task) string {
	if t.Kind == gateway.TaskMidjourney {
		return "mj." + lower(t.Action)
	}
	return "videos." + lower(t.Action)
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func (s *Service) bill(ctx context.Context, t *gateway.Task) error {
	rec := gateway.UsageRecord{
		RequestID: t.HoldID, Time: t.FinishedAt, KeyID: t.KeyID, KeyName: t.KeyName, Endpoint: Endpoint(t),
		Model: t.Model, ChannelID: t.ChannelID, UpstreamModel: t.UpstreamModel, Status: 200,
		Latency: t.FinishedAt.Sub(t.CreatedAt), UsageSource: gateway.UsageFromUpstream, Attempts: 1,
	}
	ch, _ := s.Channel(t.ChannelID)
	if ch != nil {
		rec.ChannelName = ch.Name
	}
	if t.Status == gateway.TaskSucceeded {
		rec.Units = t.Units
		s.Prices.Charge(t.Model, t.UpstreamModel, ch, llm.Usage{}, t.Units).Apply(&rec)
	} else {
		// Nothing was delivered: the record charges nothing and settling
		// it at 0 releases the hold.
		rec.Status, rec.ErrorMessage = 502, t.FailReason
		if t.Status == gateway.TaskCanceled {
			rec.Status = 499
		}
		rec.UsageSource = gateway.UsageMissing
	}
	if err := s.Ledger.Record(&rec, true); err != nil {
		return fmt.Errorf("task %s: record usage: %w", t.ID, err)
	}
	for attempt := 0; ; attempt++ {
		next := *t
		next.Billed, next.PriceNanoUSD = true, rec.PriceNanoUSD
		err := s.Store.UpdateTask(ctx, &next)
		if errors.Is(err, gateway.ErrConflict) && attempt < 5 {
			fresh, gerr := s.Store.TaskByID(ctx, t.ID)
			if gerr != nil {
				return gerr
			}
			if fresh.Billed {
				*t = fresh
				return nil
			}
			*t = fresh
			continue
		}
		if err != nil {
			return fmt.Errorf("task %s: mark billed: %w", t.ID, err)
		}
		*t = next
		return nil
	}
}

// notify queues t's notification to its hook.
func (s *Service) notify(t gateway.Task, final bool) {
	ad, ok := s.Adapters[t.Kind]
	if !ok || s.Hooks == nil {
		return
	}
	body, err := ad.HookBody(&t)
	if err != nil {
		s.Log.Warn("render task notification", "task", t.ID, "err", err)
		return
	}
	if body == nil {
		if final {
			// The protocol has no notification for this end; nothing is owed.
			_ = s.Store.SetHookState(context.Background(), t.ID, gateway.HookDelivered)
		}
		return
	}
	s.Hooks.Enqueue(HookJob{TaskID: t.ID, URL: t.HookURL, Body: body, Final: final, Event: t.ID + "." + strconv.FormatInt(t.Version, 10)})
}
