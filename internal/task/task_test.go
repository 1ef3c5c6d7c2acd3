package task

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/internal/gateway"
	"switchboard/internal/ledger"
	"switchboard/internal/pricing"
	"switchboard/internal/safefetch"
	"switchboard/internal/secret"
	"switchboard/internal/sqlstore"
)

// script is a fake adaptor: each poll answers the next update, the last
// one forever after.
type script struct {
	mu      sync.Mutex
	updates []Update
	polls   atomic.Int64
	delay   time.Duration
	fail    error
}

func (s *script) Poll(ctx context.Context, _ *gateway.Channel, _ *gateway.Task) (Update, error) {
	s.polls.Add(1)
	if s.delay > 0 {
		time.Sleep(s.delay)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return Update{}, s.fail
	}
	u := s.updates[0]
	if len(s.updates) > 1 {
		s.updates = s.updates[1:]
	}
	return u, nil
}

func (s *script) HookBody(t *gateway.Task) ([]byte, error) {
	return []byte(`{"id":"` + t.ID + `","status":"` + string(t.Status) + `"}`), nil
}

type rig struct {
	store  *sqlstore.Store
	ledger *ledger.Writer
	key    gateway.Key
	ch     gateway.Channel
	prices *pricing.Table
}

func newRig(t *testing.T, budget int64) *rig {
	t.Helper()
	box, err := secret.New(bytes.Repeat([]byte{7}, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	st, err := sqlstore.Open(context.Background(), "sqlite://"+filepath.Join(dir, "sb.db"), sqlstore.Options{Secret: box, NodeID: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	k, err := st.CreateKey(context.Background(), gateway.Key{Name: "alice", Hash: "h", BudgetNanoUSD: budget, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	ch, err := st.UpsertChannel(context.Background(), gateway.Channel{Name: "mj", Type: gateway.ChannelMidjourney,
		BaseURL: "http://mj.invalid", APIKeys: []string{"k"}, Models: []string{"mj/*"}, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	lw, err := ledger.Open(context.Background(), filepath.Join(dir, "spool"), st, ledger.Options{FlushInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lw.Close(context.Background()) })
	prices := pricing.New(map[string]gateway.Price{"mj/imagine": {PerCall: gateway.NanoUSD(0.05)}})
	return &rig{store: st, ledger: lw, key: k, ch: ch, prices: prices}
}

func (r *rig) service(ad Adapter, hooks *Hooks) *Service {
	return &Service{
		Store: r.store, Holder: r.store, Ledger: r.ledger, Prices: r.prices,
		Channel:  func(id int64) (*gateway.Channel, bool) { return &r.ch, id == r.ch.ID },
		Adapters: map[gateway.TaskKind]Adapter{gateway.TaskMidjourney: ad},
		Hooks:    hooks, Log: discard,
		Options: Options{PollInterval: time.Millisecond, MaxPollInterval: 4 * time.Millisecond, FetchInterval: time.Hour,
			LeaseTTL: time.Millisecond, Tick: time.Millisecond},
	}
}

// submit holds, begins and accepts one imagine task.
func (r *rig) submit(t *testing.T, s *Service, hook string) gateway.Task {
	t.Helper()
	ctx := context.Background()
	tk := gateway.Task{ID: NewNumericID(time.Now()), Kind: gateway.TaskMidjourney, KeyID: r.key.ID, KeyName: r.key.Name,
		ChannelID: r.ch.ID, Action: "IMAGINE", Model: "mj/imagine", HookURL: hook}
	tk.HoldID = "task-" + tk.ID
	held, gerr := s.Hold(ctx, &r.key, tk.HoldID, tk.Model, nil, nil)
	if gerr != nil {
		t.Fatal(gerr)
	}
	tk.Held = held
	if err := s.Begin(ctx, &tk); err != nil {
		t.Fatal(err)
	}
	if err := s.Accepted(ctx, &tk, "up-"+tk.ID, Update{Status: gateway.TaskQueued}); err != nil {
		t.Fatal(err)
	}
	return tk
}

func (r *rig) waitBilled(t *testing.T, id string) gateway.Task {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		tk, err := r.store.TaskByID(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		k, _ := r.store.KeyByID(context.Background(), r.key.ID)
		if tk.Billed && k.ReservedNanoUSD == 0 {
			return tk
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s not billed: %+v, key %+v", id, tk, k)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (r *rig) records(t *testing.T, holdID string) []gateway.UsageRecord {
	t.Helper()
	recs, err := r.store.ListUsage(context.Background(), gateway.LedgerFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []gateway.UsageRecord
	for _, rec := range recs {
		if rec.RequestID == holdID {
			out = append(out, rec)
		}
	}
	return out
}

func TestLifecycleBillsOnceAndReleasesOnFailure(t *testing.T) {
	for _, tc := range []struct {
		name      string
		final     Update
		wantSpent int64
		wantState gateway.TaskStatus
	}{
		{"success settles the price", Update{Status: gateway.TaskSucceeded, Progress: 100}, gateway.NanoUSD(0.05), gateway.TaskSucceeded},
		{"failure releases the hold", Update{Status: gateway.TaskFailed, FailReason: "banned"}, 0, gateway.TaskFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, gateway.NanoUSD(1))
			ad := &script{updates: []Update{{Status: gateway.TaskInProgress, Progress: 30}, tc.final}}
			var events []Event
			var counts Counts
			s := r.service(ad, nil)
			s.Subscribe(ObserverFunc(func(e Event) { events = append(events, e) }))
			s.Subscribe(&counts)
			tk := r.submit(t, s, "")
			if k, _ := r.store.KeyByID(context.Background(), r.key.ID); k.ReservedNanoUSD != gateway.NanoUSD(0.05) {
				t.Fatalf("reserved %d after submit, want the per-call price", k.ReservedNanoUSD)
			}
			ctx := context.Background()
			for i := 0; i < 5; i++ {
				time.Sleep(5 * time.Millisecond)
				s.Round(ctx) // polls, then the poll after the end finds nothing more to do
			}
			got := r.waitBilled(t, tk.ID)
			if got.Status != tc.wantState || got.NextPollAt != (time.Time{}) || got.FinishedAt.IsZero() {
				t.Fatalf("task %+v", got)
			}
			k, _ := r.store.KeyByID(ctx, r.key.ID)
			if k.SpentNanoUSD != tc.wantSpent || k.ReservedNanoUSD != 0 {
				t.Fatalf("spent %d reserved %d, want %d and 0", k.SpentNanoUSD, k.ReservedNanoUSD, tc.wantSpent)
			}
			if n := len(r.records(t, tk.HoldID)); n != 1 {
				t.Fatalf("%d ledger records, want 1", n)
			}
			var states []gateway.TaskStatus
			for _, e := range events {
				if e.From != e.Task.Status {
					states = append(states, e.Task.Status)
				}
			}
			if len(states) < 3 || states[len(states)-1] != tc.wantState {
				t.Fatalf("observed states %v", states)
			}
			snap := counts.Snapshot()
			if snap[CountKey(gateway.TaskMidjourney, tc.wantState)] != 1 || snap[CountKey(gateway.TaskMidjourney, gateway.TaskInProgress)] != 1 {
				t.Fatalf("counts %v", snap)
			}
		})
	}
}

// Two nodes racing to end the same task bill it once.
func TestConcurrentEndBillsOnce(t *testing.T) {
	r := newRig(t, gateway.NanoUSD(1))
	done := Update{Status: gateway.TaskSucceeded, Progress: 100}
	a := r.service(&script{updates: []Update{done}}, nil)
	b := r.service(&script{updates: []Update{done}}, nil)
	tk := r.submit(t, a, "")
	var wg sync.WaitGroup
	for _, s := range []*Service{a, b, a, b} {
		wg.Add(1)
		go func(s *Service) {
			defer wg.Done()
			_, _ = s.Refresh(context.Background(), tk, true)
		}(s)
	}
	wg.Wait()
	r.waitBilled(t, tk.ID)
	a.Round(context.Background())
	b.Round(context.Background())
	time.Sleep(50 * time.Millisecond)
	if n := len(r.records(t, tk.HoldID)); n != 1 {
		t.Fatalf("%d ledger records, want 1", n)
	}
	k, _ := r.store.KeyByID(context.Background(), r.key.ID)
	if k.SpentNanoUSD != gateway.NanoUSD(0.05) {
		t.Fatalf("spent %d, want one price", k.SpentNanoUSD)
	}
}

// A node that died after ending a task but before billing it leaves the
// bill to the poller; a node that died mid-submission leaves a task the
// poller fails, releasing its hold.
func TestRecoveryFinishesWhatADeadNodeLeft(t *testing.T) {
	r := newRig(t, gateway.NanoUSD(1))
	s := r.service(&script{updates: []Update{{Status: gateway.TaskInProgress}}}, nil)
	ctx := context.Background()

	ended := r.submit(t, s, "")
	ended.Status, ended.Progress, ended.FinishedAt, ended.NextPollAt = gateway.TaskSucceeded, 100, time.Now(), time.Time{}
	if err := r.store.UpdateTask(ctx, &ended); err != nil { // ended, never billed
		t.Fatal(err)
	}
	stuck := gateway.Task{ID: NewNumericID(time.Now()), Kind: gateway.TaskMidjourney, KeyID: r.key.ID, ChannelID: r.ch.ID,
		Action: "IMAGINE", Model: "mj/imagine"}
	stuck.HoldID = "task-" + stuck.ID
	if _, gerr := s.Hold(ctx, &r.key, stuck.HoldID, stuck.Model, nil, nil); gerr != nil {
		t.Fatal(gerr)
	}
	s.Options.SubmitTimeout = time.Millisecond
	if err := s.Begin(ctx, &stuck); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * time.Millisecond)
	s.Round(ctx)
	r.waitBilled(t, ended.ID)
	if got := r.waitBilled(t, stuck.ID); got.Status != gateway.TaskFailed {
		t.Fatalf("stuck submission is %s, want failed", got.Status)
	}
	k, _ := r.store.KeyByID(ctx, r.key.ID)
	if k.SpentNanoUSD != gateway.NanoUSD(0.05) || k.ReservedNanoUSD != 0 {
		t.Fatalf("spent %d reserved %d: want the ended task's price only", k.SpentNanoUSD, k.ReservedNanoUSD)
	}
	// The stale sweep of call holds never took the task holds.
	if n, err := r.store.ReleaseStale(ctx, 0); err != nil || n != 0 {
		t.Fatalf("stale sweep released %d (%v)", n, err)
	}
}

func TestTaskHoldSurvivesTheStaleSweep(t *testing.T) {
	r := newRig(t, gateway.NanoUSD(1))
	s := r.service(&script{updates: []Update{{Status: gateway.TaskInProgress}}}, nil)
	r.submit(t, s, "")
	if n, err := r.store.ReleaseStale(context.Background(), 0); err != nil || n != 0 {
		t.Fatalf("stale sweep released %d task holds (%v)", n, err)
	}
	if _, err := r.store.ReleaseNode(context.Background()); err != nil {
		t.Fatal(err)
	}
	if k, _ := r.store.KeyByID(context.Background(), r.key.ID); k.ReservedNanoUSD != gateway.NanoUSD(0.05) {
		t.Fatalf("reserved %d after the sweeps, want the task's hold", k.ReservedNanoUSD)
	}
}

// Fetches of an unfinished task read through to the upstream, one call
// for concurrent fetches and at most one per FetchInterval.
func TestFreshCoalescesAndRateLimits(t *testing.T) {
	r := newRig(t, 0)
	ad := &script{updates: []Update{{Status: gateway.TaskInProgress, Progress: 40}}, delay: 30 * time.Millisecond}
	s := r.service(ad, nil)
	tk := r.submit(t, s, "")
	var wg sync.WaitGroup
	results := make([]gateway.Task, 8)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i] = s.Fresh(context.Background(), tk)
		}(i)
	}
	wg.Wait()
	if n := ad.polls.Load(); n != 1 {
		t.Fatalf("%d upstream polls for concurrent fetches, want 1", n)
	}
	moved := 0
	for _, got := range results {
		if got.Progress == 40 {
			moved++
		}
	}
	if moved == 0 {
		t.Fatal("no fetch saw the progress the upstream reported")
	}
	s.Fresh(context.Background(), tk)
	if n := ad.polls.Load(); n != 1 {
		t.Fatalf("a fetch within the interval polled again (%d polls)", n)
	}
	s.Options.FetchInterval = time.Nanosecond
	s.Fresh(context.Background(), tk)
	if n := ad.polls.Load(); n != 2 {
		t.Fatalf("a fetch after the interval did not poll (%d polls)", n)
	}
}

func TestOwnedHidesOtherKeysTasks(t *testing.T) {
	r := newRig(t, 0)
	s := r.service(&script{updates: []Update{{Status: gateway.TaskQueued}}}, nil)
	tk := r.submit(t, s, "")
	other := gateway.Key{ID: r.key.ID + 1}
	if _, err := s.Owned(context.Background(), &other, gateway.TaskMidjourney, tk.ID); !errors.Is(err, gateway.ErrNotFound) {
		t.Fatalf("other key: %v, want ErrNotFound", err)
	}
	if _, err := s.Owned(context.Background(), &r.key, gateway.TaskVideo, tk.ID); !errors.Is(err, gateway.ErrNotFound) {
		t.Fatalf("wrong kind: %v, want ErrNotFound", err)
	}
	if _, err := s.Owned(context.Background(), &r.key, gateway.TaskMidjourney, tk.ID); err != nil {
		t.Fatal(err)
	}
}

func TestHooksSignedDeliveredOnceRetried(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	fails := 1
	secretKey := []byte("whsec")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		want := "v1," + Sign(secretKey, req.Header.Get("Webhook-Id"), req.Header.Get("Webhook-Timestamp"), b)
		if req.Header.Get("Webhook-Signature") != want {
			t.Errorf("bad signature %q", req.Header.Get("Webhook-Signature"))
		}
		mu.Lock()
		defer mu.Unlock()
		if fails > 0 {
			fails--
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		bodies = append(bodies, string(b))
	}))
	defer srv.Close()
	r := newRig(t, 0)
	hooks := NewHooks(safefetch.New(safefetch.Options{AllowPrivate: true}), r.store, discard,
		HookOptions{Secret: secretKey, Backoff: time.Millisecond})
	defer hooks.Close()
	s := r.service(&script{updates: []Update{{Status: gateway.TaskInProgress, Progress: 50}, {Status: gateway.TaskSucceeded}}}, hooks)
	tk := r.submit(t, s, srv.URL)
	for i := 0; i < 4; i++ {
		time.Sleep(5 * time.Millisecond)
		s.Round(context.Background())
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, _ := r.store.TaskByID(context.Background(), tk.ID)
		if got.HookState == gateway.HookDelivered {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("final notification not delivered: %+v", got)
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.Round(context.Background()) // nothing owed any more
	time.Sleep(20 * time.Millisecond)
	received := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), bodies...)
	}
	finals := 0
	for _, b := range received() {
		if b == `{"id":"`+tk.ID+`","status":"succeeded"}` {
			finals++
		}
	}
	if finals != 1 {
		t.Fatalf("final notification delivered %d times: %q", finals, received())
	}

	// Loopback is refused unless allowed: the final notification is
	// abandoned, never sent.
	strict := NewHooks(safefetch.New(safefetch.Options{}), r.store, discard, HookOptions{Backoff: time.Millisecond})
	defer strict.Close()
	s2 := r.service(&script{updates: []Update{{Status: gateway.TaskSucceeded}}}, strict)
	before := len(received())
	tk2 := r.submit(t, s2, srv.URL)
	deadline = time.Now().Add(5 * time.Second)
	for {
		time.Sleep(5 * time.Millisecond)
		s2.Round(context.Background())
		got, _ := r.store.TaskByID(context.Background(), tk2.ID)
		if got.HookState == gateway.HookAbandoned {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("refused notification state %q", got.HookState)
		}
	}
	if len(received()) != before {
		t.Fatal("a loopback hook was delivered without allow_private")
	}
}

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestMediaURLsExpireAndBind(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	m := &Media{Secret: []byte("s"), Base: "https://gw.example.com/", TTL: time.Minute, Now: func() time.Time { return now }}
	u := m.URL("17")
	if !strings.HasPrefix(u, "https://gw.example.com/mj/image/17?exp=1800000060&sig=") {
		t.Fatalf("URL %q", u)
	}
	sig := u[strings.Index(u, "sig=")+4:]
	for _, tc := range []struct {
		id, exp, sig string
		at           time.Time
		ok           bool
	}{
		{"17", "1800000060", sig, now, true},
		{"17", "1800000060", sig, now.Add(61 * time.Second), false}, // expired
		{"18", "1800000060", sig, now, false},                       // another task
		{"17", "1800009999", sig, now, false},                       // extended
		{"17", "soon", sig, now, false},
		{"17", "1800000060", "00" + sig[2:], now, false},
	} {
		m.Now = func() time.Time { return tc.at }
		if got := m.Verify(tc.id, tc.exp, tc.sig); got != tc.ok {
			t.Errorf("Verify(%s, %s) at %v = %v, want %v", tc.id, tc.exp, tc.at.Unix(), got, tc.ok)
		}
	}
}

// blockingPoster holds every delivery until released.
type blockingPoster struct {
	started chan string
	release chan struct{}
}

func (p *blockingPoster) Post(ctx context.Context, rawURL string, _ http.Header, _ []byte) (int, error) {
	p.started <- rawURL
	select {
	case <-p.release:
	case <-ctx.Done():
	}
	return http.StatusOK, nil
}

func TestHookQueueIsBounded(t *testing.T) {
	r := newRig(t, 0)
	p := &blockingPoster{started: make(chan string, 10), release: make(chan struct{})}
	h := NewHooks(p, r.store, discard, HookOptions{Queue: 1, Workers: 1, Attempts: 1})
	defer h.Close()
	if !h.Enqueue(HookJob{TaskID: "a", URL: "http://x/1"}) {
		t.Fatal("first job refused")
	}
	<-p.started // the worker holds the first
	if !h.Enqueue(HookJob{TaskID: "b", URL: "http://x/2"}) {
		t.Fatal("second job refused with room in the queue")
	}
	if h.Enqueue(HookJob{TaskID: "c", URL: "http://x/3"}) {
		t.Fatal("a job past the bound was queued")
	}
	// A final notification already queued is not queued twice; one
	// refused for lack of room can be queued again later (the poller does).
	if h.Enqueue(HookJob{TaskID: "d", URL: "http://x/4", Final: true}) {
		t.Fatal("a final job past the bound was queued")
	}
	close(p.release)
	waitFor(t, func() bool { return len(h.queue) == 0 })
	if !h.Enqueue(HookJob{TaskID: "d", URL: "http://x/4", Final: true}) {
		t.Fatal("the final job could not be queued again once there was room")
	}
}

func TestFinalHookDeduplicated(t *testing.T) {
	r := newRig(t, 0)
	p := &blockingPoster{started: make(chan string, 10), release: make(chan struct{})}
	h := NewHooks(p, r.store, discard, HookOptions{Queue: 4, Workers: 1, Attempts: 1})
	defer h.Close()
	for range 3 {
		h.Enqueue(HookJob{TaskID: "t", URL: "http://x/final", Final: true})
	}
	<-p.started
	close(p.release)
	time.Sleep(50 * time.Millisecond)
	if n := len(p.started); n != 0 {
		t.Fatalf("the final notification of one task was sent %d more times", n)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
