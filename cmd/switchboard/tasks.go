package main

import (
	"context"
	"errors"
	"net/http"
	"time"

	"switchboard/internal/gateway"
	"switchboard/internal/rules"
	"switchboard/internal/safefetch"
	"switchboard/internal/task"
)

// hookSecretSetting keeps the generated notification-signing secret, so
// every node signs alike.
const hookSecretSetting = "task_hook_secret"

// startTasks builds the task subsystem (Midjourney and video), starts its
// poller and returns the routes to mount.
func (a *app) startTasks(ctx context.Context, client *http.Client, limiter gateway.Limiter, nodeID string, fetchAllowPrivate bool) (*task.API, error) {
	tc := a.cfg.Tasks
	secret := tc.HookSecret
	if secret == "" {
		s, err := a.store.GetSetting(ctx, hookSecretSetting)
		if err != nil && !errors.Is(err, gateway.ErrNotFound) {
			return nil, err
		}
		if s == "" {
			s = rules.Mint("whsec_")
			if err := a.store.SetSetting(ctx, hookSecretSetting, s); err != nil {
				return nil, err
			}
		}
		secret = s
	}
	a.hooks = task.NewHooks(safefetch.New(safefetch.Options{AllowPrivate: tc.HookAllowPrivate, MaxRedirects: -1, Timeout: 10 * time.Second}),
		a.store, a.log, task.HookOptions{Secret: []byte(secret), Queue: tc.HookQueue, Attempts: tc.HookAttempts})
	opts := task.Options{PollInterval: tc.PollInterval, MaxPollInterval: tc.MaxPollInterval, FetchInterval: tc.FetchInterval,
		Timeout: tc.Timeout, LeaseTTL: tc.LeaseTTL}
	if tc.PollInterval > 0 && tc.PollInterval < task.DefaultTick {
		opts.Tick = tc.PollInterval
	}
	var media *task.Media
	if tc.ProxyMedia {
		media = &task.Media{Secret: []byte("media:" + secret), Base: tc.PublicURL, TTL: tc.MediaTTL,
			Fetcher: safefetch.New(safefetch.Options{AllowPrivate: fetchAllowPrivate})}
	}
	a.tasks = &task.Service{
		Store: a.store, Holder: a.store, Ledger: a.ledger, Prices: a.prices, Unpriced: a.cfg.Pricing.Unpriced,
		Channel: a.router.Channel, Hooks: a.hooks, Log: a.log, Options: opts,
		Adapters: map[gateway.TaskKind]task.Adapter{
			gateway.TaskMidjourney: task.MJAdapter{Client: client, Media: media},
			gateway.TaskVideo:      task.VideoAdapter{Client: client},
		},
	}
	a.tasks.Subscribe(&a.taskCounts)
	a.tasks.Subscribe(task.ObserverFunc(func(e task.Event) {
		a.log.Debug("task", "id", e.Task.ID, "kind", e.Task.Kind, "from", e.From, "to", e.Task.Status, "progress", e.Task.Progress)
	}))
	pctx, cancel := context.WithCancel(context.Background())
	a.stopTasks = cancel
	a.wg.Add(1)
	// One node polls at a time: the lease lives in Redis when the nodes
	// share one (its clock judges expiry), else in the database.
	var lease gateway.Leaser = a.store
	if a.redis != nil {
		lease = a.redis
	}
	go func() {
		defer a.wg.Done()
		a.tasks.Run(pctx, lease, nodeID)
	}()
	return &task.API{
		Service: a.tasks, Router: a.router, Client: client, Keys: a.keys.Lookup, Health: a.health, Limiter: limiter, Log: a.log,
		MaxBodyBytes: a.cfg.Server.MaxBodyBytes(), Media: media,
	}, nil
}
