package admin

import (
	"net/http"
	"time"

	"switchboard/internal/gateway"
)

// channelHealthJSON is one channel's breaker and key states, by name.
type channelHealthJSON struct {
	ChannelID int64           `json:"channel_id"`
	Name      string          `json:"name"`
	Type      string          `json:"type"`
	Enabled   bool            `json:"enabled"`
	State     string          `json:"state"`
	Failures  int             `json:"failures"`
	OpenUntil *time.Time      `json:"open_until,omitempty"`
	LastError string          `json:"last_error,omitempty"`
	Keys      []keyHealthJSON `json:"keys"`
}

// keyHealthJSON is one upstream key's state. KeyMasked tells the operator
// which credential a disabled index is without revealing it.
type keyHealthJSON struct {
	Index     int        `json:"index"`
	KeyMasked string     `json:"key_masked"`
	State     string     `json:"state"`
	Until     *time.Time `json:"until,omitempty"`
	Reason    string     `json:"reason,omitempty"`
}

// health lists every stored channel with its health. Channels and keys the
// tracker knows nothing about are healthy (closed, ok); tracker entries for
// channels or key indexes that no longer exist are left out.
func (a *API) health(w http.ResponseWriter, r *http.Request) {
	chs, err := a.d.Store.ListChannels(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var snap []gateway.ChannelHealth
	if a.d.Health != nil {
		snap = a.d.Health.Snapshot()
	}
	byID := make(map[int64]gateway.ChannelHealth, len(snap))
	for _, h := range snap {
		byID[h.ChannelID] = h
	}
	out := make([]channelHealthJSON, 0, len(chs))
	for _, c := range chs {
		h, ok := byID[c.ID]
		if !ok {
			h = gateway.ChannelHealth{State: gateway.StateClosed}
		}
		e := channelHealthJSON{
			ChannelID: c.ID, Name: c.Name, Type: string(c.Type), Enabled: c.Enabled,
			State: h.State, Failures: h.Failures, OpenUntil: timePtr(h.OpenUntil), LastError: h.LastError,
			Keys: make([]keyHealthJSON, len(c.APIKeys)),
		}
		for i, k := range c.APIKeys {
			e.Keys[i] = keyHealthJSON{Index: i, KeyMasked: mask(k), State: gateway.KeyStateOK}
		}
		for _, kh := range h.Keys {
			if kh.Index < 0 || kh.Index >= len(e.Keys) {
				continue
			}
			k := &e.Keys[kh.Index]
			if kh.State != "" {
				k.State = kh.State
			}
			k.Until, k.Reason = timePtr(kh.Until), kh.Reason
		}
		out = append(out, e)
	}
	writeJSON(w, http.StatusOK, newList(out))
}
