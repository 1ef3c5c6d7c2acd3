// Package redisstore is the state Switchboard nodes share through Redis when
// several of them run behind a load balancer: per-key rate limits
// (Limiter, a gateway.Limiter), channel and upstream-key health (Health, a
// gateway.Health) and config-change fan-out (Notifier). A single node uses
// internal/inmem instead.
//
// # Key layout
//
// Every key and pub/sub channel starts with the prefix given to Open
// (default "sb:"), written P below. Braces are Redis Cluster hash tags: keys
// one script touches share a slot.
//
//	P lim:{<key id>}            hash   rate windows of one client key (w r rp t tp)
//	P lim:{<key id>}:c          zset   concurrency leases: member = request token, score = lease end (ms)
//	P {health}:ch:<channel id>  hash   breaker and key states of one channel (v f o n e k<idx>)
//	P {health}:index            zset   channel ids with a state, score = when that state expires (ms)
//	P {health}:version          string global change counter, orders health messages
//	P {health}:probe:<channel>  string holder of the half-open probe slot (SET NX PX)
//	P {health}:events           pub/sub each health change, as a JSON array [id, field, value, ...]
//	P notify:<topic>            pub/sub Notifier topics, e.g. "keys", "channels"
//
// A client key is named by its id, or "h:<hash>" when it has none yet.
//
// # Rate limits
//
// RPM and TPM use a sliding window approximated by two fixed one-minute
// windows: the count in the current window plus the previous window's count
// weighted by the share of it still inside the last 60 s, rounded up. That
// is O(1) memory per key (five integers in one hash, expiring after two
// windows) whatever the limit, unlike a log of timestamps, and it never
// admits more than the limit within one window. Windows follow the Redis
// server's clock (TIME), so node clocks do not matter. Acquire is one script
// and one round trip: it rotates the windows, refuses when the tokens
// already charged (by AddTokens) reach TPM, when the request count reaches
// RPM or when the leases reach MaxConcurrent, and only when all pass counts
// the request and takes a lease; a refusal charges nothing and carries
// RetryAfter computed from the same window arithmetic (1 s for concurrency,
// whose slots free at an unknown time). A key with no limit set never
// reaches Redis.
//
// Concurrency slots are lease entries rather than a bare counter, so a node
// that crashes mid-request cannot leak slots: expired leases (LeaseTTL,
// default 10 minutes, which must exceed the longest request) are purged
// before counting. Release removes the lease.
//
// When Redis is unreachable the Limiter admits requests (logged) unless
// FailClosed is set.
//
// # Health
//
// A channel's breaker opens after FailureThreshold consecutive failures for
// Cooldown, doubled after each failed half-open probe up to MaxCooldown; a
// success closes it. A 429 cools the upstream key down for Retry-After (or
// RateLimitCooldown); a 401/403 disables the key for DisableFor with the
// reason kept for the admin view. Report runs one script that applies the
// outcome, bumps the global version, sets expiries and PUBLISHes the new
// state, which every node (the reporter too, from the script's reply)
// installs in its local cache. Available reads only that cache, so the hot
// path costs a read lock and two map lookups. The one exception is a
// channel whose cooldown has passed: the first caller on a node claims the
// cluster-wide probe slot with SET NX (one round trip per node and probe),
// and the node that wins sends the one probe request. Messages lost while a
// node was disconnected are repaired by a full resync on resubscription and
// every Resync period (2 s by default). Deadlines are compared with each
// node's clock, so node clocks should be NTP-synchronised. While Redis is
// unreachable, Report applies the same transitions to the local cache only
// (a per-node breaker) and a node that cannot claim a probe slot probes on
// its own; the next resync restores the shared state.
//
// The health scripts read keys they cannot declare (resync walks the
// index), so Health needs a standalone or Sentinel Redis; the hash tags keep
// all health keys in one slot should a cluster be used anyway.
package redisstore
