package config

import (
	"strings"
	"time"

	"switchboard/internal/rules"
)

// Tasks is the `tasks` section (extension of issue 14): how asynchronous
// tasks (Midjourney, video) are polled and how their notifications go out.
// Zero durations take the task package's defaults.
type Tasks struct {
	// PollInterval is the poller's first delay between refreshes of a
	// task nobody fetches; it doubles per unchanged poll up to
	// MaxPollInterval.
	PollInterval    time.Duration
	MaxPollInterval time.Duration
	// FetchInterval is the least time between two read-through refreshes
	// of one task by client fetches.
	FetchInterval time.Duration
	// Timeout fails a task still unfinished this long after submission.
	Timeout time.Duration
	// LeaseTTL is how long the poller lease lasts without renewal (how
	// soon another node takes over polling from a dead one).
	LeaseTTL time.Duration
	// HookSecret signs notifications (Standard Webhooks); empty: a secret
	// generated once and kept in the database (shown by no API).
	HookSecret string
	// HookAllowPrivate lets notifications reach loopback and private
	// addresses (trusted setups and tests only).
	HookAllowPrivate bool
	// HookQueue bounds the notifications waiting; HookAttempts is how
	// often one is tried.
	HookQueue    int
	HookAttempts int
	// ProxyMedia serves Midjourney images through the gateway at signed
	// URLs that expire after MediaTTL, so clients never see the upstream's
	// image hosts; PublicURL is the gateway's address in those URLs.
	ProxyMedia bool
	PublicURL  string
	MediaTTL   time.Duration
}

type rawTasks struct {
	PollInterval     scalar `yaml:"poll_interval"`
	MaxPollInterval  scalar `yaml:"max_poll_interval"`
	FetchInterval    scalar `yaml:"fetch_interval"`
	Timeout          scalar `yaml:"timeout"`
	LeaseTTL         scalar `yaml:"lease_ttl"`
	HookSecret       scalar `yaml:"hook_secret"`
	HookAllowPrivate scalar `yaml:"hook_allow_private"`
	HookQueue        scalar `yaml:"hook_queue"`
	HookAttempts     scalar `yaml:"hook_attempts"`
	ProxyMedia       scalar `yaml:"proxy_media"`
	PublicURL        scalar `yaml:"public_url"`
	MediaTTL         scalar `yaml:"media_ttl"`
}

func (c *converter) tasks(r *rawTasks, t *Tasks) {
	t.PollInterval = c.duration(r.PollInterval, "tasks.poll_interval", t.PollInterval, false)
	t.MaxPollInterval = c.duration(r.MaxPollInterval, "tasks.max_poll_interval", t.MaxPollInterval, false)
	t.FetchInterval = c.duration(r.FetchInterval, "tasks.fetch_interval", t.FetchInterval, false)
	t.Timeout = c.duration(r.Timeout, "tasks.timeout", t.Timeout, false)
	t.LeaseTTL = c.duration(r.LeaseTTL, "tasks.lease_ttl", t.LeaseTTL, false)
	t.HookSecret = c.str(r.HookSecret, t.HookSecret)
	t.HookAllowPrivate = c.boolean(r.HookAllowPrivate, "tasks.hook_allow_private", t.HookAllowPrivate)
	t.HookQueue = int(c.integer(r.HookQueue, "tasks.hook_queue", int64(t.HookQueue), 0, 1_000_000))
	t.HookAttempts = int(c.integer(r.HookAttempts, "tasks.hook_attempts", int64(t.HookAttempts), 0, 100))
	t.ProxyMedia = c.boolean(r.ProxyMedia, "tasks.proxy_media", t.ProxyMedia)
	t.PublicURL = strings.TrimRight(c.str(r.PublicURL, t.PublicURL), "/")
	t.MediaTTL = c.duration(r.MediaTTL, "tasks.media_ttl", t.MediaTTL, false)
	if t.PublicURL != "" {
		if err := rules.CheckURL(t.PublicURL); err != nil {
			c.fail("tasks.public_url", r.PublicURL.line(), "%v", err)
		}
	} else if t.ProxyMedia {
		c.fail("tasks.public_url", r.ProxyMedia.line(), "required when tasks.proxy_media is true (the gateway's address in image links)")
	}
	if t.MaxPollInterval > 0 && t.PollInterval > t.MaxPollInterval {
		c.fail("tasks.poll_interval", r.PollInterval.line(), "must not exceed tasks.max_poll_interval")
	}
}
