package inmem

import (
	"testing"
	"time"

	"switchboard/internal/gateway"
)

// One tenant's poisoned requests must not open a channel for everyone: a
// failure streak counts each caller once.
func TestBreakerCountsDistinctCallers(t *testing.T) {
	clk := newClock()
	h := NewHealth(HealthConfig{FailureThreshold: 3, Now: clk.Now})
	failBy := func(caller int64) {
		h.Report(gateway.HealthReport{ChannelID: 1, Outcome: gateway.OutcomeFailure, Reason: "500", Caller: caller})
	}
	for range 50 {
		failBy(7)
	}
	if !h.Available(1, 0, clk.Now()) || h.Snapshot()[0].Failures != 1 {
		t.Fatalf("one caller's 50 failures opened the breaker: %+v", h.Snapshot()[0])
	}
	failBy(8)
	failBy(7)
	if !h.Available(1, 0, clk.Now()) {
		t.Fatal("two callers opened a breaker of threshold 3")
	}
	failBy(9)
	if h.Available(1, 0, clk.Now()) || h.Snapshot()[0].State != gateway.StateOpen {
		t.Fatal("three distinct callers did not open the breaker")
	}
	// A success ends the streak: the same callers count again.
	clk.Advance(31 * time.Second)
	if !h.Available(1, 0, clk.Now()) {
		t.Fatal("no half-open probe")
	}
	h.Report(gateway.HealthReport{ChannelID: 1, Outcome: gateway.OutcomeSuccess})
	failBy(7)
	failBy(8)
	if !h.Available(1, 0, clk.Now()) {
		t.Fatal("open after a success and two failures")
	}
	// Failures no request can cause (a dial error, Caller 0) count each time.
	for range 3 {
		h.Report(gateway.HealthReport{ChannelID: 2, Outcome: gateway.OutcomeFailure, Reason: "dial"})
	}
	if h.Available(2, 0, clk.Now()) {
		t.Fatal("three connection failures did not open the breaker")
	}
}

// A 401/403 one caller provoked does not disable a shared key; a probe's
// confirmation (Caller 0) or distinct callers do, and a verified key comes
// back.
func TestAuthFailureNeedsConfirmation(t *testing.T) {
	clk := newClock()
	h := NewHealth(HealthConfig{AuthThreshold: 3, AuthWindow: 10 * time.Minute, Now: clk.Now})
	authBy := func(caller int64) {
		h.Report(gateway.HealthReport{ChannelID: 1, KeyIndex: 0, Outcome: gateway.OutcomeAuthFailure, Reason: "403 from upstream", Caller: caller})
	}
	for range 20 {
		authBy(7)
	}
	if !h.Available(1, 0, clk.Now()) {
		t.Fatal("one caller's 403s disabled the shared key")
	}
	if k := h.Snapshot()[0].Keys[0]; k.State != gateway.KeyStateOK || k.Reason == "" {
		t.Fatalf("a suspected key should say so and stay ok: %+v", k)
	}
	// Suspicion ends when the key is seen working.
	h.Report(gateway.HealthReport{ChannelID: 1, KeyIndex: 0, Outcome: gateway.OutcomeSuccess})
	authBy(8)
	authBy(9)
	if !h.Available(1, 0, clk.Now()) {
		t.Fatal("suspicion survived a success")
	}
	// Distinct callers within the window disable it.
	authBy(10)
	if h.Available(1, 0, clk.Now()) || h.Snapshot()[0].Keys[0].State != gateway.KeyStateDisabled {
		t.Fatal("three distinct callers did not disable the key")
	}
	h.Report(gateway.HealthReport{ChannelID: 1, KeyIndex: 0, Outcome: gateway.OutcomeKeyVerified})
	if !h.Available(1, 0, clk.Now()) {
		t.Fatal("a verified key stayed disabled")
	}
	// The window: callers far apart do not add up.
	authBy(1)
	clk.Advance(11 * time.Minute)
	authBy(2)
	authBy(3)
	if !h.Available(1, 0, clk.Now()) {
		t.Fatal("suspicion outlived its window")
	}
	// The gateway's own check: disabled at once, and a 429 keeps it so.
	h.Report(gateway.HealthReport{ChannelID: 1, KeyIndex: 1, Outcome: gateway.OutcomeAuthFailure, Reason: "probe: 401"})
	h.Report(gateway.HealthReport{ChannelID: 1, KeyIndex: 1, Outcome: gateway.OutcomeRateLimited, RetryAfter: time.Second})
	if k := h.Snapshot()[0].Keys[1]; h.Available(1, 1, clk.Now()) || k.State != gateway.KeyStateDisabled || k.Reason != "probe: 401" {
		t.Fatalf("confirmed failure: %+v", k)
	}
	// KeyVerified leaves a 429 cooldown alone.
	h.Report(gateway.HealthReport{ChannelID: 1, KeyIndex: 2, Outcome: gateway.OutcomeRateLimited, RetryAfter: time.Minute})
	h.Report(gateway.HealthReport{ChannelID: 1, KeyIndex: 2, Outcome: gateway.OutcomeKeyVerified})
	if h.Available(1, 2, clk.Now()) {
		t.Fatal("KeyVerified ended a 429 cooldown")
	}
}
