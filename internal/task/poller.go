package task

import (
	"context"
	"sync"
	"time"

	"switchboard/internal/gateway"
)

// PollerLease is the name of the poller's lease.
const PollerLease = "task-poller"

// Run polls due tasks until ctx ends, on this node only while it holds
// the poller lease (holder names the node), so that one node of many
// polls at a time and another takes over within LeaseTTL when it dies.
// Each round it also finishes what a dead node left: ended tasks not yet
// billed, final notifications not yet delivered, submissions that never
// completed. The state lives in the store, so a restarted node resumes
// where the last one stopped.
func (s *Service) Run(ctx context.Context, lease gateway.Leaser, holder string) {
	s.init()
	tick := time.NewTicker(s.Options.Tick)
	defer tick.Stop()
	held := false
	defer func() {
		if held {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_ = lease.ReleaseLease(rctx, PollerLease, holder)
			cancel()
		}
	}()
	for {
		ok, err := lease.AcquireLease(ctx, PollerLease, holder, s.Options.LeaseTTL)
		if err != nil && ctx.Err() == nil {
			s.Log.Warn("task poller lease", "err", err)
		}
		held = ok
		if ok {
			s.Round(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Round does one round of the poller's work (exported for tests and for
// a node that wants to catch up at once).
func (s *Service) Round(ctx context.Context) {
	s.init()
	// Ended tasks owe their bill or hook only after a grace period: the
	// node that ended them is normally still at it.
	due, err := s.Store.DueTasks(ctx, s.now(), 2*s.Options.LeaseTTL, 100)
	if err != nil {
		if ctx.Err() == nil {
			s.Log.Warn("task poller: list due tasks", "err", err)
		}
		return
	}
	sem := make(chan struct{}, s.Options.Workers)
	var wg sync.WaitGroup
	for _, t := range due {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(t gateway.Task) {
			defer func() { <-sem; wg.Done() }()
			if err := s.work(ctx, t); err != nil && ctx.Err() == nil {
				s.Log.Info("task poller", "task", t.ID, "err", err)
			}
		}(t)
	}
	wg.Wait()
}

func (s *Service) work(ctx context.Context, t gateway.Task) error {
	switch {
	case t.Status.Terminal():
		return s.finish(ctx, &t)
	case t.Status == gateway.TaskSubmitting:
		// Its node died between storing it and the upstream's answer (or
		// the answer never came): nothing can be fetched, so it fails and
		// its hold goes back.
		return s.Failed(ctx, &t, "the submission did not complete")
	}
	pctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	_, err := s.Refresh(pctx, t, true)
	return err
}
