package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"switchboard/internal/gateway"
)

// HealthOptions tune a Health; zero values mean the defaults.
type HealthOptions struct {
	// FailureThreshold consecutive failures open a channel's breaker. Default 3.
	FailureThreshold int
	// Cooldown is how long a breaker stays open the first time; each failed
	// half-open probe doubles it, up to MaxCooldown. Defaults 30 s and 10 min.
	Cooldown    time.Duration
	MaxCooldown time.Duration
	// RateLimitCooldown cools a key down after a 429 that carried no
	// Retry-After. Default 30 s.
	RateLimitCooldown time.Duration
	// DisableFor takes a key out of rotation after a confirmed 401/403.
	// Default 1 h: long enough not to hammer a revoked key, short enough
	// that a fixed key comes back on its own; Reset brings it back at once.
	DisableFor time.Duration
	// AuthThreshold distinct callers whose requests got a 401/403 with a
	// key within AuthWindow disable it without a probe's confirmation
	// (gateway.HealthReport.Caller). Defaults 3 and 10 min.
	AuthThreshold int
	AuthWindow    time.Duration
	// ProbeLease is how long the node that took a half-open probe holds the
	// slot before another node may probe, in case the probe's outcome is
	// never reported. Default 60 s.
	ProbeLease time.Duration
	// Resync is the period of the full refresh of the local cache from Redis,
	// which repairs missed pub/sub messages. Default 2 s.
	Resync time.Duration
	// OpTimeout bounds each Redis call made without a caller's context
	// (Report, probe, resync). Default 1 s.
	OpTimeout time.Duration
	// Logger receives Redis failures; default slog.Default().
	Logger *slog.Logger
}

func (o *HealthOptions) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if o.FailureThreshold <= 0 {
		o.FailureThreshold = 3
	}
	def(&o.Cooldown, 30*time.Second)
	def(&o.MaxCooldown, 10*time.Minute)
	def(&o.RateLimitCooldown, 30*time.Second)
	def(&o.DisableFor, time.Hour)
	def(&o.AuthWindow, 10*time.Minute)
	if o.AuthThreshold <= 0 {
		o.AuthThreshold = 3
	}
	def(&o.ProbeLease, time.Minute)
	def(&o.Resync, 2*time.Second)
	def(&o.OpTimeout, time.Second)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// stateGrace is how long a channel's state outlives its last deadline in
// Redis, so consecutive-failure counts survive quiet periods.
const stateGrace = time.Hour

// Health is gateway.Health shared by every node using the same Redis and
// prefix. Available reads a local cache only (except for the rare half-open
// probe claim); Report writes through to Redis, which publishes the new
// state to every node.
type Health struct {
	c    *Client
	opts HealthOptions

	mu       sync.RWMutex
	channels map[int64]*chanState

	cancel  context.CancelFunc
	ps      *redis.PubSub
	wg      sync.WaitGroup
	kick    chan struct{}
	untrack func()
	once    sync.Once
}

var _ gateway.Health = (*Health)(nil)

// chanState is the cached state of one channel. Fields up to keys mirror
// Redis; the rest is this node's knowledge of the half-open probe.
type chanState struct {
	ver       int64
	fails     int
	openUntil int64 // unix ms; 0 = closed
	opens     int
	lastErr   string
	keys      map[int]keyState
	// streak holds the callers of the current failure streak while the
	// breaker is closed (field "c"): each counts once.
	streak []int64
	// suspects are keys that got a 401/403 from callers but are not
	// disabled (fields "a<index>").
	suspects map[int]suspect

	probeUntil int64 // unix ms: the probe slot is taken (by anyone) until then
	probing    bool  // a claim is in flight from this node
}

// suspect is "<since ms>|<caller>,<caller>...".
type suspect struct {
	since   int64
	callers []int64
}

type keyState struct {
	disabled bool
	until    int64 // unix ms
	reason   string
}

// NewHealth starts the shared health cache of c: it subscribes to changes,
// loads the current state and refreshes it every opts.Resync until Close
// (of the Health or the Client).
func (c *Client) NewHealth(ctx context.Context, opts HealthOptions) (*Health, error) {
	opts.defaults()
	h := &Health{c: c, opts: opts, channels: make(map[int64]*chanState), kick: make(chan struct{}, 1)}
	ps, err := subscribe(ctx, c.rdb, h.eventsChannel())
	if err != nil {
		return nil, fmt.Errorf("redisstore: health subscribe: %w", err)
	}
	// Subscribed first, loaded second: a change between the two is seen twice
	// rather than never, and versions make the repeat harmless.
	if err := h.resync(ctx); err != nil {
		_ = ps.Close()
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.ps = ps
	events := ps.ChannelWithSubscriptions()
	h.wg.Add(2)
	go h.listen(events)
	go h.refresh(runCtx)
	untrack, ok := c.track(h.stop)
	if !ok {
		h.stop()
		return nil, errClosed
	}
	h.untrack = untrack
	return h, nil
}

// Close stops the background refresh. The Health must not be used after.
func (h *Health) Close() error {
	h.stop()
	h.untrack()
	return nil
}

func (h *Health) stop() {
	h.once.Do(func() {
		h.cancel()
		_ = h.ps.Close() // ends listen: the events channel closes
		h.wg.Wait()
	})
}

func (h *Health) eventsChannel() string { return h.c.prefix + "{health}:events" }
func (h *Health) indexKey() string      { return h.c.prefix + "{health}:index" }
func (h *Health) versionKey() string    { return h.c.prefix + "{health}:version" }
func (h *Health) chanKeyBase() string   { return h.c.prefix + "{health}:ch:" }
func (h *Health) probeKey(id int64) string {
	return h.c.prefix + "{health}:probe:" + strconv.FormatInt(id, 10)
}

func (h *Health) listen(events <-chan any) {
	defer h.wg.Done()
	for ev := range events {
		switch ev := ev.(type) {
		case *redis.Message:
			if err := h.applyJSON(ev.Payload); err != nil {
				h.opts.Logger.Warn("redisstore: bad health event", "err", err)
			}
		case *redis.Subscription:
			// A (re)subscription after a reconnect: messages may have been
			// missed while disconnected.
			select {
			case h.kick <- struct{}{}:
			default:
			}
		}
	}
}

func (h *Health) refresh(ctx context.Context) {
	defer h.wg.Done()
	t := time.NewTicker(h.opts.Resync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-h.kick:
		}
		if err := h.resync(ctx); err != nil && ctx.Err() == nil {
			h.opts.Logger.Warn("redisstore: health resync", "err", err)
		}
	}
}

// Available reports whether (channel, key) may take a request at now. It
// reads the local cache; only the first caller to find a channel half-open
// makes one Redis call, to claim the cluster-wide probe slot.
func (h *Health) Available(channelID int64, keyIndex int, now time.Time) bool {
	ms := now.UnixMilli()
	h.mu.RLock()
	st := h.channels[channelID]
	if st == nil {
		h.mu.RUnlock()
		return true
	}
	if k, ok := st.keys[keyIndex]; ok && k.until > ms {
		h.mu.RUnlock()
		return false
	}
	if st.openUntil == 0 {
		h.mu.RUnlock()
		return true
	}
	if ms < st.openUntil || st.probing || ms < st.probeUntil {
		h.mu.RUnlock()
		return false
	}
	h.mu.RUnlock()
	return h.claimProbe(channelID, ms)
}

// claimProbe tries to take the half-open probe slot of a channel for this
// node, with SET NX so that only one node in the cluster gets it.
func (h *Health) claimProbe(channelID int64, ms int64) bool {
	h.mu.Lock()
	st := h.channels[channelID]
	if st == nil || st.openUntil == 0 {
		h.mu.Unlock()
		return st == nil || st.openUntil == 0
	}
	if ms < st.openUntil || st.probing || ms < st.probeUntil {
		h.mu.Unlock()
		return false
	}
	st.probing = true
	episode := st.openUntil
	h.mu.Unlock()

	lease := h.opts.ProbeLease.Milliseconds()
	ctx, cancel := context.WithTimeout(context.Background(), h.opts.OpTimeout)
	held, err := probeScript.Run(ctx, h.c.rdb, []string{h.probeKey(channelID)}, h.c.token(), lease).Int64()
	cancel()
	won := err == nil && held < 0
	until := ms + lease
	switch {
	case err != nil:
		// Without Redis, fall back to one probe per node and lease rather
		// than keeping the channel out forever.
		h.opts.Logger.Warn("redisstore: claim half-open probe", "channel_id", channelID, "err", err)
		won = true
	case !won && held > 0:
		until = ms + held
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	if cur := h.channels[channelID]; cur != nil {
		cur.probing = false
		if cur.openUntil == episode {
			cur.probeUntil = until
		}
	}
	return won
}

// probeScript takes the probe slot: -1 when taken now, else the ms left on
// the holder's lease. KEYS: probe key. ARGV: token, lease ms.
var probeScript = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return -1 end
return redis.call('PTTL', KEYS[1])
`)

// reportScript applies one outcome to a channel's hash, bumps the global
// version, sets expiries, and publishes and returns the new state as a JSON
// array [id, field, value, ...] (just [id, "v", version] once the state is
// back to healthy and deleted).
// KEYS: channel hash, index zset, version counter, probe key.
// ARGV: now ms, outcome (s|f|r|a|e|v), key index, retry ms, reason, threshold,
// cooldown ms, max cooldown ms, disable ms, grace ms, events channel, id,
// caller, auth threshold, auth window ms.
//
// Callers (ARGV[13], "0" for none): while the breaker is closed, field c
// lists the callers of the current failure streak and a caller's failures
// count once; an auth failure with a caller adds it to the key's suspects
// (field a<index>, "<since>|<callers>") and disables the key only when
// enough distinct callers saw it within the window.
var reportScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local outcome = ARGV[2]
local kf = 'k' .. ARGV[3]
local af = 'a' .. ARGV[3]
local caller = ARGV[13]
local function has(list, item)
  return string.find(',' .. list .. ',', ',' .. item .. ',', 1, true) ~= nil
end
local function disable()
  redis.call('HSET', KEYS[1], kf, 'd|' .. string.format('%d', now + tonumber(ARGV[9])) .. '|' .. ARGV[5])
  redis.call('HDEL', KEYS[1], af)
end
local cur = redis.call('HMGET', KEYS[1], 'f', 'o', 'n', 'c')
local f, o, n = tonumber(cur[1]) or 0, tonumber(cur[2]) or 0, tonumber(cur[3]) or 0
local streak = cur[4] or ''
if outcome == 's' then
  local suspected = redis.call('HEXISTS', KEYS[1], af) == 1
  if f == 0 and o == 0 and not suspected then
    return false
  end
  f, o, n, streak = 0, 0, 0, ''
  redis.call('DEL', KEYS[4])
  redis.call('HDEL', KEYS[1], af)
elseif outcome == 'f' then
  redis.call('HSET', KEYS[1], 'e', ARGV[5])
  local cool = tonumber(ARGV[7])
  if o > 0 then
    f = f + 1
    if now >= o then
      n = n + 1
      o = now + math.min(cool * math.pow(2, n - 1), tonumber(ARGV[8]))
      redis.call('DEL', KEYS[4])
    end
  elseif caller == '0' or not has(streak, caller) then
    f = f + 1
    if caller ~= '0' then
      if streak == '' then streak = caller else streak = streak .. ',' .. caller end
    end
    if f >= tonumber(ARGV[6]) then
      n = 1
      o = now + cool
      streak = ''
      redis.call('DEL', KEYS[4])
    end
  end
elseif outcome == 'r' then
  local till = now + tonumber(ARGV[4])
  local state, why = 'c', ARGV[5]
  local old = redis.call('HGET', KEYS[1], kf)
  if old then
    local s, u, w = string.match(old, '^(%a)|(%d+)|(.*)$')
    u = tonumber(u) or 0
    if u > now then
      if s == 'd' then state, why = 'd', w end
      if u > till then till = u end
    end
  end
  redis.call('HSET', KEYS[1], kf, state .. '|' .. string.format('%d', till) .. '|' .. why)
elseif outcome == 'a' then
  if caller == '0' then
    disable()
  else
    local since, list = now, ''
    local old = redis.call('HGET', KEYS[1], af)
    if old then
      local s, l = string.match(old, '^(%d+)|(.*)$')
      if s and tonumber(s) + tonumber(ARGV[15]) >= now then since, list = tonumber(s), l end
    end
    if not has(list, caller) then
      if list == '' then list = caller else list = list .. ',' .. caller end
    end
    local _, commas = string.gsub(list, ',', '')
    if commas + 1 >= tonumber(ARGV[14]) then
      disable()
    else
      redis.call('HSET', KEYS[1], af, string.format('%d', since) .. '|' .. list)
    end
  end
elseif outcome == 'v' then
  local old = redis.call('HGET', KEYS[1], kf)
  if old and string.sub(old, 1, 1) == 'd' then redis.call('HDEL', KEYS[1], kf) end
  redis.call('HDEL', KEYS[1], af)
elseif outcome == 'e' then
  redis.call('HDEL', KEYS[1], kf, af)
end
redis.call('HSET', KEYS[1], 'f', f, 'o', string.format('%d', o), 'n', n)
if streak == '' then redis.call('HDEL', KEYS[1], 'c') else redis.call('HSET', KEYS[1], 'c', streak) end
-- Drop expired key states and suspicions, and find the last deadline.
local last = o
local live = false
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local kind = string.sub(all[i], 1, 1)
  local u = nil
  if kind == 'k' then
    u = tonumber(string.match(all[i + 1], '^%a|(%d+)|')) or 0
  elseif kind == 'a' then
    u = (tonumber(string.match(all[i + 1], '^(%d+)|')) or 0) + tonumber(ARGV[15])
  end
  if u then
    if u <= now then
      redis.call('HDEL', KEYS[1], all[i])
    else
      live = true
      if u > last then last = u end
    end
  end
end
local v = redis.call('INCR', KEYS[3])
local msg
if f == 0 and o == 0 and not live then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[12])
  msg = cjson.encode({ARGV[12], 'v', tostring(v)})
else
  redis.call('HSET', KEYS[1], 'v', v)
  if last < now then last = now end
  local exp = last + tonumber(ARGV[10])
  redis.call('PEXPIREAT', KEYS[1], string.format('%d', exp))
  redis.call('ZADD', KEYS[2], string.format('%d', exp), ARGV[12])
  local st = redis.call('HGETALL', KEYS[1])
  table.insert(st, 1, ARGV[12])
  msg = cjson.encode(st)
end
redis.call('PUBLISH', ARGV[11], msg)
return msg
`)

// resetScript forgets a channel's state. KEYS: channel hash, index, version,
// probe key. ARGV: events channel, id.
var resetScript = redis.NewScript(`
redis.call('DEL', KEYS[1], KEYS[4])
redis.call('ZREM', KEYS[2], ARGV[2])
local msg = cjson.encode({ARGV[2], 'v', tostring(redis.call('INCR', KEYS[3]))})
redis.call('PUBLISH', ARGV[1], msg)
return msg
`)

// resyncScript returns {version, state JSON...} for every channel with a
// state, atomically. KEYS: index, version. ARGV: now ms, channel key base.
var resyncScript = redis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local out = {redis.call('GET', KEYS[2]) or '0'}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local st = redis.call('HGETALL', ARGV[2] .. id)
  if #st > 0 then
    table.insert(st, 1, id)
    out[#out + 1] = cjson.encode(st)
  end
end
return out
`)

// Report records one attempt's outcome. A success on a channel this node
// believes healthy costs nothing; anything else is one Redis call, after
// which the local cache holds the new state and other nodes get it by
// pub/sub.
func (h *Health) Report(r gateway.HealthReport) {
	h.report(r, time.Now().UnixMilli())
}

func (h *Health) report(r gateway.HealthReport, now int64) {
	var outcome string
	switch r.Outcome {
	case gateway.OutcomeSuccess:
		h.mu.RLock()
		st := h.channels[r.ChannelID]
		healthy := st == nil || (st.fails == 0 && st.openUntil == 0 && !st.isSuspect(r.KeyIndex))
		h.mu.RUnlock()
		if healthy {
			return
		}
		outcome = "s"
	case gateway.OutcomeFailure:
		outcome = "f"
	case gateway.OutcomeRateLimited:
		outcome = "r"
	case gateway.OutcomeAuthFailure:
		outcome = "a"
	case gateway.OutcomeKeyVerified:
		outcome = "v"
	default:
		return
	}
	r.Reason = truncate(r.Reason, 200)
	if r.RetryAfter <= 0 {
		r.RetryAfter = h.opts.RateLimitCooldown
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.opts.OpTimeout)
	defer cancel()
	msg, err := h.runReport(ctx, r.ChannelID, now, outcome, r.KeyIndex, r.RetryAfter, r.Reason, r.Caller)
	if errors.Is(err, redis.Nil) {
		return // success on an already healthy channel
	}
	if err != nil {
		// Keep breaking circuits on this node while Redis is away; the next
		// resync replaces this guess with the shared state.
		h.opts.Logger.Warn("redisstore: report health", "channel_id", r.ChannelID, "outcome", r.Outcome.String(), "err", err)
		h.applyLocal(r, now)
		return
	}
	if err := h.applyJSON(msg); err != nil {
		h.opts.Logger.Warn("redisstore: report health reply", "err", err)
	}
}

// applyLocal is reportScript's transition applied to the local cache only.
// The two must agree; TestHealthLocalFallbackMatchesScript checks it.
func (h *Health) applyLocal(r gateway.HealthReport, now int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := &chanState{}
	if old := h.channels[r.ChannelID]; old != nil {
		*st = *old
		st.keys = maps.Clone(old.keys)
		st.suspects = maps.Clone(old.suspects)
		st.streak = slices.Clone(old.streak)
	}
	disable := func() {
		st.setKey(r.KeyIndex, keyState{disabled: true, until: now + h.opts.DisableFor.Milliseconds(), reason: r.Reason})
		delete(st.suspects, r.KeyIndex)
	}
	switch r.Outcome {
	case gateway.OutcomeSuccess:
		st.fails, st.openUntil, st.opens, st.streak = 0, 0, 0, nil
		delete(st.suspects, r.KeyIndex)
	case gateway.OutcomeFailure:
		st.lastErr = r.Reason
		switch {
		case st.openUntil > 0:
			st.fails++
			if now >= st.openUntil {
				st.opens++
				st.openUntil = now + h.cooldown(st.opens).Milliseconds()
			}
		case r.Caller == 0 || !slices.Contains(st.streak, r.Caller):
			st.fails++
			if r.Caller != 0 {
				st.streak = append(st.streak, r.Caller)
			}
			if st.fails >= h.opts.FailureThreshold {
				st.opens = 1
				st.openUntil = now + h.opts.Cooldown.Milliseconds()
				st.streak = nil
			}
		}
	case gateway.OutcomeRateLimited:
		ks := keyState{until: now + r.RetryAfter.Milliseconds(), reason: r.Reason}
		if old, ok := st.keys[r.KeyIndex]; ok && old.until > now {
			if old.disabled {
				ks.disabled, ks.reason = true, old.reason
			}
			ks.until = max(ks.until, old.until)
		}
		st.setKey(r.KeyIndex, ks)
	case gateway.OutcomeAuthFailure:
		if r.Caller == 0 {
			disable()
			break
		}
		sus := suspect{since: now}
		if old, ok := st.suspects[r.KeyIndex]; ok && old.since+h.opts.AuthWindow.Milliseconds() >= now {
			sus = suspect{since: old.since, callers: slices.Clone(old.callers)}
		}
		if !slices.Contains(sus.callers, r.Caller) {
			sus.callers = append(sus.callers, r.Caller)
		}
		if len(sus.callers) >= h.opts.AuthThreshold {
			disable()
			break
		}
		if st.suspects == nil {
			st.suspects = make(map[int]suspect)
		}
		st.suspects[r.KeyIndex] = sus
	case gateway.OutcomeKeyVerified:
		if k, ok := st.keys[r.KeyIndex]; ok && k.disabled {
			delete(st.keys, r.KeyIndex)
		}
		delete(st.suspects, r.KeyIndex)
	}
	for idx, k := range st.keys {
		if k.until <= now {
			delete(st.keys, idx)
		}
	}
	for idx, sus := range st.suspects {
		if sus.since+h.opts.AuthWindow.Milliseconds() <= now {
			delete(st.suspects, idx)
		}
	}
	if st.fails == 0 && st.openUntil == 0 && len(st.keys) == 0 && len(st.suspects) == 0 {
		st = &chanState{ver: st.ver} // healthy: the script deletes the hash
	}
	if st.openUntil != h.channels[r.ChannelID].openUntilOrZero() {
		st.probeUntil, st.probing = 0, false
	}
	h.channels[r.ChannelID] = st
}

// isSuspect reports a key with a pending suspicion.
func (st *chanState) isSuspect(idx int) bool {
	_, ok := st.suspects[idx]
	return ok
}

func (st *chanState) setKey(idx int, ks keyState) {
	if st.keys == nil {
		st.keys = make(map[int]keyState)
	}
	st.keys[idx] = ks
}

func (st *chanState) openUntilOrZero() int64 {
	if st == nil {
		return 0
	}
	return st.openUntil
}

// cooldown is the open period after the n-th consecutive opening.
func (h *Health) cooldown(n int) time.Duration {
	d := h.opts.Cooldown
	for i := 1; i < n && d < h.opts.MaxCooldown; i++ {
		d *= 2
	}
	return min(d, h.opts.MaxCooldown)
}

// Reset forgets everything about a channel on every node, e.g. after an
// operator fixed its keys.
func (h *Health) Reset(ctx context.Context, channelID int64) error {
	id := strconv.FormatInt(channelID, 10)
	msg, err := resetScript.Run(ctx, h.c.rdb,
		[]string{h.chanKeyBase() + id, h.indexKey(), h.versionKey(), h.probeKey(channelID)},
		h.eventsChannel(), id).Text()
	if err != nil {
		return fmt.Errorf("redisstore: reset health of channel %d: %w", channelID, err)
	}
	return h.applyJSON(msg)
}

// EnableKey puts an upstream key taken out of rotation (a 401/403, or a
// 429 cooldown) back on every node, leaving the channel's breaker and its
// other keys as they are: an operator who replaced one key should not
// also wipe the record of a failing upstream.
func (h *Health) EnableKey(ctx context.Context, channelID int64, keyIndex int) error {
	msg, err := h.runReport(ctx, channelID, time.Now().UnixMilli(), "e", keyIndex, 0, "", 0)
	if err != nil {
		return fmt.Errorf("redisstore: enable key %d of channel %d: %w", keyIndex, channelID, err)
	}
	return h.applyJSON(msg)
}

// runReport applies one reportScript outcome to a channel and returns the
// published state.
func (h *Health) runReport(ctx context.Context, channelID, now int64, outcome string, keyIndex int, retry time.Duration, reason string, caller int64) (string, error) {
	id := strconv.FormatInt(channelID, 10)
	o := h.opts
	return reportScript.Run(ctx, h.c.rdb,
		[]string{h.chanKeyBase() + id, h.indexKey(), h.versionKey(), h.probeKey(channelID)},
		now, outcome, keyIndex, retry.Milliseconds(), reason,
		o.FailureThreshold, o.Cooldown.Milliseconds(), o.MaxCooldown.Milliseconds(),
		o.DisableFor.Milliseconds(), stateGrace.Milliseconds(), h.eventsChannel(), id,
		strconv.FormatInt(caller, 10), o.AuthThreshold, o.AuthWindow.Milliseconds()).Text()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// resync replaces the cache with Redis's state, keeping entries that are
// newer than the snapshot (they arrived by pub/sub meanwhile).
func (h *Health) resync(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, h.opts.OpTimeout)
	defer cancel()
	res, err := resyncScript.Run(ctx, h.c.rdb, []string{h.indexKey(), h.versionKey()},
		time.Now().UnixMilli(), h.chanKeyBase()).StringSlice()
	if err != nil {
		return fmt.Errorf("redisstore: health resync: %w", err)
	}
	if len(res) == 0 {
		return errors.New("redisstore: health resync: empty reply")
	}
	snapVer, err := strconv.ParseInt(res[0], 10, 64)
	if err != nil {
		return fmt.Errorf("redisstore: health resync: bad version %q", res[0])
	}
	fresh := make(map[int64]*chanState, len(res)-1)
	for _, js := range res[1:] {
		id, st, err := decodeState(js)
		if err != nil {
			return fmt.Errorf("redisstore: health resync: %w", err)
		}
		fresh[id] = st
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, old := range h.channels {
		if _, ok := fresh[id]; !ok && old.ver <= snapVer {
			delete(h.channels, id)
		}
	}
	for id, st := range fresh {
		h.installLocked(id, st)
	}
	return nil
}

func (h *Health) applyJSON(js string) error {
	id, st, err := decodeState(js)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.installLocked(id, st)
	return nil
}

// installLocked stores st unless the cache already holds a newer version.
// The local probe knowledge survives when the open episode is the same.
func (h *Health) installLocked(id int64, st *chanState) {
	old := h.channels[id]
	if old != nil {
		if old.ver > st.ver {
			return
		}
		if old.openUntil == st.openUntil {
			st.probeUntil, st.probing = old.probeUntil, old.probing
		}
	}
	if st.openUntil == 0 && st.fails == 0 && len(st.keys) == 0 && len(st.suspects) == 0 {
		// Healthy: keep only the version, so that an older message
		// arriving late cannot resurrect the state.
		st = &chanState{ver: st.ver}
	}
	h.channels[id] = st
}

// decodeState parses a state published by the scripts: a JSON array of
// strings, the channel id and then field/value pairs.
func decodeState(js string) (int64, *chanState, error) {
	var a []string
	if err := json.Unmarshal([]byte(js), &a); err != nil {
		return 0, nil, fmt.Errorf("decode health state: %w", err)
	}
	if len(a) == 0 || len(a)%2 != 1 {
		return 0, nil, fmt.Errorf("decode health state: %d elements", len(a))
	}
	id, err := strconv.ParseInt(a[0], 10, 64)
	if err != nil {
		return 0, nil, fmt.Errorf("decode health state: channel id %q", a[0])
	}
	st := &chanState{}
	for i := 1; i < len(a); i += 2 {
		name, val := a[i], a[i+1]
		var err error
		switch {
		case name == "v":
			st.ver, err = strconv.ParseInt(val, 10, 64)
		case name == "f":
			st.fails, err = strconv.Atoi(val)
		case name == "o":
			st.openUntil, err = strconv.ParseInt(val, 10, 64)
		case name == "n":
			st.opens, err = strconv.Atoi(val)
		case name == "e":
			st.lastErr = val
		case name == "c":
			st.streak, err = decodeIDs(val)
		case strings.HasPrefix(name, "a"):
			err = putIndexed(&st.suspects, name[1:], val, decodeSuspect)
		case strings.HasPrefix(name, "k"):
			err = putIndexed(&st.keys, name[1:], val, decodeKey)
		}
		if err != nil {
			return 0, nil, fmt.Errorf("decode health state: field %q: %w", name, err)
		}
	}
	return id, st, nil
}

// putIndexed decodes val into (*m)[index] for a per-key field ("k3", "a3").
func putIndexed[T any](m *map[int]T, index, val string, decode func(string) (T, error)) error {
	idx, err := strconv.Atoi(index)
	if err != nil {
		return err
	}
	v, err := decode(val)
	if err != nil {
		return err
	}
	if *m == nil {
		*m = make(map[int]T)
	}
	(*m)[idx] = v
	return nil
}

// decodeIDs parses a comma-separated list of caller ids.
func decodeIDs(s string) ([]int64, error) {
	if s == "" {
		return nil, nil
	}
	var out []int64
	for part := range strings.SplitSeq(s, ",") {
		id, err := strconv.ParseInt(part, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad caller id %q", part)
		}
		out = append(out, id)
	}
	return out, nil
}

// decodeSuspect parses "<since ms>|<caller>,<caller>...".
func decodeSuspect(s string) (suspect, error) {
	since, list, ok := strings.Cut(s, "|")
	if !ok {
		return suspect{}, fmt.Errorf("bad suspicion %q", s)
	}
	t, err := strconv.ParseInt(since, 10, 64)
	if err != nil {
		return suspect{}, fmt.Errorf("bad suspicion start %q", since)
	}
	callers, err := decodeIDs(list)
	if err != nil {
		return suspect{}, err
	}
	return suspect{since: t, callers: callers}, nil
}

// decodeKey parses "<c|d>|<until ms>|<reason>".
func decodeKey(s string) (keyState, error) {
	state, rest, ok := strings.Cut(s, "|")
	if !ok || (state != "c" && state != "d") {
		return keyState{}, fmt.Errorf("bad key state %q", s)
	}
	until, reason, ok := strings.Cut(rest, "|")
	if !ok {
		return keyState{}, fmt.Errorf("bad key state %q", s)
	}
	u, err := strconv.ParseInt(until, 10, 64)
	if err != nil {
		return keyState{}, fmt.Errorf("bad key deadline %q", until)
	}
	return keyState{disabled: state == "d", until: u, reason: reason}, nil
}

// Snapshot returns the cached state of every channel that is not fully
// healthy, ordered by channel id.
func (h *Health) Snapshot() []gateway.ChannelHealth {
	now := time.Now().UnixMilli()
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]gateway.ChannelHealth, 0, len(h.channels))
	for id, st := range h.channels {
		if st.fails == 0 && st.openUntil == 0 && len(st.keys) == 0 && len(st.suspects) == 0 {
			continue
		}
		ch := gateway.ChannelHealth{ChannelID: id, State: gateway.StateClosed, Failures: st.fails, LastError: st.lastErr}
		if st.openUntil != 0 {
			ch.OpenUntil = time.UnixMilli(st.openUntil)
			ch.State = gateway.StateOpen
			if now >= st.openUntil {
				ch.State = gateway.StateHalfOpen
			}
		}
		for idx, k := range st.keys {
			kh := gateway.KeyHealth{Index: idx, State: gateway.KeyStateOK, Reason: k.reason}
			if k.until > now {
				kh.Until = time.UnixMilli(k.until)
				kh.State = gateway.KeyStateCooling
				if k.disabled {
					kh.State = gateway.KeyStateDisabled
				}
			}
			ch.Keys = append(ch.Keys, kh)
		}
		for idx, sus := range st.suspects {
			if _, listed := st.keys[idx]; !listed && sus.since+h.opts.AuthWindow.Milliseconds() > now {
				ch.Keys = append(ch.Keys, gateway.KeyHealth{Index: idx, State: gateway.KeyStateOK,
					Reason: fmt.Sprintf("401/403 for %d caller(s); disabled at %d, or when the gateway's own check fails", len(sus.callers), h.opts.AuthThreshold)})
			}
		}
		slices.SortFunc(ch.Keys, func(a, b gateway.KeyHealth) int { return a.Index - b.Index })
		out = append(out, ch)
	}
	slices.SortFunc(out, func(a, b gateway.ChannelHealth) int {
		switch {
		case a.ChannelID < b.ChannelID:
			return -1
		case a.ChannelID > b.ChannelID:
			return 1
		}
		return 0
	})
	return out
}
