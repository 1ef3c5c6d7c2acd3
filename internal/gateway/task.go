package gateway

import (
	"context"
	"time"
)

// TaskKind is the family of an asynchronous task, which names the adaptor
// that polls it and the wire its clients speak.
type TaskKind string

const (
	TaskMidjourney TaskKind = "midjourney"
	TaskVideo      TaskKind = "video"
)

// TaskStatus is the gateway's own state of a task, whatever the upstream
// calls it. A task moves forward only:
//
//	submitting → queued → in_progress ⇄ modal → succeeded | failed | canceled
//
// (any unfinished state may jump to a terminal one).
type TaskStatus string

const (
	// TaskSubmitting: the task is stored and its hold placed, the upstream
	// has not yet accepted it (a crash here leaves it to the recovery
	// sweep, which fails it and releases the hold).
	TaskSubmitting TaskStatus = "submitting"
	TaskQueued     TaskStatus = "queued"
	TaskInProgress TaskStatus = "in_progress"
	// TaskModal: a Midjourney task waits for a /mj/submit/modal call.
	TaskModal     TaskStatus = "modal"
	TaskSucceeded TaskStatus = "succeeded"
	TaskFailed    TaskStatus = "failed"
	TaskCanceled  TaskStatus = "canceled"
)

// Terminal reports whether s is an end state.
func (s TaskStatus) Terminal() bool {
	return s == TaskSucceeded || s == TaskFailed || s == TaskCanceled
}

// HookState is where the delivery of a task's final notification stands.
type HookState string

const (
	HookNone      HookState = ""          // no hook, or the task is unfinished
	HookPending   HookState = "pending"   // the final notification is owed
	HookDelivered HookState = "delivered" // the receiver acknowledged it
	HookAbandoned HookState = "abandoned" // every attempt failed or was refused
)

// Task is one asynchronous job (a Midjourney action, a video), owned by the
// client key that created it. ID is the gateway's own; UpstreamID and the
// channel never reach the client.
type Task struct {
	ID        string
	Kind      TaskKind
	KeyID     int64
	KeyName   string
	ChannelID int64
	// KeyIndex is which of the channel's keys submitted the task: every
	// later call for it uses the same (a video lives in its key's project).
	KeyIndex   int
	UpstreamID string
	// Action is what the task does (IMAGINE, UPSCALE, ..., or "create",
	// "remix" for videos); Model is the client-facing model or price name,
	// UpstreamModel what the channel was sent.
	Action        string
	Model         string
	UpstreamModel string
	// ParentID is the task an action or remix started from.
	ParentID string
	Status   TaskStatus
	Progress int // percent, 0..100
	// Request is what the client asked, as the adaptor keeps it (JSON);
	// Result is the latest upstream object, as the adaptor keeps it (JSON).
	Request    []byte
	Result     []byte
	FailReason string
	// HoldID is the request id of the task's budget hold and of its
	// ledger record; Held is the amount held; Units are what the hold
	// priced (and what success bills unless the upstream reports others).
	HoldID string
	Held   int64
	Units  []Metered
	// Billed is set once the task's ledger record (which settles the hold)
	// is durable: a terminal task with Billed false is billed by the
	// recovery sweep, exactly once thanks to the ledger's idempotency.
	Billed bool
	// PriceNanoUSD is what the key was charged (set with Billed).
	PriceNanoUSD int64
	HookURL      string
	HookState    HookState
	CreatedAt    time.Time
	UpdatedAt    time.Time
	StartedAt    time.Time
	FinishedAt   time.Time
	// NextPollAt is when the poller refreshes the task next; Polls counts
	// refreshes, for backoff.
	NextPollAt time.Time
	Polls      int
	// Version increases with every update; UpdateTask succeeds only
	// against the version it read (optimistic concurrency across nodes).
	Version int64
}

// TaskFilter selects tasks of one key.
type TaskFilter struct {
	KeyID int64 // required: tasks are listed per owner
	Kind  TaskKind
	IDs   []string // when set, only these
	// Before continues a listing (newest first) after the task with this
	// id; Limit bounds it (0: 100).
	Before string
	Limit  int
}

// TaskStore persists tasks.
type TaskStore interface {
	// CreateTask inserts t (Version becomes 1); ErrConflict if its id exists.
	CreateTask(ctx context.Context, t *Task) error
	// TaskByID returns a task whoever owns it; ErrNotFound if none.
	TaskByID(ctx context.Context, id string) (Task, error)
	// ListTasks returns a key's tasks matching f, newest first.
	ListTasks(ctx context.Context, f TaskFilter) ([]Task, error)
	// UpdateTask writes t if the stored version is still t.Version, and
	// increments t.Version; ErrConflict when another writer came first.
	UpdateTask(ctx context.Context, t *Task) error
	// DueTasks returns up to limit tasks the poller owes work: unfinished
	// ones whose NextPollAt has passed, and finished ones not yet billed or
	// with a pending hook whose last update is older than settled.
	DueTasks(ctx context.Context, now time.Time, settled time.Duration, limit int) ([]Task, error)
	// DeleteTask forgets a task (a client deleted it); ErrNotFound if
	// there was none.
	DeleteTask(ctx context.Context, id string) error
	// SetHookState records the delivery of a task's final notification
	// without touching its version.
	SetHookState(ctx context.Context, id string, s HookState) error
}

// Leaser grants named, expiring leases, so that one node at a time runs a
// job (the task poller) among many.
type Leaser interface {
	// AcquireLease takes or renews the lease name for holder until ttl from
	// now, and reports whether holder has it.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	// ReleaseLease gives the lease up if holder has it.
	ReleaseLease(ctx context.Context, name, holder string) error
}
