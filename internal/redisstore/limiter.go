package redisstore

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"switchboard/internal/gateway"
)

// LimiterOptions tune a Limiter; zero values mean the defaults.
type LimiterOptions struct {
	// LeaseTTL is how long a concurrency slot stays taken when its release
	// never reaches Redis (a crashed node, a lost connection). It must be
	// longer than the longest request. Default 10 minutes.
	LeaseTTL time.Duration
	// FailClosed refuses requests (KindUnavailable) when Redis cannot be
	// reached. The default admits them: limits protect upstream quotas, and
	// budgets, not limits, protect money.
	FailClosed bool
	// Logger receives Redis failures; default slog.Default().
	Logger *slog.Logger

	// window is the RPM/TPM window; tests shorten it.
	window time.Duration
}

// Limiter is gateway.Limiter shared by every node using the same Redis and
// prefix. See the package documentation for the algorithm and key layout.
type Limiter struct {
	c          *Client
	lease      time.Duration
	window     time.Duration
	failClosed bool
	log        *slog.Logger
}

var _ gateway.Limiter = (*Limiter)(nil)

// NewLimiter returns the shared limiter of c.
func (c *Client) NewLimiter(opts LimiterOptions) *Limiter {
	l := &Limiter{c: c, lease: opts.LeaseTTL, window: opts.window, failClosed: opts.FailClosed, log: opts.Logger}
	if l.lease <= 0 {
		l.lease = 10 * time.Minute
	}
	if l.window <= 0 {
		l.window = time.Minute
	}
	if l.log == nil {
		l.log = slog.Default()
	}
	return l
}

// rotateLua brings the window hash to the current window: the current
// counters become the previous ones when one window has passed, and both
// reset when more have. It defines now, W, el (ms elapsed in the window),
// r/rp (requests now/previous) and t/tp (tokens now/previous).
const rotateLua = `
local W = tonumber(ARGV[1])
local tm = redis.call('TIME')
local now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)
local win = math.floor(now / W)
local el = now - win * W
local h = redis.call('HMGET', KEYS[1], 'w', 'r', 'rp', 't', 'tp')
local w = tonumber(h[1]) or -1
local r, rp, t, tp = tonumber(h[2]) or 0, tonumber(h[3]) or 0, tonumber(h[4]) or 0, tonumber(h[5]) or 0
if w ~= win then
  if w == win - 1 then rp, tp = r, t else rp, tp = 0, 0 end
  r, t = 0, 0
end
`

// acquireScript checks TPM, RPM and concurrency and, only when all pass,
// counts the request and takes a lease: nothing is charged for a refusal.
// KEYS: window hash, lease zset. ARGV: window ms, rpm, tpm, max concurrent,
// lease ms, lease token. Returns {0,0} when admitted, else {limit, retry ms}
// with limit 1 = TPM, 2 = RPM, 3 = concurrency.
var acquireScript = redis.NewScript(rotateLua + `
local rpm, tpm, conc = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local weight = (W - el) / W
-- wait returns ms until ceil(prev*weight) + cur < limit becomes true.
local function wait(limit, prev, cur)
  if cur < limit then
    local e = math.ceil(W * (1 - (limit - cur - 1) / prev))
    local d = e - el
    if d < 1 then d = 1 end
    return d
  end
  local e = math.ceil(W * (1 - (limit - 1) / cur))
  if e < 0 then e = 0 end
  return W - el + e + 1
end
if tpm > 0 and math.ceil(tp * weight) + t >= tpm then
  return {1, wait(tpm, tp, t)}
end
if rpm > 0 and math.ceil(rp * weight) + r >= rpm then
  return {2, wait(rpm, rp, r)}
end
if conc > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if redis.call('ZCARD', KEYS[2]) >= conc then
    return {3, 1000}
  end
  local lease = tonumber(ARGV[5])
  redis.call('ZADD', KEYS[2], now + lease, ARGV[6])
  redis.call('PEXPIRE', KEYS[2], lease)
end
if rpm > 0 then
  redis.call('HSET', KEYS[1], 'w', win, 'r', r + 1, 'rp', rp, 't', t, 'tp', tp)
  redis.call('PEXPIRE', KEYS[1], 2 * W)
end
return {0, 0}
`)

// addTokensScript charges ARGV[2] tokens to the current TPM window.
// KEYS: window hash. ARGV: window ms, tokens.
var addTokensScript = redis.NewScript(rotateLua + `
redis.call('HSET', KEYS[1], 'w', win, 'r', r, 'rp', rp, 't', t + tonumber(ARGV[2]), 'tp', tp)
redis.call('PEXPIRE', KEYS[1], 2 * W)
return 0
`)

// keyID names k in Redis keys. The hash tag keeps a key's window and leases
// in one cluster slot, as a script needs.
func keyID(k gateway.Key) string {
	if k.ID != 0 {
		return "{" + strconv.FormatInt(k.ID, 10) + "}"
	}
	return "{h:" + k.Hash + "}"
}

func (l *Limiter) windowKey(id string) string { return l.c.prefix + "lim:" + id }
func (l *Limiter) leaseKey(id string) string  { return l.c.prefix + "lim:" + id + ":c" }

func noop() {}

// Acquire admits one request for k or refuses it with a KindRateLimited
// *gateway.Error carrying RetryAfter. It costs one Redis round trip, and
// none when k has no limits.
func (l *Limiter) Acquire(ctx context.Context, k gateway.Key) (release func(), err error) {
	if k.RPM <= 0 && k.TPM <= 0 && k.MaxConcurrent <= 0 {
		return noop, nil
	}
	id := keyID(k)
	keys := []string{l.windowKey(id), l.leaseKey(id)}
	var token string
	if k.MaxConcurrent > 0 {
		token = l.c.token()
	}
	res, err := acquireScript.Run(ctx, l.c.rdb, keys,
		l.window.Milliseconds(), max(k.RPM, 0), max(k.TPM, 0), max(k.MaxConcurrent, 0),
		l.lease.Milliseconds(), token).Int64Slice()
	if err != nil || len(res) != 2 {
		if err == nil {
			err = fmt.Errorf("unexpected reply %v", res)
		}
		if ctx.Err() != nil {
			return nil, &gateway.Error{Kind: gateway.KindTimeout, Message: "request cancelled", Err: ctx.Err()}
		}
		l.log.Warn("redisstore: rate limiter unavailable", "key_id", k.ID, "err", err)
		if l.failClosed {
			return nil, &gateway.Error{Kind: gateway.KindUnavailable, Message: "rate limiter unavailable",
				Err: fmt.Errorf("redisstore: acquire: %w", err)}
		}
		return noop, nil
	}
	if res[0] != 0 {
		return nil, refusal(k, res[0], time.Duration(res[1])*time.Millisecond)
	}
	if k.MaxConcurrent <= 0 {
		return noop, nil
	}
	leaseKey := keys[1]
	var once sync.Once
	return func() {
		once.Do(func() {
			// Detached from the request's context: the request is over, often
			// because that context was cancelled, and the slot must still be
			// freed. A failure here only delays the slot until the lease ends.
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if err := l.c.rdb.ZRem(ctx, leaseKey, token).Err(); err != nil {
				l.log.Warn("redisstore: release concurrency slot", "key_id", k.ID, "err", err)
			}
		})
	}, nil
}

func refusal(k gateway.Key, limit int64, retry time.Duration) *gateway.Error {
	if retry <= 0 {
		retry = time.Second
	}
	e := &gateway.Error{Kind: gateway.KindRateLimited, RetryAfter: retry, Code: "rate_limit_exceeded"}
	switch limit {
	case 1:
		e.Message = fmt.Sprintf("token rate limit exceeded: %d tokens per minute", k.TPM)
	case 2:
		e.Message = fmt.Sprintf("request rate limit exceeded: %d requests per minute", k.RPM)
	default:
		e.Message = fmt.Sprintf("too many concurrent requests: at most %d", k.MaxConcurrent)
	}
	return e
}

// AddTokens charges tokens to k's TPM window. Keys without a TPM limit cost
// nothing. Failures are logged: the tokens are then simply not counted.
func (l *Limiter) AddTokens(ctx context.Context, k gateway.Key, tokens int64) {
	if k.TPM <= 0 || tokens <= 0 {
		return
	}
	err := addTokensScript.Run(ctx, l.c.rdb, []string{l.windowKey(keyID(k))}, l.window.Milliseconds(), tokens).Err()
	if err != nil {
		l.log.Warn("redisstore: charge tokens", "key_id", k.ID, "tokens", tokens, "err", err)
	}
}
