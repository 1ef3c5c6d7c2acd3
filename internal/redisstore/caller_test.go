package redisstore

import (
	"testing"
	"time"

	"switchboard/internal/gateway"
)

// One tenant's poisoned requests must not open a shared channel, nor
// disable a shared key, on any node; distinct callers and the gateway's own
// check do.
func TestHealthCallersCountOnce(t *testing.T) {
	nodes := openNodes(t, 2)
	hs := newHealths(t, HealthOptions{Resync: time.Minute}, nodes...)
	a, b := hs[0], hs[1]
	const ch = 41
	failBy := func(h *Health, caller int64) {
		h.Report(gateway.HealthReport{ChannelID: ch, Outcome: gateway.OutcomeFailure, Reason: "500", Caller: caller})
	}
	for range 20 {
		failBy(a, 7)
		failBy(b, 7)
	}
	st, _ := channelState(b, ch)
	if !a.Available(ch, 0, time.Now()) || !b.Available(ch, 0, time.Now()) || st.Failures != 1 {
		t.Fatalf("one caller's 40 failures on two nodes: %+v", st)
	}
	failBy(a, 8)
	failBy(b, 9)
	eventually(t, time.Second, "the breaker opens everywhere after three callers", func() bool {
		return !a.Available(ch, 0, time.Now()) && !b.Available(ch, 0, time.Now())
	})

	authBy := func(h *Health, key int, caller int64) {
		h.Report(gateway.HealthReport{ChannelID: ch + 1, KeyIndex: key, Outcome: gateway.OutcomeAuthFailure, Reason: "403", Caller: caller})
	}
	for range 10 {
		authBy(a, 0, 7)
		authBy(b, 0, 7)
	}
	time.Sleep(50 * time.Millisecond)
	if !a.Available(ch+1, 0, time.Now()) || !b.Available(ch+1, 0, time.Now()) {
		t.Fatal("one caller's 403s disabled a shared key")
	}
	st, _ = channelState(a, ch+1)
	if len(st.Keys) != 1 || st.Keys[0].State != gateway.KeyStateOK || st.Keys[0].Reason == "" {
		t.Fatalf("a suspected key should show, in rotation: %+v", st)
	}
	// A success with the key clears the suspicion on every node.
	b.Report(gateway.HealthReport{ChannelID: ch + 1, KeyIndex: 0, Outcome: gateway.OutcomeSuccess})
	eventually(t, time.Second, "the suspicion is cleared", func() bool {
		_, listed := channelState(a, ch+1)
		return !listed
	})
	authBy(a, 0, 1)
	authBy(b, 0, 2)
	authBy(a, 0, 3)
	eventually(t, time.Second, "three callers disable the key everywhere", func() bool {
		return !a.Available(ch+1, 0, time.Now()) && !b.Available(ch+1, 0, time.Now())
	})
	// Verified by the gateway's own request: back on every node.
	a.Report(gateway.HealthReport{ChannelID: ch + 1, KeyIndex: 0, Outcome: gateway.OutcomeKeyVerified})
	eventually(t, time.Second, "the verified key is back", func() bool { return b.Available(ch+1, 0, time.Now()) })
	// Confirmed by the gateway (Caller 0): disabled at once.
	authBy(b, 1, 0)
	eventually(t, time.Second, "a confirmed key is disabled", func() bool { return !a.Available(ch+1, 1, time.Now()) })
}
