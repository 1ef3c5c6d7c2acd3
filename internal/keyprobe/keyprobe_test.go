package keyprobe

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"switchboard/internal/gateway"
	"switchboard/internal/inmem"
	"switchboard/internal/upstream"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeUpstream answers the models list: 200 for the keys in good, else 401.
type fakeUpstream struct {
	*httptest.Server
	good  atomic.Value // string: the key it accepts
	calls atomic.Int32
}

func newFake(t *testing.T, good string) *fakeUpstream {
	f := &fakeUpstream{}
	f.good.Store(good)
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.calls.Add(1)
		if r.URL.Path != "/v1/models" || r.Method != http.MethodGet {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+f.good.Load().(string) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, `{"object":"list","data":[]}`)
	}))
	t.Cleanup(f.Close)
	return f
}

func wait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSuspectConfirmsOrClears(t *testing.T) {
	up := newFake(t, "sk-good")
	ch := &gateway.Channel{ID: 1, Name: "c", Type: gateway.ChannelOpenAI, BaseURL: up.URL, APIKeys: []string{"sk-good", "sk-revoked"}}
	h := inmem.NewHealth(inmem.HealthConfig{})
	p := New(h, upstream.NewClient(http.DefaultTransport), func(int64) (*gateway.Channel, bool) { return ch, true }, Options{MinInterval: time.Hour})
	defer p.Close()

	// A tenant provoked a 401 with the good key: the check clears it.
	h.Report(gateway.HealthReport{ChannelID: 1, KeyIndex: 0, Outcome: gateway.OutcomeAuthFailure, Caller: 7})
	p.Suspect(ch, 0)
	wait(t, "the suspicion cleared", func() bool { return len(h.Snapshot()[0].Keys[0].Reason) == 0 })
	if !h.Available(1, 0, time.Now()) {
		t.Fatal("a key the upstream accepts was taken out")
	}
	// The revoked key: confirmed and disabled at once.
	p.Suspect(ch, 1)
	wait(t, "the revoked key disabled", func() bool { return !h.Available(1, 1, time.Now()) })
	if k := h.Snapshot()[0].Keys[1]; k.State != gateway.KeyStateDisabled || k.Reason == "" {
		t.Fatalf("key 1: %+v", k)
	}
	// Checks are spaced: a flood of 401s makes one request upstream.
	n := up.calls.Load()
	for range 100 {
		p.Suspect(ch, 1)
	}
	time.Sleep(50 * time.Millisecond)
	if got := up.calls.Load(); got != n {
		t.Fatalf("%d more checks for a flood of suspicions", got-n)
	}
	p.Suspect(ch, 5) // an index the channel does not have: ignored
}

// A disabled key comes back by itself once the upstream accepts it again.
func TestRecheckRestoresKeys(t *testing.T) {
	up := newFake(t, "other")
	ch := &gateway.Channel{ID: 3, Name: "c", Type: gateway.ChannelOpenAI, BaseURL: up.URL, APIKeys: []string{"sk-k"}}
	h := inmem.NewHealth(inmem.HealthConfig{})
	h.Report(gateway.HealthReport{ChannelID: 3, KeyIndex: 0, Outcome: gateway.OutcomeAuthFailure, Reason: "401"})
	p := New(h, upstream.NewClient(http.DefaultTransport), func(id int64) (*gateway.Channel, bool) { return ch, id == 3 }, Options{Every: 20 * time.Millisecond, MinInterval: 10 * time.Millisecond})
	defer p.Close()
	time.Sleep(100 * time.Millisecond)
	if h.Available(3, 0, time.Now()) {
		t.Fatal("a still-rejected key came back")
	}
	up.good.Store("sk-k") // the operator fixed the upstream account
	wait(t, "the key back in rotation", func() bool { return h.Available(3, 0, time.Now()) })
}

// Ending Options.Context stops the Prober as Close does: its loop ends
// and it checks no more keys.
func TestContextEndsTheProber(t *testing.T) {
	f := newFake(t, "good")
	h := inmem.NewHealth(inmem.HealthConfig{})
	ch := &gateway.Channel{ID: 1, Type: gateway.ChannelOpenAI, BaseURL: f.URL, APIKeys: []string{"bad"}}
	ctx, cancel := context.WithCancel(context.Background())
	p := New(h, upstream.NewClient(http.DefaultTransport), func(int64) (*gateway.Channel, bool) { return ch, true },
		Options{Context: ctx, Every: time.Millisecond})
	cancel()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the Prober's loop outlived its context")
	}
	p.Suspect(ch, 0)
	p.Close()
	if n := f.calls.Load(); n != 0 {
		t.Fatalf("%d checks after the context ended", n)
	}
}
