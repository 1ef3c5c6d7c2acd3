package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"switchboard/internal/gateway"
)

var (
	_ gateway.TaskStore = (*Store)(nil)
	_ gateway.Leaser    = (*Store)(nil)
)

const taskCols = `id, kind, key_id, key_name, channel_id, upstream_id, action, model, upstream_model, parent_id,
	status, progress, request, result, fail_reason, hold_id, held_nano, units, billed, price_nano,
	hook_url, hook_state, created_at, updated_at, started_at, finished_at, next_poll_at, polls, key_index, version`

// optTime stores the zero time as NULL.
func (s *Store) optTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return s.ts(t)
}

func (s *Store) taskArgs(t *gateway.Task) []any {
	return []any{string(t.Kind), t.KeyID, t.KeyName, t.ChannelID, t.UpstreamID, t.Action, t.Model, t.UpstreamModel, t.ParentID,
		string(t.Status), t.Progress, string(t.Request), string(t.Result), t.FailReason, t.HoldID, t.Held,
		encodeUnits(t.Units), t.Billed, t.PriceNanoUSD, t.HookURL, string(t.HookState),
		s.ts(t.CreatedAt), s.ts(t.UpdatedAt), s.optTime(t.StartedAt), s.optTime(t.FinishedAt), s.optTime(t.NextPollAt), t.Polls, t.KeyIndex}
}

func scanTask(sc rowScanner) (gateway.Task, error) {
	var (
		t                                  gateway.Task
		kind, status, req, res, units, hst string
		created, updated, started, fin, np dbTime
	)
	err := sc.Scan(&t.ID, &kind, &t.KeyID, &t.KeyName, &t.ChannelID, &t.UpstreamID, &t.Action, &t.Model, &t.UpstreamModel,
		&t.ParentID, &status, &t.Progress, &req, &res, &t.FailReason, &t.HoldID, &t.Held, &units, &t.Billed, &t.PriceNanoUSD,
		&t.HookURL, &hst, &created, &updated, &started, &fin, &np, &t.Polls, &t.KeyIndex, &t.Version)
	if err != nil {
		return t, err
	}
	t.Kind, t.Status, t.HookState = gateway.TaskKind(kind), gateway.TaskStatus(status), gateway.HookState(hst)
	if req != "" {
		t.Request = []byte(req)
	}
	if res != "" {
		t.Result = []byte(res)
	}
	if t.Units, err = decodeUnits(units); err != nil {
		return t, fmt.Errorf("task %s units: %w", t.ID, err)
	}
	t.CreatedAt, t.UpdatedAt, t.StartedAt, t.FinishedAt, t.NextPollAt = created.t, updated.t, started.t, fin.t, np.t
	return t, nil
}

// CreateTask inserts t; see gateway.TaskStore.
func (s *Store) CreateTask(ctx context.Context, t *gateway.Task) error {
	if t.ID == "" {
		return errors.New("sqlstore: create task: empty id")
	}
	now := s.nowUTC()
	if t.CreatedAt.IsZero() {
		t.CreatedAt = now
	}
	t.UpdatedAt = now
	t.Version = 1
	_, err := s.w.ExecContext(ctx, s.q(`INSERT INTO tasks (`+taskCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`),
		append([]any{t.ID}, s.taskArgs(t)...)...)
	if isUniqueViolation(err) {
		return fmt.Errorf("sqlstore: create task %s: %w", t.ID, gateway.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("sqlstore: create task %s: %w", t.ID, err)
	}
	return nil
}

// TaskByID returns one task; see gateway.TaskStore.
func (s *Store) TaskByID(ctx context.Context, id string) (gateway.Task, error) {
	t, err := scanTask(s.r.QueryRowContext(ctx, s.q(`SELECT `+taskCols+` FROM tasks WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("sqlstore: task %s: %w", id, gateway.ErrNotFound)
	}
	if err != nil {
		return t, fmt.Errorf("sqlstore: task %s: %w", id, err)
	}
	return t, nil
}

// ListTasks returns a key's tasks, newest first; see gateway.TaskStore.
func (s *Store) ListTasks(ctx context.Context, f gateway.TaskFilter) ([]gateway.Task, error) {
	var (
		where = []string{"key_id = ?"}
		args  = []any{f.KeyID}
	)
	if f.Kind != "" {
		where, args = append(where, "kind = ?"), append(args, string(f.Kind))
	}
	if len(f.IDs) > 0 {
		where = append(where, "id IN (?"+strings.Repeat(", ?", len(f.IDs)-1)+")")
		for _, id := range f.IDs {
			args = append(args, id)
		}
	}
	if f.Before != "" {
		before, err := s.TaskByID(ctx, f.Before)
		if err != nil {
			return nil, err
		}
		where = append(where, "(created_at < ? OR (created_at = ? AND id < ?))")
		args = append(args, s.ts(before.CreatedAt), s.ts(before.CreatedAt), before.ID)
	}
	limit := f.Limit
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	args = append(args, limit)
	// Built from fixed fragments; the placeholder count depends on len(IDs),
	// so the rebinding is not cached.
	query := s.rebind(`SELECT ` + taskCols + ` FROM tasks WHERE ` + strings.Join(where, " AND ") +
		` ORDER BY created_at DESC, id DESC LIMIT ?`)
	return s.queryTasks(ctx, "list tasks", query, args...)
}

// RecentTasks returns the newest tasks of every key, for the operator's
// console (never for a client: clients list their own with ListTasks).
func (s *Store) RecentTasks(ctx context.Context, limit int) ([]gateway.Task, error) {
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	query := s.q(`SELECT ` + taskCols + ` FROM tasks ORDER BY created_at DESC, id DESC LIMIT ?`)
	return s.queryTasks(ctx, "recent tasks", query, limit)
}

func (s *Store) queryTasks(ctx context.Context, op, query string, args ...any) ([]gateway.Task, error) {
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: %s: %w", op, err)
	}
	defer rows.Close()
	var out []gateway.Task
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: %s: %w", op, err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: %s: %w", op, err)
	}
	return out, nil
}

// UpdateTask writes t against its version; see gateway.TaskStore.
func (s *Store) UpdateTask(ctx context.Context, t *gateway.Task) error {
	t.UpdatedAt = s.nowUTC()
	args := append(s.taskArgs(t), t.ID, t.Version)
	res, err := s.w.ExecContext(ctx, s.q(`UPDATE tasks SET kind = ?, key_id = ?, key_name = ?, channel_id = ?, upstream_id = ?,
		action = ?, model = ?, upstream_model = ?, parent_id = ?, status = ?, progress = ?, request = ?, result = ?,
		fail_reason = ?, hold_id = ?, held_nano = ?, units = ?, billed = ?, price_nano = ?, hook_url = ?, hook_state = ?,
		created_at = ?, updated_at = ?, started_at = ?, finished_at = ?, next_poll_at = ?, polls = ?, key_index = ?, version = version + 1
		WHERE id = ? AND version = ?`), args...)
	if err != nil {
		return fmt.Errorf("sqlstore: update task %s: %w", t.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlstore: update task %s: %w", t.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlstore: update task %s at version %d: %w", t.ID, t.Version, gateway.ErrConflict)
	}
	t.Version++
	return nil
}

// DueTasks returns the poller's work; see gateway.TaskStore.
func (s *Store) DueTasks(ctx context.Context, now time.Time, settled time.Duration, limit int) ([]gateway.Task, error) {
	if limit <= 0 {
		limit = 100
	}
	due, err := s.queryTasks(ctx, "due tasks", s.q(`SELECT `+taskCols+` FROM tasks
		WHERE next_poll_at IS NOT NULL AND next_poll_at <= ? ORDER BY next_poll_at LIMIT ?`), s.ts(now), limit)
	if err != nil || len(due) >= limit {
		return due, err
	}
	owed, err := s.queryTasks(ctx, "owed tasks", s.q(`SELECT `+taskCols+` FROM tasks
		WHERE (billed = ? OR hook_state = ?) AND next_poll_at IS NULL AND updated_at <= ? ORDER BY updated_at LIMIT ?`),
		false, string(gateway.HookPending), s.ts(now.Add(-settled)), limit-len(due))
	return append(due, owed...), err
}

// DeleteTask forgets a task; see gateway.TaskStore.
func (s *Store) DeleteTask(ctx context.Context, id string) error {
	res, err := s.w.ExecContext(ctx, s.q(`DELETE FROM tasks WHERE id = ?`), id)
	if err != nil {
		return fmt.Errorf("sqlstore: delete task %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("sqlstore: delete task %s: %w", id, gateway.ErrNotFound)
	}
	return nil
}

// SetHookState records a final notification's delivery.
func (s *Store) SetHookState(ctx context.Context, id string, st gateway.HookState) error {
	if _, err := s.w.ExecContext(ctx, s.q(`UPDATE tasks SET hook_state = ? WHERE id = ?`), string(st), id); err != nil {
		return fmt.Errorf("sqlstore: task %s hook state: %w", id, err)
	}
	return nil
}

// AcquireLease takes or renews a lease; see gateway.Leaser. The store
// clock judges expiry, so nodes sharing a lease should keep their clocks
// in step well within its ttl.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	now := s.nowUTC()
	res, err := s.w.ExecContext(ctx, s.q(`INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leases.holder = excluded.holder OR leases.expires_at <= ?`), name, holder, s.ts(now.Add(ttl)), s.ts(now))
	if err != nil {
		return false, fmt.Errorf("sqlstore: lease %s: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("sqlstore: lease %s: %w", name, err)
	}
	return n > 0, nil
}

// ReleaseLease gives a lease up; see gateway.Leaser.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	if _, err := s.w.ExecContext(ctx, s.q(`DELETE FROM leases WHERE name = ? AND holder = ?`), name, holder); err != nil {
		return fmt.Errorf("sqlstore: release lease %s: %w", name, err)
	}
	return nil
}
