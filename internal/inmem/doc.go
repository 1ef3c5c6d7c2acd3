// Package inmem holds the single-node implementations of the gateway's
// shared runtime state: the rate Limiter (RPM, TPM, concurrency per client
// key) and Health (a circuit breaker per channel and a cooldown or disable
// switch per upstream key). redisstore implements the same interfaces for
// several nodes.
//
// # Limiter
//
// Each key's requests and tokens are counted in a sliding window of 60
// one-second buckets with a running sum: O(1) per request, fixed memory per
// key, and a Retry-After computed from the buckets that must expire before
// the key is under its limit again (rounded up to whole seconds, at least
// one). Keys are spread over 256 shards and each has its own mutex; a key
// without limits returns at once without touching any shared state. State of
// keys idle longer than LimiterConfig.IdleTTL (never shorter than the window)
// is evicted when a shard next admits a new key, or by Sweep.
//
// # Health
//
// A channel's breaker is closed until FailureThreshold consecutive failures
// open it for Cooldown. After the cooldown it is half-open: one request (the
// probe) is let through; its success closes the breaker, its failure opens it
// again for twice the previous cooldown, up to MaxCooldown. A probe that
// never reports gives its slot back after ProbeTimeout. Per upstream key, a
// 429 rests the key (not the channel) for the upstream's Retry-After, and a
// 401/403 disables the key until EnableKey or Reset. Because Available checks
// the key before the breaker, a channel whose keys are all disabled is
// unavailable for every key index, which is how routing sees it.
package inmem
