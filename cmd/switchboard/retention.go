package main

import (
	"switchboard/internal/ledger"
)

// startPruner runs the ledger's retention in the background until the app
// stops. It deletes in small batches with pauses, off the request path.
func (a *app) startPruner() {
	l := a.cfg.Ledger
	p := &ledger.Pruner{
		Store:     a.store,
		Retention: ledger.Retention{Raw: l.Retention, Hourly: l.HourlyRetention, Daily: l.DailyRetention},
		Log:       a.log,
	}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		p.Run(a.ctx, l.PruneInterval)
	}()
}
