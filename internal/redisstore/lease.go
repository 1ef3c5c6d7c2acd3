package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"switchboard/internal/gateway"
)

var _ gateway.Leaser = (*Client)(nil)

// leaseScript takes the lease KEYS[1] for ARGV[1] for ARGV[2] ms when it
// is free or already ARGV[1]'s: one atomic step, on Redis's clock.
var leaseScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if v == false or v == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0`)

var releaseLeaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`)

// AcquireLease takes or renews a named lease; see gateway.Leaser. Expiry
// is Redis's own, so node clocks do not matter.
func (c *Client) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	n, err := leaseScript.Run(ctx, c.rdb, []string{c.prefix + "lease:" + name}, holder, ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("redisstore: lease %s: %w", name, err)
	}
	return n == 1, nil
}

// ReleaseLease gives a lease up if holder has it; see gateway.Leaser.
func (c *Client) ReleaseLease(ctx context.Context, name, holder string) error {
	if err := releaseLeaseScript.Run(ctx, c.rdb, []string{c.prefix + "lease:" + name}, holder).Err(); err != nil {
		return fmt.Errorf("redisstore: release lease %s: %w", name, err)
	}
	return nil
}
