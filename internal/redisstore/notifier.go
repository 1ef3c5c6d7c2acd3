package redisstore

import (
	"context"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Notifier fans small messages out to every node over Redis pub/sub, e.g.
// topic "keys" with a key id after an admin change, so other nodes drop
// their cached copy. Delivery is at most once: a node that is disconnected
// when a message is published misses it, so subscribers should also refresh
// periodically or on reconnect.
type Notifier struct {
	c *Client
}

// Notifier returns the pub/sub fan-out of c.
func (c *Client) Notifier() *Notifier { return &Notifier{c: c} }

func (n *Notifier) channel(topic string) string { return n.c.prefix + "notify:" + topic }

// Publish sends payload to every current subscriber of topic on any node.
func (n *Notifier) Publish(ctx context.Context, topic string, payload string) error {
	if err := n.c.rdb.Publish(ctx, n.channel(topic), payload).Err(); err != nil {
		return fmt.Errorf("redisstore: publish %q: %w", topic, err)
	}
	return nil
}

// Subscribe calls fn, from one goroutine and in order, for each message
// published to topic after Subscribe returns. The subscription survives
// connection failures (go-redis reconnects and resubscribes) and lasts until
// stop is called, ctx is done or the Client is closed. stop waits for an
// fn call in progress to return; do not call it from inside fn.
func (n *Notifier) Subscribe(ctx context.Context, topic string, fn func(payload string)) (stop func(), err error) {
	ps, err := subscribe(ctx, n.c.rdb, n.channel(topic))
	if err != nil {
		return nil, fmt.Errorf("redisstore: subscribe %q: %w", topic, err)
	}
	msgs := ps.Channel()
	done := make(chan struct{})
	quit := make(chan struct{})
	var once sync.Once
	stopFn := func() {
		once.Do(func() {
			close(quit)
			_ = ps.Close()
			<-done
		})
	}
	untrack, ok := n.c.track(stopFn)
	if !ok {
		_ = ps.Close()
		return nil, errClosed
	}
	go func() {
		defer close(done)
		for {
			select {
			case m, ok := <-msgs:
				if !ok {
					return
				}
				fn(m.Payload)
			case <-ctx.Done():
				// Close from here so the go-redis goroutines end even when
				// nobody calls stop; closing drains msgs to its end.
				_ = ps.Close()
				for range msgs {
				}
				untrack()
				return
			case <-quit:
				for range msgs {
				}
				return
			}
		}
	}()
	return func() {
		stopFn()
		untrack()
	}, nil
}

// subscribe opens a subscription and waits for the server's confirmation,
// so a message published after it returns is delivered.
func subscribe(ctx context.Context, rdb *redis.Client, channel string) (*redis.PubSub, error) {
	ps := rdb.Subscribe(ctx, channel)
	if _, err := ps.Receive(ctx); err != nil {
		_ = ps.Close()
		return nil, err
	}
	return ps, nil
}
