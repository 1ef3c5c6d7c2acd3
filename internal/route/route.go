package route

import (
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"switchboard/internal/gateway"
)

// Candidate is one upstream attempt: a channel, which of its keys to use,
// and the model name to send. Channel points into the router's snapshot and
// must be treated as read-only.
type Candidate struct {
	Channel       *gateway.Channel
	KeyIndex      int
	APIKey        string
	UpstreamModel string
}

// maxGlobCache bounds the per-snapshot cache of routes resolved through
// glob patterns, since clients choose the model names that reach it.
const maxGlobCache = 1024

// Router picks channels for a model. It is safe for concurrent use;
// SetChannels swaps in a new immutable snapshot without blocking readers.
type Router struct {
	health gateway.Health
	snap   atomic.Pointer[snapshot]
	seeded atomic.Bool
	seed   atomic.Uint64
}

// New returns a router with no channels. A nil health treats every channel
// and key as available.
func New(health gateway.Health) *Router {
	if health == nil {
		health = alwaysAvailable{}
	}
	r := &Router{health: health}
	r.snap.Store(newSnapshot(nil))
	return r
}

// SetSeed makes the weighted choices deterministic: plans made one after
// another draw from a sequence fixed by seed. For tests and benchmarks;
// routers are randomised by default.
func (r *Router) SetSeed(seed uint64) {
	r.seed.Store(seed)
	r.seeded.Store(true)
}

// SetChannels replaces the routing table. The channels are copied, so the
// caller may reuse the slice. Disabled channels are not routed to (Channel
// still finds them by ID). A channel ID that appears twice keeps its first
// entry.
func (r *Router) SetChannels(chs []gateway.Channel) {
	r.snap.Store(newSnapshot(chs))
}

// HasModel reports whether some enabled channel serves model, exactly or
// through a glob.
func (r *Router) HasModel(model string) bool {
	rt := r.snap.Load().route(model)
	return rt != nil && len(rt.entries) > 0
}

// Models lists the concrete model names the enabled channels serve, sorted.
// Glob entries such as "gpt-4o*" are not listed: they name no model.
func (r *Router) Models() []string {
	return slices.Clone(r.snap.Load().models)
}

// Channel finds a channel by ID, enabled or not.
func (r *Router) Channel(id int64) (*gateway.Channel, bool) {
	e, ok := r.snap.Load().byID[id]
	if !ok {
		return nil, false
	}
	return &e.ch, true
}

// Plan starts choosing channels for one call of model. The plan sees the
// routing table as it was when Plan was called.
func (r *Router) Plan(model string, _ time.Time) Plan {
	p := Plan{route: r.snap.Load().route(model), health: r.health, model: model}
	if r.seeded.Load() {
		// Scramble the counter so that consecutive plans start far apart in
		// the splitmix sequence instead of one step from each other.
		p.rng = mix(r.seed.Add(1))
	} else {
		p.rng = rand.Uint64()
	}
	return p
}

// Plan yields the candidates of one call in order. The zero Plan yields
// nothing. A Plan is not safe for concurrent use; it is meant to live on
// one request's stack.
//
// Order: the highest priority tier first. Inside a tier, channels come in
// weighted random order; channels of weight 0 come only after every
// weighted channel of the tier was tried or found unavailable. A channel is
// yielded at most once per plan, so a channel that failed is never retried
// in the same call. Channels whose breaker is not available are skipped, and
// so is a channel none of whose keys is available. There is deliberately no
// last resort: when every channel is unavailable the plan is empty and the
// caller answers 503; the breakers' half-open probes are what bring
// channels back, and sending traffic to a channel known to be failing would
// only add latency and load to it.
//
// A channel's keys rotate round-robin across all plans, skipping keys the
// health tracker reports unavailable (cooling after a 429, disabled after a
// 401/403).
type Plan struct {
	route    *modelRoute
	health   gateway.Health
	model    string
	tier     int
	used     uint64   // entries 0..63 already yielded or skipped
	usedMore []uint64 // entries from 64 on, for unusually large tiers
	rng      uint64
	// sticky, when set, picks keys by stick instead of the round-robin
	// cursor (see Stick).
	sticky bool
	stick  uint64
}

// Stick makes the plan's choices a function of affinity (a conversation
// id): the same channel and key in the same order for every call of the
// conversation while they stay healthy, so an upstream's prompt cache and
// the opaque tokens it issued keep meeting the account that knows them.
// Call it before the first Next.
func (p *Plan) Stick(affinity string) {
	h := uint64(14695981039346656037) // FNV-1a
	for i := 0; i < len(affinity); i++ {
		h ^= uint64(affinity[i])
		h *= 1099511628211
	}
	p.rng, p.sticky, p.stick = mix(h), true, mix(h^0x5bd1e995)
}

// Next returns the next candidate, or false when the plan is exhausted.
func (p *Plan) Next(now time.Time) (Candidate, bool) {
	if p.route == nil {
		return Candidate{}, false
	}
	for p.tier < len(p.route.tiers)-1 {
		lo, hi := p.route.tiers[p.tier], p.route.tiers[p.tier+1]
		for {
			i := p.pick(lo, hi)
			if i < 0 {
				break
			}
			p.markUsed(i)
			if c, ok := p.try(p.route.entries[i], now); ok {
				return c, true
			}
		}
		p.tier++
	}
	return Candidate{}, false
}

// pick chooses among the unused entries of [lo, hi): weighted random among
// those with weight, else the first one without. -1 when none is left.
func (p *Plan) pick(lo, hi int) int {
	var total uint64
	zero := -1
	for i := lo; i < hi; i++ {
		if p.isUsed(i) {
			continue
		}
		if w := p.route.weights[i]; w > 0 {
			total += uint64(w)
		} else if zero < 0 {
			zero = i
		}
	}
	if total == 0 {
		return zero
	}
	x := p.rand() % total
	for i := lo; i < hi; i++ {
		w := p.route.weights[i]
		if w <= 0 || p.isUsed(i) {
			continue
		}
		if x < uint64(w) {
			return i
		}
		x -= uint64(w)
	}
	return zero // unreachable: x < total
}

// try finds an available key of e's channel, starting at the channel's
// round-robin cursor.
func (p *Plan) try(e *channelEntry, now time.Time) (Candidate, bool) {
	ch := &e.ch
	n := len(ch.APIKeys)
	if n == 0 {
		// Keyless channels (simulator, some self-hosted upstreams) still
		// have their breaker, tracked under key 0.
		if !p.health.Available(ch.ID, 0, now) {
			return Candidate{}, false
		}
		return Candidate{Channel: ch, UpstreamModel: ch.UpstreamModel(p.model)}, true
	}
	cur := uint32(p.stick)
	if !p.sticky {
		cur = e.next.Add(1) - 1
	}
	start := int(cur % uint32(n))
	for j := range n {
		idx := start + j
		if idx >= n {
			idx -= n
		}
		if p.health.Available(ch.ID, idx, now) {
			if j > 0 && !p.sticky {
				// Move the cursor past the skipped keys too, so the key after
				// an unavailable one does not get its turn as well as its own.
				// Best effort: under contention another plan moved it already.
				e.next.CompareAndSwap(cur+1, cur+1+uint32(j))
			}
			return Candidate{Channel: ch, KeyIndex: idx, APIKey: ch.APIKeys[idx], UpstreamModel: ch.UpstreamModel(p.model)}, true
		}
	}
	return Candidate{}, false
}

func (p *Plan) isUsed(i int) bool {
	if i < 64 {
		return p.used&(1<<uint(i)) != 0
	}
	i -= 64
	return i/64 < len(p.usedMore) && p.usedMore[i/64]&(1<<uint(i%64)) != 0
}

func (p *Plan) markUsed(i int) {
	if i < 64 {
		p.used |= 1 << uint(i)
		return
	}
	i -= 64
	if i/64 >= len(p.usedMore) {
		p.usedMore = append(p.usedMore, make([]uint64, i/64+1-len(p.usedMore))...)
	}
	p.usedMore[i/64] |= 1 << uint(i%64)
}

// rand is splitmix64: tiny state, good enough spread for weighted choice,
// and no allocation or shared lock per plan.
func (p *Plan) rand() uint64 {
	p.rng += 0x9e3779b97f4a7c15
	return mix(p.rng)
}

func mix(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// channelEntry is a channel as routed: its copy, and its key cursor, shared
// by every model the channel serves.
type channelEntry struct {
	ch   gateway.Channel
	next atomic.Uint32
}

// modelRoute is the precomputed order for one model: entries grouped in
// tiers of descending priority; tier t is entries[tiers[t]:tiers[t+1]].
type modelRoute struct {
	entries []*channelEntry
	weights []int
	tiers   []int
}

func buildRoute(es []*channelEntry) *modelRoute {
	es = slices.Clone(es)
	slices.SortStableFunc(es, func(a, b *channelEntry) int { return b.ch.Priority - a.ch.Priority })
	rt := &modelRoute{entries: es, weights: make([]int, len(es))}
	for i, e := range es {
		rt.weights[i] = max(e.ch.Weight, 0)
		if i == 0 || e.ch.Priority != es[i-1].ch.Priority {
			rt.tiers = append(rt.tiers, i)
		}
	}
	rt.tiers = append(rt.tiers, len(es))
	return rt
}

type globEntry struct {
	pattern string
	entry   *channelEntry
}

// snapshot is one immutable routing table, apart from the bounded cache of
// glob-resolved routes and the key cursors.
type snapshot struct {
	byID   map[int64]*channelEntry
	exact  map[string]*modelRoute
	globs  []globEntry // in channel order, then pattern order
	models []string

	mu        sync.RWMutex
	globCache map[string]*modelRoute // nil value: no channel matches
}

func newSnapshot(chs []gateway.Channel) *snapshot {
	s := &snapshot{
		byID:      make(map[int64]*channelEntry, len(chs)),
		exact:     map[string]*modelRoute{},
		globCache: map[string]*modelRoute{},
	}
	var enabled []*channelEntry
	for _, c := range chs {
		if _, dup := s.byID[c.ID]; dup {
			continue
		}
		e := &channelEntry{ch: c}
		e.ch.APIKeys = slices.Clone(c.APIKeys)
		e.ch.Models = slices.Clone(c.Models)
		e.ch.ModelMap = maps.Clone(c.ModelMap)
		e.ch.Headers = maps.Clone(c.Headers)
		e.ch.Settings = maps.Clone(c.Settings)
		s.byID[c.ID] = e
		if c.Enabled {
			enabled = append(enabled, e)
		}
	}

	names := map[string][]*channelEntry{}
	for _, e := range enabled {
		for _, m := range e.ch.Models {
			if IsGlob(m) {
				s.globs = append(s.globs, globEntry{pattern: m, entry: e})
			} else if !slices.Contains(names[m], e) {
				names[m] = append(names[m], e)
			}
		}
	}
	for name, es := range names {
		for _, g := range s.globs {
			if !slices.Contains(es, g.entry) && Match(g.pattern, name) {
				es = append(es, g.entry)
			}
		}
		s.exact[name] = buildRoute(es)
		s.models = append(s.models, name)
	}
	slices.Sort(s.models)
	return s
}

// route finds the route for model, or nil when no channel serves it.
func (s *snapshot) route(model string) *modelRoute {
	if rt, ok := s.exact[model]; ok {
		return rt
	}
	if len(s.globs) == 0 {
		return nil
	}
	s.mu.RLock()
	rt, ok := s.globCache[model]
	s.mu.RUnlock()
	if ok {
		return rt
	}
	var es []*channelEntry
	for _, g := range s.globs {
		if !slices.Contains(es, g.entry) && Match(g.pattern, model) {
			es = append(es, g.entry)
		}
	}
	if len(es) > 0 {
		rt = buildRoute(es)
	}
	s.mu.Lock()
	if len(s.globCache) < maxGlobCache {
		s.globCache[model] = rt
	}
	s.mu.Unlock()
	return rt
}

type alwaysAvailable struct{}

func (alwaysAvailable) Available(int64, int, time.Time) bool { return true }
func (alwaysAvailable) Report(gateway.HealthReport)          {}
func (alwaysAvailable) Snapshot() []gateway.ChannelHealth    { return nil }
