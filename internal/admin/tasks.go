package admin

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"switchboard/internal/gateway"
)

// TaskLister lists the newest tasks of every key (the task store).
type TaskLister interface {
	RecentTasks(ctx context.Context, limit int) ([]gateway.Task, error)
}

// taskJSON is a task as the operator sees it: the gateway's id and state,
// who owns it and what it cost; never the upstream's id or answer.
type taskJSON struct {
	ID           string    `json:"id"`
	Kind         string    `json:"kind"`
	Action       string    `json:"action"`
	Model        string    `json:"model"`
	Status       string    `json:"status"`
	Progress     int       `json:"progress"`
	KeyID        int64     `json:"key_id"`
	KeyName      string    `json:"key_name"`
	ChannelID    int64     `json:"channel_id"`
	FailReason   string    `json:"fail_reason,omitempty"`
	HeldNanoUSD  int64     `json:"held_nano_usd"`
	Billed       bool      `json:"billed"`
	PriceNanoUSD int64     `json:"price_nano_usd"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// tasks answers GET /admin/api/tasks: the newest tasks of every key.
func (a *API) tasks(w http.ResponseWriter, r *http.Request) {
	if a.d.Tasks == nil {
		a.fail(w, r, errorf(http.StatusNotImplemented, "this node has no task store"))
		return
	}
	limit := 100
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 1000 {
			a.fail(w, r, errorf(http.StatusBadRequest, "limit: want an integer from 1 to 1000, got %q", s))
			return
		}
		limit = n
	}
	ts, err := a.d.Tasks.RecentTasks(r.Context(), limit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]taskJSON, len(ts))
	for i, t := range ts {
		out[i] = taskJSON{ID: t.ID, Kind: string(t.Kind), Action: t.Action, Model: t.Model, Status: string(t.Status),
			Progress: t.Progress, KeyID: t.KeyID, KeyName: t.KeyName, ChannelID: t.ChannelID, FailReason: t.FailReason,
			HeldNanoUSD: t.Held, Billed: t.Billed, PriceNanoUSD: t.PriceNanoUSD, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt}
	}
	writeJSON(w, http.StatusOK, newList(out))
}
