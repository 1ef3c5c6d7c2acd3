package redisstore

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"switchboard/internal/gateway"
)

func TestNotifierDeliversAcrossNodes(t *testing.T) {
	nodes := openNodes(t, 2)
	pub, sub := nodes[0].Notifier(), nodes[1].Notifier()
	ctx := context.Background()

	got := make(chan string, 10)
	stop, err := sub.Subscribe(ctx, "keys", func(p string) { got <- p })
	if err != nil {
		t.Fatal(err)
	}
	other := make(chan string, 10)
	stopOther, err := sub.Subscribe(ctx, "channels", func(p string) { other <- p })
	if err != nil {
		t.Fatal(err)
	}
	defer stopOther()

	for _, want := range []string{"42", "", "43 with spaces"} {
		start := time.Now()
		if err := pub.Publish(ctx, "keys", want); err != nil {
			t.Fatal(err)
		}
		select {
		case p := <-got:
			if p != want {
				t.Fatalf("payload %q, want %q", p, want)
			}
			t.Logf("delivered in %v", time.Since(start))
		case <-time.After(time.Second):
			t.Fatalf("payload %q not delivered within 1 s", want)
		}
	}
	select {
	case p := <-other:
		t.Fatalf("topic channels received %q published to keys", p)
	default:
	}

	stop()
	stop() // idempotent
	if err := pub.Publish(ctx, "keys", "after stop"); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		t.Fatalf("delivered %q after stop", p)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestNotifierStopsWithContext(t *testing.T) {
	nodes := openNodes(t, 1)
	n := nodes[0].Notifier()
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan string, 1)
	stop, err := n.Subscribe(ctx, "keys", func(p string) { got <- p })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	cancel()
	// Cancellation is asynchronous: wait until the subscription is gone
	// from the server.
	ch := n.channel("keys")
	eventually(t, time.Second, "unsubscribed", func() bool {
		counts, err := nodes[0].rdb.PubSubNumSub(context.Background(), ch).Result()
		return err == nil && counts[ch] == 0
	})
	if err := n.Publish(context.Background(), "keys", "late"); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-got:
		t.Fatalf("delivered %q after the context ended", p)
	case <-time.After(50 * time.Millisecond):
	}
}

// TestCloseStopsEverything: Close of the Client ends every goroutine its
// Health and subscriptions started, even those never stopped by hand.
func TestCloseStopsEverything(t *testing.T) {
	requireRedis(t)
	ignore := goleak.IgnoreCurrent()
	prefix := randomPrefix(t)
	ctx := context.Background()
	c, err := Open(ctx, testURL(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	h, err := c.NewHealth(ctx, HealthOptions{Resync: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Notifier().Subscribe(ctx, "keys", func(string) {}); err != nil {
		t.Fatal(err)
	}
	l := c.NewLimiter(LimiterOptions{})
	release, err := l.Acquire(ctx, gateway.Key{ID: 1, RPM: 10, MaxConcurrent: 1})
	if err != nil {
		t.Fatal(err)
	}
	release()
	h.Report(gateway.HealthReport{ChannelID: 1, Outcome: gateway.OutcomeFailure})
	time.Sleep(30 * time.Millisecond) // let a resync or two run

	// Clean the keys through a second connection, then close.
	c2, err := Open(ctx, testURL(), prefix)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := c2.rdb.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) > 0 {
		if err := c2.rdb.Del(ctx, keys...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := c2.Close(); err != nil {
		t.Fatal(err)
	}

	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	h.Close() // after the client: a no-op
	if _, err := c.NewHealth(ctx, HealthOptions{}); err == nil {
		t.Fatal("NewHealth on a closed client succeeded")
	}
	if _, err := c.Notifier().Subscribe(ctx, "keys", func(string) {}); err == nil {
		t.Fatal("Subscribe on a closed client succeeded")
	}
	goleak.VerifyNone(t, ignore)
}
