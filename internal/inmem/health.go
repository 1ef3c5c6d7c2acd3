package inmem

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"switchboard/internal/gateway"
)

// HealthConfig tunes the breakers. The zero value gives the defaults.
type HealthConfig struct {
	// FailureThreshold is how many consecutive failures open a channel's
	// breaker. Default 3.
	FailureThreshold int
	// Cooldown is how long a breaker stays open the first time. Default 30s.
	Cooldown time.Duration
	// MaxCooldown caps the cooldown, which doubles each time a half-open
	// probe fails. Default 5m.
	MaxCooldown time.Duration
	// RateLimitCooldown is how long a key rests after a 429 that carried no
	// Retry-After. Default 5s.
	RateLimitCooldown time.Duration
	// ProbeTimeout frees the half-open probe slot when the probe never
	// reports (its caller hung up before an outcome was known), so a
	// channel cannot stay half-open forever. Default 1m.
	ProbeTimeout time.Duration
	// DisableFor takes a key out of rotation after a confirmed 401/403.
	// Default 1h: a key comes back by itself (sooner when a re-probe
	// accepts it); EnableKey brings it back at once.
	DisableFor time.Duration
	// AuthThreshold distinct callers whose requests got a 401/403 with a
	// key within AuthWindow disable it without a probe's confirmation.
	// Defaults 3 and 10m.
	AuthThreshold int
	AuthWindow    time.Duration
	// Now is the clock used by Report and Snapshot; nil means time.Now.
	// Available takes its clock from its caller.
	Now func() time.Time
}

func (c *HealthConfig) withDefaults() {
	if c.FailureThreshold <= 0 {
		c.FailureThreshold = 3
	}
	if c.Cooldown <= 0 {
		c.Cooldown = 30 * time.Second
	}
	if c.MaxCooldown <= 0 {
		c.MaxCooldown = 5 * time.Minute
	}
	c.MaxCooldown = max(c.MaxCooldown, c.Cooldown)
	if c.RateLimitCooldown <= 0 {
		c.RateLimitCooldown = 5 * time.Second
	}
	if c.ProbeTimeout <= 0 {
		c.ProbeTimeout = time.Minute
	}
	if c.DisableFor <= 0 {
		c.DisableFor = time.Hour
	}
	if c.AuthThreshold <= 0 {
		c.AuthThreshold = 3
	}
	if c.AuthWindow <= 0 {
		c.AuthWindow = 10 * time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// maxKeys bounds the per-channel key table against a bogus KeyIndex.
const maxKeys = 1 << 12

// Breaker states, as stored in channelState.state.
const (
	stateClosed int32 = iota
	stateOpen
	stateHalfOpen
)

// Health is the single-node gateway.Health: a circuit breaker per channel and
// a cooldown/disable switch per upstream key.
//
// Available is the hot path: it reads a copy-on-write map and atomics, takes
// no lock unless a breaker is due to move from open to half-open, and does
// not allocate. Report and Snapshot serialise on a per-channel mutex.
type Health struct {
	cfg HealthConfig

	mu       sync.Mutex // serialises writers of channels
	channels atomic.Pointer[map[int64]*channelState]
}

type channelState struct {
	state      atomic.Int32
	openUntil  atomic.Int64 // unix nanoseconds
	probeUntil atomic.Int64 // half-open: the probe's lease ends then; 0 = slot free
	keys       atomic.Pointer[[]*keyHealth]

	mu        sync.Mutex // serialises transitions; guards the fields below and keyHealth's
	failures  int
	opens     int // consecutive openings without a success, for the backoff
	lastError string
	// streak holds the callers of the current failure streak while the
	// breaker is closed: a caller's failures count once, so one tenant's
	// poisoned requests cannot open the channel for everyone.
	streak []int64
}

type keyHealth struct {
	disabled atomic.Bool
	until    atomic.Int64 // cooling or disabled until, unix nanoseconds
	reason   string
	// suspects are the callers that got a 401/403 with this key since
	// suspectSince (unix nanoseconds), while no probe has confirmed it.
	suspects     []int64
	suspectSince int64
}

var _ gateway.Health = (*Health)(nil)

// NewHealth returns a Health where every channel and key is available.
func NewHealth(cfg HealthConfig) *Health {
	cfg.withDefaults()
	h := &Health{cfg: cfg}
	m := map[int64]*channelState{}
	h.channels.Store(&m)
	return h
}

// Available implements gateway.Health. A channel nothing was reported about
// is available. In half-open state the first caller takes the single probe
// slot and gets true; everyone else gets false until the probe reports or
// its lease (ProbeTimeout) runs out. The key is checked before the breaker so
// that an unusable key never takes the probe slot.
func (h *Health) Available(channelID int64, keyIndex int, now time.Time) bool {
	cs := (*h.channels.Load())[channelID]
	if cs == nil {
		return true
	}
	t := now.UnixNano()
	if ks := cs.keys.Load(); ks != nil && keyIndex >= 0 && keyIndex < len(*ks) {
		if t < (*ks)[keyIndex].until.Load() {
			return false // cooling, or disabled (which ends by the clock too)
		}
	}
	switch cs.state.Load() {
	case stateClosed:
		return true
	case stateOpen:
		if t < cs.openUntil.Load() {
			return false
		}
		cs.mu.Lock()
		if cs.state.Load() == stateOpen && t >= cs.openUntil.Load() {
			cs.probeUntil.Store(0)
			cs.state.Store(stateHalfOpen)
		}
		st := cs.state.Load()
		cs.mu.Unlock()
		if st == stateClosed {
			return true
		}
		if st == stateOpen {
			return false
		}
	}
	return cs.takeProbe(t, int64(h.cfg.ProbeTimeout))
}

func (cs *channelState) takeProbe(now, lease int64) bool {
	for {
		p := cs.probeUntil.Load()
		if p > now {
			return false
		}
		if cs.probeUntil.CompareAndSwap(p, now+lease) {
			return true
		}
	}
}

// Report implements gateway.Health.
func (h *Health) Report(r gateway.HealthReport) {
	cs := h.channel(r.ChannelID)
	cs.mu.Lock()
	defer cs.mu.Unlock()
	switch r.Outcome {
	case gateway.OutcomeSuccess:
		cs.failures = 0
		cs.opens = 0
		cs.streak = cs.streak[:0]
		if cs.state.Load() != stateClosed {
			cs.openUntil.Store(0)
			cs.probeUntil.Store(0)
			cs.state.Store(stateClosed)
		}
		// The upstream took the key: whatever a caller provoked was
		// about that caller's request.
		if k := cs.existingKey(r.KeyIndex); k != nil {
			k.suspects, k.suspectSince = nil, 0
		}
	case gateway.OutcomeFailure:
		cs.lastError = reasonOr(r.Reason, "upstream failure")
		switch cs.state.Load() {
		case stateClosed:
			if r.Caller != 0 && slices.Contains(cs.streak, r.Caller) {
				break // counted once per caller
			}
			cs.failures++
			if r.Caller != 0 {
				cs.streak = append(cs.streak, r.Caller)
			}
			if cs.failures >= h.cfg.FailureThreshold {
				cs.streak = cs.streak[:0]
				h.open(cs, h.cfg.Now())
			}
		case stateHalfOpen:
			cs.failures++
			h.open(cs, h.cfg.Now())
		case stateOpen:
			// A straggler that started before the breaker opened: the
			// breaker already knows.
			cs.failures++
		}
	case gateway.OutcomeRateLimited:
		if k := cs.key(r.KeyIndex); k != nil {
			d := r.RetryAfter
			if d <= 0 {
				d = h.cfg.RateLimitCooldown
			}
			until := h.cfg.Now().Add(d).UnixNano()
			if until > k.until.Load() {
				k.until.Store(until)
			}
			if !k.disabled.Load() {
				k.reason = reasonOr(r.Reason, "rate limited by upstream")
			}
		}
		cs.freeProbe()
	case gateway.OutcomeAuthFailure:
		if k := cs.key(r.KeyIndex); k != nil {
			h.authFailure(k, r)
		}
		cs.freeProbe()
	case gateway.OutcomeKeyVerified:
		if k := cs.existingKey(r.KeyIndex); k != nil {
			k.suspects, k.suspectSince = nil, 0
			if k.disabled.Load() {
				k.disabled.Store(false)
				k.until.Store(0)
				k.reason = ""
			}
		}
	}
}

// authFailure disables k when the 401/403 is confirmed (Caller 0: the
// gateway's own probe) or seen by AuthThreshold distinct callers within
// AuthWindow; a single caller's requests only make the key suspect.
// Called with the channel's mutex held.
func (h *Health) authFailure(k *keyHealth, r gateway.HealthReport) {
	now := h.cfg.Now()
	if r.Caller != 0 {
		if k.suspectSince == 0 || now.UnixNano()-k.suspectSince > int64(h.cfg.AuthWindow) {
			k.suspects, k.suspectSince = k.suspects[:0], now.UnixNano()
		}
		if !slices.Contains(k.suspects, r.Caller) {
			k.suspects = append(k.suspects, r.Caller)
		}
		if len(k.suspects) < h.cfg.AuthThreshold {
			return
		}
	}
	k.suspects, k.suspectSince = nil, 0
	k.reason = reasonOr(r.Reason, "upstream rejected the key")
	k.disabled.Store(true)
	if until := now.Add(h.cfg.DisableFor).UnixNano(); until > k.until.Load() {
		k.until.Store(until)
	}
}

// existingKey is key i's state when something was reported about it, or
// nil. Called with cs.mu held.
func (cs *channelState) existingKey(i int) *keyHealth {
	if ks := cs.keys.Load(); ks != nil && i >= 0 && i < len(*ks) {
		return (*ks)[i]
	}
	return nil
}

// freeProbe lets another request probe a half-open channel when the probe
// ended with an answer that says nothing about the channel's health (a 429
// or a bad key). Called with cs.mu held.
func (cs *channelState) freeProbe() {
	if cs.state.Load() == stateHalfOpen {
		cs.probeUntil.Store(0)
	}
}

// open opens cs's breaker for a cooldown that doubles with each consecutive
// opening. Called with cs.mu held.
func (h *Health) open(cs *channelState, now time.Time) {
	cs.opens++
	d := h.cfg.Cooldown
	for i := 1; i < cs.opens && d < h.cfg.MaxCooldown; i++ {
		d *= 2
	}
	d = min(d, h.cfg.MaxCooldown)
	cs.openUntil.Store(now.Add(d).UnixNano())
	cs.probeUntil.Store(0)
	cs.state.Store(stateOpen)
}

// key returns the state of key i, growing the table; nil for an index out
// of range. Called with cs.mu held.
func (cs *channelState) key(i int) *keyHealth {
	if i < 0 || i >= maxKeys {
		return nil
	}
	var ks []*keyHealth
	if p := cs.keys.Load(); p != nil {
		ks = *p
	}
	if i < len(ks) {
		return ks[i]
	}
	grown := make([]*keyHealth, i+1)
	copy(grown, ks)
	for j := len(ks); j <= i; j++ {
		grown[j] = &keyHealth{}
	}
	cs.keys.Store(&grown)
	return grown[i]
}

// channel returns channelID's state, creating it.
func (h *Health) channel(id int64) *channelState {
	if cs := (*h.channels.Load())[id]; cs != nil {
		return cs
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	old := *h.channels.Load()
	if cs := old[id]; cs != nil {
		return cs
	}
	m := make(map[int64]*channelState, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	cs := &channelState{}
	m[id] = cs
	h.channels.Store(&m)
	return cs
}

// Reset forgets everything about a channel: breaker closed, every key back
// in rotation. Call it when the channel's configuration changes (new keys,
// new URL) or when it is deleted.
func (h *Health) Reset(channelID int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	old := *h.channels.Load()
	if _, ok := old[channelID]; !ok {
		return
	}
	m := make(map[int64]*channelState, len(old))
	for k, v := range old {
		if k != channelID {
			m[k] = v
		}
	}
	h.channels.Store(&m)
}

// EnableKey puts a key disabled by an auth failure (or cooling after a 429)
// back into rotation. It reports whether the key had any state.
func (h *Health) EnableKey(channelID int64, keyIndex int) bool {
	cs := (*h.channels.Load())[channelID]
	if cs == nil {
		return false
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	ks := cs.keys.Load()
	if ks == nil || keyIndex < 0 || keyIndex >= len(*ks) {
		return false
	}
	k := (*ks)[keyIndex]
	k.disabled.Store(false)
	k.until.Store(0)
	k.reason = ""
	k.suspects, k.suspectSince = nil, 0
	return true
}

// Snapshot implements gateway.Health: channels in ID order, each with the
// keys something was reported about. An open breaker whose cooldown has
// passed shows as half-open, which is what the next request will find.
func (h *Health) Snapshot() []gateway.ChannelHealth {
	now := h.cfg.Now().UnixNano()
	m := *h.channels.Load()
	ids := make([]int64, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]gateway.ChannelHealth, 0, len(ids))
	for _, id := range ids {
		cs := m[id]
		cs.mu.Lock()
		ch := gateway.ChannelHealth{
			ChannelID: id,
			State:     gateway.StateClosed,
			Failures:  cs.failures,
			LastError: cs.lastError,
		}
		switch cs.state.Load() {
		case stateOpen:
			ch.OpenUntil = time.Unix(0, cs.openUntil.Load())
			ch.State = gateway.StateOpen
			if now >= cs.openUntil.Load() {
				ch.State = gateway.StateHalfOpen
			}
		case stateHalfOpen:
			ch.State = gateway.StateHalfOpen
		}
		if ks := cs.keys.Load(); ks != nil {
			for i, k := range *ks {
				kh := gateway.KeyHealth{Index: i, State: gateway.KeyStateOK}
				switch until := k.until.Load(); {
				case until > now && k.disabled.Load():
					kh.State = gateway.KeyStateDisabled
					kh.Until = time.Unix(0, until)
					kh.Reason = k.reason
				case until > now:
					kh.State = gateway.KeyStateCooling
					kh.Until = time.Unix(0, until)
					kh.Reason = k.reason
				case len(k.suspects) > 0 && now-k.suspectSince <= int64(h.cfg.AuthWindow):
					kh.Reason = suspectReason(len(k.suspects), h.cfg.AuthThreshold)
				}
				ch.Keys = append(ch.Keys, kh)
			}
		}
		cs.mu.Unlock()
		out = append(out, ch)
	}
	return out
}

// suspectReason says why a key in rotation is watched.
func suspectReason(callers, threshold int) string {
	return fmt.Sprintf("401/403 for %d caller(s); disabled at %d, or when the gateway's own check fails", callers, threshold)
}

func reasonOr(reason, def string) string {
	if reason == "" {
		return def
	}
	return reason
}
