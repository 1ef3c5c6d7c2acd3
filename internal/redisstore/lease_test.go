package redisstore

import (
	"context"
	"testing"
	"time"
)

func TestLease(t *testing.T) {
	nodes := openNodes(t, 2)
	a, b := nodes[0], nodes[1]
	ctx := context.Background()
	if ok, err := a.AcquireLease(ctx, "poller", "a", 300*time.Millisecond); err != nil || !ok {
		t.Fatalf("a first: %v %v", ok, err)
	}
	if ok, _ := b.AcquireLease(ctx, "poller", "b", time.Minute); ok {
		t.Fatal("b took a held lease")
	}
	if ok, _ := a.AcquireLease(ctx, "poller", "a", 300*time.Millisecond); !ok {
		t.Fatal("a could not renew")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ok, err := b.AcquireLease(ctx, "poller", "b", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("b never took the expired lease")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if ok, _ := a.AcquireLease(ctx, "poller", "a", time.Minute); ok {
		t.Fatal("a took b's lease")
	}
	if err := a.ReleaseLease(ctx, "poller", "a"); err != nil { // not a's: no effect
		t.Fatal(err)
	}
	if ok, _ := a.AcquireLease(ctx, "poller", "a", time.Minute); ok {
		t.Fatal("a's release freed b's lease")
	}
	if err := b.ReleaseLease(ctx, "poller", "b"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := a.AcquireLease(ctx, "poller", "a", time.Minute); !ok {
		t.Fatal("a could not take a released lease")
	}
}
