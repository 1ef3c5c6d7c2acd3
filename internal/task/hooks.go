package task

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"switchboard/internal/gateway"
	"switchboard/internal/safefetch"
)

// Poster sends one webhook (safefetch.Fetcher.Post: the SSRF guard).
type Poster interface {
	Post(ctx context.Context, rawURL string, header http.Header, body []byte) (int, error)
}

// HookJob is one notification to deliver.
type HookJob struct {
	TaskID string
	URL    string
	Body   []byte
	// Final: the task ended; its delivery is recorded in the store, and a
	// final notification lost with its node is sent again by the poller.
	Final bool
	// Event is the notification's id (webhook-id), the same for every
	// attempt of one notification so receivers can drop repeats.
	Event string
}

// HookOptions tune delivery; zero fields take the defaults.
type HookOptions struct {
	// Secret signs every notification (Standard Webhooks: webhook-id,
	// webhook-timestamp, webhook-signature "v1,<base64 HMAC-SHA256 of
	// id.timestamp.body>"); empty sends them unsigned.
	Secret []byte
	// Queue bounds the notifications waiting; past it new progress
	// notifications are dropped (final ones are owed in the store and
	// picked up again by the poller).
	Queue int
	// Attempts per notification, Backoff the first pause between them
	// (doubling).
	Attempts int
	Backoff  time.Duration
	Workers  int
}

// Hooks delivers task notifications with bounded memory: a fixed queue
// and a fixed number of workers.
type Hooks struct {
	post  Poster
	store gateway.TaskStore
	log   *slog.Logger
	opts  HookOptions
	queue chan HookJob
	stop  chan struct{}
	wg    sync.WaitGroup

	mu       sync.Mutex
	inFlight map[string]bool // final notifications queued or being sent
}

// NewHooks starts the delivery workers; Close stops them.
func NewHooks(post Poster, store gateway.TaskStore, log *slog.Logger, opts HookOptions) *Hooks {
	if opts.Queue <= 0 {
		opts.Queue = 1024
	}
	if opts.Attempts <= 0 {
		opts.Attempts = 5
	}
	if opts.Backoff <= 0 {
		opts.Backoff = time.Second
	}
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if log == nil {
		log = slog.Default()
	}
	h := &Hooks{post: post, store: store, log: log, opts: opts, queue: make(chan HookJob, opts.Queue),
		stop: make(chan struct{}), inFlight: map[string]bool{}}
	for range opts.Workers {
		h.wg.Add(1)
		go h.work()
	}
	return h
}

// Enqueue queues j and reports whether it was taken. A final notification
// already queued for the same task is not queued twice.
func (h *Hooks) Enqueue(j HookJob) bool {
	if j.Final {
		h.mu.Lock()
		if h.inFlight[j.TaskID] {
			h.mu.Unlock()
			return true
		}
		h.inFlight[j.TaskID] = true
		h.mu.Unlock()
	}
	select {
	case h.queue <- j:
		return true
	default:
		h.log.Warn("task notification queue full: dropped", "task", j.TaskID, "final", j.Final)
		h.done(j)
		return false
	}
}

func (h *Hooks) done(j HookJob) {
	if j.Final {
		h.mu.Lock()
		delete(h.inFlight, j.TaskID)
		h.mu.Unlock()
	}
}

// Close stops the workers; queued notifications not yet sent are dropped
// (final ones stay owed in the store).
func (h *Hooks) Close() {
	close(h.stop)
	h.wg.Wait()
}

func (h *Hooks) work() {
	defer h.wg.Done()
	for {
		select {
		case <-h.stop:
			return
		case j := <-h.queue:
			h.deliver(j)
			h.done(j)
		}
	}
}

func (h *Hooks) deliver(j HookJob) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-h.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	pause := h.opts.Backoff
	state := gateway.HookAbandoned
	for attempt := 1; attempt <= h.opts.Attempts; attempt++ {
		status, err := h.post.Post(ctx, j.URL, h.sign(j), j.Body)
		if err == nil && status >= 200 && status < 300 {
			state = gateway.HookDelivered
			break
		}
		if errors.Is(err, safefetch.ErrRefused) {
			h.log.Warn("task notification refused by the SSRF guard", "task", j.TaskID, "err", err)
			break
		}
		h.log.Info("task notification failed", "task", j.TaskID, "attempt", attempt, "status", status, "err", err)
		if attempt == h.opts.Attempts {
			break
		}
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return // stopping: a final notification stays owed
		}
		pause *= 2
	}
	if j.Final {
		if err := h.store.SetHookState(context.Background(), j.TaskID, state); err != nil {
			h.log.Warn("record task notification", "task", j.TaskID, "err", err)
		}
	}
}

// sign returns the Standard Webhooks headers of j.
func (h *Hooks) sign(j HookJob) http.Header {
	hdr := http.Header{"Content-Type": {"application/json"}}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	hdr.Set("Webhook-Id", j.Event)
	hdr.Set("Webhook-Timestamp", ts)
	if len(h.opts.Secret) > 0 {
		hdr.Set("Webhook-Signature", "v1,"+Sign(h.opts.Secret, j.Event, ts, j.Body))
	}
	return hdr
}

// Sign is the Standard Webhooks signature of a notification: base64 of
// HMAC-SHA256 over "id.timestamp.body". Receivers recompute it to verify.
func Sign(secret []byte, id, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(id + "." + timestamp + "."))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}
