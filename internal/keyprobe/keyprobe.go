// Package keyprobe checks upstream keys with requests of the gateway's own.
// A 401/403 that one tenant provoked (an organisation header it may not
// send, a file it does not own) must not take a key every tenant shares
// out of service: the relay reports such a failure as the caller's
// (gateway.HealthReport.Caller), which only makes the key suspect, and
// asks a Prober to check the key itself. Only the upstream's answer to the
// gateway's own request disables the key at once; and a disabled key is
// re-checked periodically, so it comes back by itself once accepted again.
package keyprobe

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"switchboard/internal/gateway"
	"switchboard/internal/upstream"
)

// Options tune a Prober; zero values mean the defaults.
type Options struct {
	// MinInterval spaces two checks of one key (default 30s): a tenant
	// provoking 401s cannot turn the gateway into an amplifier.
	MinInterval time.Duration
	// Timeout bounds one check (default 10s).
	Timeout time.Duration
	// Every is the period of the re-check of disabled keys (default 5m).
	Every time.Duration
	Log   *slog.Logger
	// Context is the lifetime of the Prober's goroutines (default: until
	// Close); ending it stops them as Close does.
	Context context.Context
}

// Prober checks keys and reports what it learns to a gateway.Health. Its
// goroutines are its own: Close stops them.
type Prober struct {
	health  gateway.Health
	client  *http.Client
	channel func(id int64) (*gateway.Channel, bool)
	opts    Options

	mu   sync.Mutex
	last map[keyRef]time.Time // when a key was last checked (or is being)

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type keyRef struct {
	channel int64
	index   int
}

// New starts a Prober that reports to health, calls upstreams with client
// and finds channels with channel (route.Router.Channel). It re-checks
// disabled keys every opts.Every until Close.
func New(health gateway.Health, client *http.Client, channel func(id int64) (*gateway.Channel, bool), opts Options) *Prober {
	if opts.MinInterval <= 0 {
		opts.MinInterval = 30 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.Every <= 0 {
		opts.Every = 5 * time.Minute
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	p := &Prober{health: health, client: client, channel: channel, opts: opts, last: map[keyRef]time.Time{}}
	if opts.Context == nil {
		opts.Context = context.Background()
	}
	p.ctx, p.cancel = context.WithCancel(opts.Context)
	p.wg.Add(1)
	go p.loop()
	return p
}

// Close stops the re-checks and waits for checks in flight.
func (p *Prober) Close() {
	p.cancel()
	p.wg.Wait()
}

// Suspect asks for a check of key keyIndex of ch, whose upstream answered
// a client's request with 401/403. It returns at once; the check runs in
// the background, at most once per MinInterval per key.
func (p *Prober) Suspect(ch *gateway.Channel, keyIndex int) {
	if keyIndex < 0 || keyIndex >= len(ch.APIKeys) || !p.claim(keyRef{ch.ID, keyIndex}) {
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.check(ch, keyIndex)
	}()
}

// claim reports whether ref may be checked now, and marks it.
func (p *Prober) claim(ref keyRef) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctx.Err() != nil {
		return false
	}
	now := time.Now()
	if t, ok := p.last[ref]; ok && now.Sub(t) < p.opts.MinInterval {
		return false
	}
	if len(p.last) > 4096 {
		for r, t := range p.last {
			if now.Sub(t) >= p.opts.MinInterval {
				delete(p.last, r)
			}
		}
	}
	p.last[ref] = now
	return true
}

// check asks the upstream and reports the verdict: rejected disables the
// key on every node, accepted puts it back (and clears the suspicion).
func (p *Prober) check(ch *gateway.Channel, keyIndex int) {
	ctx, cancel := context.WithTimeout(p.ctx, p.opts.Timeout)
	defer cancel()
	verdict, status := upstream.ProbeKey(ctx, p.client, ch, ch.APIKeys[keyIndex])
	switch verdict {
	case upstream.VerdictRejected:
		p.opts.Log.Warn("upstream key rejected on the gateway's own check: taken out of rotation", "channel", ch.Name, "key_index", keyIndex, "status", status)
		p.health.Report(gateway.HealthReport{ChannelID: ch.ID, KeyIndex: keyIndex, Outcome: gateway.OutcomeAuthFailure,
			Reason: fmt.Sprintf("the upstream answered %d to the gateway's own check with this key", status)})
	case upstream.VerdictAccepted:
		p.health.Report(gateway.HealthReport{ChannelID: ch.ID, KeyIndex: keyIndex, Outcome: gateway.OutcomeKeyVerified})
	}
}

func (p *Prober) loop() {
	defer p.wg.Done()
	t := time.NewTicker(p.opts.Every)
	defer t.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-t.C:
			p.recheck()
		}
	}
}

// recheck checks every disabled key once; loop's ticker calls it.
func (p *Prober) recheck() {
	for _, chh := range p.health.Snapshot() {
		for _, k := range chh.Keys {
			if k.State != gateway.KeyStateDisabled {
				continue
			}
			ch, ok := p.channel(chh.ChannelID)
			if !ok || k.Index >= len(ch.APIKeys) || !p.claim(keyRef{ch.ID, k.Index}) {
				continue
			}
			p.check(ch, k.Index)
			if p.ctx.Err() != nil {
				return
			}
		}
	}
}
