package sqlstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"switchboard/internal/gateway"
)

func TestTasksSQLite(t *testing.T)   { runTaskSuite(t, openSQLite) }
func TestTasksPostgres(t *testing.T) { runTaskSuite(t, openPostgres) }

func runTaskSuite(t *testing.T, open opener) {
	for _, tt := range []struct {
		name string
		fn   func(t *testing.T, s *Store)
	}{
		{"CreateGetUpdate", testTaskCRUD},
		{"ListPerOwner", testTaskList},
		{"Due", testTaskDue},
		{"Lease", testLease},
	} {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
}

func testTaskCRUD(t *testing.T, s *Store) {
	ctx := context.Background()
	tk := gateway.Task{ID: "1712205491372224", Kind: gateway.TaskMidjourney, KeyID: 7, KeyName: "alice", Action: "IMAGINE",
		Model: "mj/imagine", Status: gateway.TaskSubmitting, Request: []byte(`{"prompt":"cat"}`), HoldID: "task:1",
		Held: 50, Units: []gateway.Metered{{Unit: "video_second:720x1280", Count: 8}}, HookURL: "http://h/x"}
	if err := s.CreateTask(ctx, &tk); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTask(ctx, &tk); !errors.Is(err, gateway.ErrConflict) {
		t.Fatalf("second create: %v, want ErrConflict", err)
	}
	got, err := s.TaskByID(ctx, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != 1 || got.Status != gateway.TaskSubmitting || string(got.Request) != `{"prompt":"cat"}` ||
		len(got.Units) != 1 || got.Units[0].Count != 8 || got.Held != 50 || !got.StartedAt.IsZero() {
		t.Fatalf("read back %+v", got)
	}
	a, b := got, got
	a.Status, a.UpstreamID, a.StartedAt, a.KeyIndex = gateway.TaskInProgress, "up-1", time.Now(), 2
	if err := s.UpdateTask(ctx, &a); err != nil {
		t.Fatal(err)
	}
	b.Status = gateway.TaskFailed
	if err := s.UpdateTask(ctx, &b); !errors.Is(err, gateway.ErrConflict) {
		t.Fatalf("stale update: %v, want ErrConflict", err)
	}
	got, _ = s.TaskByID(ctx, tk.ID)
	if got.Status != gateway.TaskInProgress || got.Version != 2 || got.UpstreamID != "up-1" || got.StartedAt.IsZero() || got.KeyIndex != 2 {
		t.Fatalf("after update %+v", got)
	}
	if _, err := s.TaskByID(ctx, "nope"); !errors.Is(err, gateway.ErrNotFound) {
		t.Fatalf("missing task: %v", err)
	}
	if err := s.SetHookState(ctx, tk.ID, gateway.HookDelivered); err != nil {
		t.Fatal(err)
	}
	if got, _ = s.TaskByID(ctx, tk.ID); got.HookState != gateway.HookDelivered || got.Version != 2 {
		t.Fatalf("hook state %+v", got)
	}
	if err := s.DeleteTask(ctx, tk.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTask(ctx, tk.ID); !errors.Is(err, gateway.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func testTaskList(t *testing.T, s *Store) {
	ctx := context.Background()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, owner := range []int64{1, 2, 1, 1} {
		tk := gateway.Task{ID: string(rune('a' + i)), Kind: gateway.TaskVideo, KeyID: owner, Status: gateway.TaskQueued,
			CreatedAt: base.Add(time.Duration(i) * time.Second)}
		if err := s.CreateTask(ctx, &tk); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(ts []gateway.Task) (out string) {
		for _, t := range ts {
			out += t.ID
		}
		return out
	}
	for _, tc := range []struct {
		f    gateway.TaskFilter
		want string
	}{
		{gateway.TaskFilter{KeyID: 1}, "dca"},
		{gateway.TaskFilter{KeyID: 2}, "b"},
		{gateway.TaskFilter{KeyID: 1, Limit: 2}, "dc"},
		{gateway.TaskFilter{KeyID: 1, Before: "c"}, "a"},
		{gateway.TaskFilter{KeyID: 1, IDs: []string{"a", "b", "d"}}, "da"},
		{gateway.TaskFilter{KeyID: 1, Kind: gateway.TaskMidjourney}, ""},
	} {
		got, err := s.ListTasks(ctx, tc.f)
		if err != nil {
			t.Fatal(err)
		}
		if ids(got) != tc.want {
			t.Errorf("ListTasks(%+v) = %q, want %q", tc.f, ids(got), tc.want)
		}
	}
	// The operator's view spans every owner.
	for limit, want := range map[int]string{0: "dcba", 3: "dcb"} {
		got, err := s.RecentTasks(ctx, limit)
		if err != nil {
			t.Fatal(err)
		}
		if ids(got) != want {
			t.Errorf("RecentTasks(%d) = %q, want %q", limit, ids(got), want)
		}
	}
}

func testTaskDue(t *testing.T, s *Store) {
	ctx := context.Background()
	now := time.Now().UTC()
	mk := func(id string, st gateway.TaskStatus, next time.Time, billed bool, hook gateway.HookState) {
		tk := gateway.Task{ID: id, Kind: gateway.TaskVideo, KeyID: 1, Status: st, NextPollAt: next, Billed: billed, HookState: hook}
		if err := s.CreateTask(ctx, &tk); err != nil {
			t.Fatal(err)
		}
	}
	mk("due", gateway.TaskInProgress, now.Add(-time.Second), false, "")
	mk("later", gateway.TaskInProgress, now.Add(time.Hour), false, "")
	mk("unbilled", gateway.TaskSucceeded, time.Time{}, false, "")
	mk("hook", gateway.TaskSucceeded, time.Time{}, true, gateway.HookPending)
	mk("done", gateway.TaskSucceeded, time.Time{}, true, gateway.HookDelivered)
	got, err := s.DueTasks(ctx, now.Add(time.Minute), 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, tk := range got {
		seen[tk.ID] = true
	}
	if len(got) != 3 || !seen["due"] || !seen["unbilled"] || !seen["hook"] {
		t.Fatalf("due = %v", seen)
	}
	// Finished tasks owe work only once they settled for a while (the node
	// that finished them is still at it).
	if got, _ := s.DueTasks(ctx, now.Add(time.Minute), time.Hour, 10); len(got) != 1 || got[0].ID != "due" {
		t.Fatalf("with a settle delay: %d tasks", len(got))
	}
}

func testLease(t *testing.T, s *Store) {
	ctx := context.Background()
	clock := time.Now()
	s.now = func() time.Time { return clock }
	ok, err := s.AcquireLease(ctx, "poller", "a", time.Minute)
	if err != nil || !ok {
		t.Fatalf("a first: %v %v", ok, err)
	}
	if ok, _ := s.AcquireLease(ctx, "poller", "b", time.Minute); ok {
		t.Fatal("b took a held lease")
	}
	if ok, _ := s.AcquireLease(ctx, "poller", "a", time.Minute); !ok {
		t.Fatal("a could not renew")
	}
	clock = clock.Add(2 * time.Minute)
	if ok, _ := s.AcquireLease(ctx, "poller", "b", time.Minute); !ok {
		t.Fatal("b could not take an expired lease")
	}
	if ok, _ := s.AcquireLease(ctx, "poller", "a", time.Minute); ok {
		t.Fatal("a took b's lease")
	}
	if err := s.ReleaseLease(ctx, "poller", "b"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.AcquireLease(ctx, "poller", "a", time.Minute); !ok {
		t.Fatal("a could not take a released lease")
	}
}
