package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"switchboard/internal/admin"
	"switchboard/internal/config"
	"switchboard/internal/endpoint"
	"switchboard/internal/format/anthropic"
	"switchboard/internal/format/gemini"
	"switchboard/internal/format/openai"
	"switchboard/internal/gateway"
	"switchboard/internal/httpapi"
	"switchboard/internal/inmem"
	"switchboard/internal/keyprobe"
	"switchboard/internal/ledger"
	"switchboard/internal/mediastore"
	"switchboard/internal/pricing"
	"switchboard/internal/redisstore"
	"switchboard/internal/relay"
	"switchboard/internal/respstate"
	"switchboard/internal/route"
	"switchboard/internal/rules"
	"switchboard/internal/safefetch"
	"switchboard/internal/secret"
	"switchboard/internal/shed"
	"switchboard/internal/simulator"
	"switchboard/internal/sqlstore"
	"switchboard/internal/task"
	"switchboard/internal/upstream"
)

// appOptions are the command-line choices that are not config.
type appOptions struct {
	Demo    bool      // add a simulator channel
	DataDir string    // spool, secret key file; default: beside the SQLite file or ./data
	Out     io.Writer // where first-run secrets are printed
	Getenv  config.Getenv
	// Transport overrides the upstream HTTP transport (tests).
	Transport http.RoundTripper
	// FetchAllowPrivate lets media URL fetching reach private and loopback
	// addresses (tests; SWITCHBOARD_FETCH_ALLOW_PRIVATE=1 for trusted setups).
	FetchAllowPrivate bool
}

// app is one running gateway node.
type app struct {
	cfg     *config.Config
	log     *slog.Logger
	logs    *logBuffer // the log's output, flushed by a loop and on Close
	store   *sqlstore.Store
	ledger  *ledger.Writer
	router  *route.Router
	health  gateway.Health
	keys    *httpapi.KeyCache
	handler http.Handler
	prices  *pricing.Table

	adminTokenHash string
	adminAddr      string // the admin listener's address, once started

	keyProbe     *keyprobe.Prober
	redis        *redisstore.Client
	notifier     *redisstore.Notifier
	unsubscribe  []func()
	resetChannel func(ctx context.Context, channelID int64) error
	enableKey    func(ctx context.Context, channelID int64, keyIndex int) error

	tasks      *task.Service
	taskCounts task.Counts // state changes by kind and status, for metrics
	hooks      *task.Hooks
	stopTasks  context.CancelFunc
	telemetry  telemetryState

	// ctx is the app's lifetime: every background loop and reload runs
	// under it, and Close cancels it first.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// demoModels are served by the --demo simulator channel.
var demoModels = []string{"sim-1", "sim-1-mini"}

func dataDirFor(cfg *config.Config, explicit string) string {
	if explicit != "" {
		return explicit
	}
	if rest, ok := strings.CutPrefix(cfg.Storage.Database, "sqlite://"); ok {
		path := rest
		if i := strings.IndexByte(path, '?'); i >= 0 {
			path = path[:i]
		}
		if path != "" && !strings.Contains(path, ":memory:") {
			return filepath.Dir(path)
		}
	}
	return "data"
}

func newApp(ctx context.Context, cfg *config.Config, opts appOptions) (*app, error) {
	if opts.Out == nil {
		opts.Out = os.Stdout
	}
	logs := newLogBuffer(os.Stderr)
	log := newLogger(cfg, logs)
	ok := false
	defer func() {
		if !ok {
			logs.Flush()
		}
	}()
	dataDir := dataDirFor(cfg, opts.DataDir)
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir %q: %w", dataDir, err)
	}
	env := ""
	if opts.Getenv != nil {
		env, _ = opts.Getenv("SWITCHBOARD_SECRET")
	}
	box, err := secret.LoadOrCreate(filepath.Join(dataDir, "secret.key"), env)
	if err != nil {
		return nil, fmt.Errorf("load secret key: %w", err)
	}
	// The node id lets this node release its own budget holds when it
	// starts again, instead of waiting for the stale sweep.
	nodeID, err := ledger.NodeID(filepath.Join(dataDir, "node-id"))
	if err != nil {
		return nil, err
	}
	store, err := sqlstore.Open(ctx, cfg.Storage.Database, sqlstore.Options{Secret: box, NodeID: nodeID})
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	a := &app{cfg: cfg, log: log, logs: logs, store: store}
	// The app outlives the start's context (a signal ends that one; the
	// app then stops in order in Close) but keeps its values.
	a.ctx, a.cancel = context.WithCancel(context.WithoutCancel(ctx))
	defer func() {
		if ok {
			return
		}
		a.cancel()
		// A start that fails half way stops what it had started.
		if a.stopTasks != nil {
			a.stopTasks()
		}
		if a.ledger != nil {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			_ = a.ledger.Close(cctx)
			cancel()
		}
		_ = store.Close()
	}()

	channels := cfg.Channels()
	if opts.Demo {
		channels = append(channels, gateway.Channel{
			Name: "simulator", Type: gateway.ChannelSimulator, Models: demoModels,
			Priority: 0, Weight: 1, Enabled: true, Source: "demo",
			Settings: map[string]string{"latency": "20ms", "tokens_per_second": "200"},
		})
	}
	for _, ch := range channels {
		if _, err := store.UpsertChannel(ctx, ch); err != nil {
			return nil, fmt.Errorf("seed channel %q: %w", ch.Name, err)
		}
	}
	if err := a.seedKeys(ctx, opts.Out); err != nil {
		return nil, err
	}
	if err := a.seedAdminToken(ctx, opts.Out); err != nil {
		return nil, err
	}

	a.prices = cfg.PriceTable()
	var limiter gateway.Limiter
	if cfg.Storage.Redis != "" {
		// Many nodes: limits, health and change notifications are shared.
		rc, err := redisstore.Open(ctx, cfg.Storage.Redis, cfg.Storage.RedisPrefix)
		if err != nil {
			return nil, fmt.Errorf("open redis: %w", err)
		}
		a.redis = rc
		h, err := rc.NewHealth(ctx, redisstore.HealthOptions{Logger: log})
		if err != nil {
			_ = rc.Close()
			return nil, fmt.Errorf("shared health: %w", err)
		}
		a.health = h
		a.resetChannel = h.Reset
		a.enableKey = h.EnableKey
		limiter = rc.NewLimiter(redisstore.LimiterOptions{Logger: log})
		a.notifier = rc.Notifier()
	} else {
		h := inmem.NewHealth(inmem.HealthConfig{})
		a.health = h
		a.resetChannel = func(_ context.Context, id int64) error { h.Reset(id); return nil }
		a.enableKey = func(_ context.Context, id int64, idx int) error { h.EnableKey(id, idx); return nil }
		limiter = inmem.NewLimiter(inmem.LimiterConfig{})
	}
	health := a.health
	a.router = route.New(health)
	if err := a.reloadChannels(ctx); err != nil {
		return nil, err
	}
	a.warnUnpriced(ctx)
	a.keys = httpapi.NewKeyCache(store)
	if err := a.keys.Reload(ctx); err != nil {
		return nil, err
	}
	if a.notifier != nil {
		for _, topic := range []string{topicKeys, topicChannels} {
			stop, err := a.notifier.Subscribe(a.ctx, topic, func(string) { a.reload(topic) })
			if err != nil {
				return nil, fmt.Errorf("subscribe to %s changes: %w", topic, err)
			}
			a.unsubscribe = append(a.unsubscribe, stop)
		}
	}

	a.newMetrics()
	lw, err := ledger.Open(ctx, filepath.Join(dataDir, "spool"), store, ledger.Options{Logger: log, OnFlush: a.telemetry.metrics.LedgerFlushed})
	if err != nil {
		return nil, fmt.Errorf("open usage ledger: %w", err)
	}
	a.ledger = lw
	// The spool replay above billed what this node's calls had delivered
	// when it last stopped; the rest of its holds are free now. Holds of
	// nodes that never come back go with the stale sweep.
	if n, err := store.ReleaseNode(ctx); err != nil {
		log.Warn("release this node's budget holds", "err", err)
	} else if n > 0 {
		log.Info("released budget holds of calls in flight at the last stop", "count", n, "node", nodeID)
	}
	if n, err := store.ReleaseStale(ctx, 10*time.Minute); err != nil {
		log.Warn("release stale reservations", "err", err)
	} else if n > 0 {
		log.Info("released stale budget reservations", "count", n)
	}

	transport := opts.Transport
	if transport == nil {
		transport = newTransport()
	}
	client := upstream.NewClient(transport)
	a.keyProbe = keyprobe.New(health, client, a.router.Channel, keyprobe.Options{Log: log, Context: a.ctx})
	mediaDir := cfg.Media.Dir
	if mediaDir == "" {
		mediaDir = filepath.Join(dataDir, "media")
	}
	media, err := openMedia(ctx, mediaDir, cfg.Media)
	if err != nil {
		return nil, err
	}
	media.Sweep()
	rl := &relay.Engine{
		Media: mediaPaths{media}, ProxyMedia: cfg.Media.Proxy,
		Router: a.router, Health: health, Limiter: limiter, Budget: store, Prices: a.prices,
		Ledger: lw, Client: client, Log: log, Keys: a.keyProbe,
		Specs: upstreamSpecs, Observer: relay.Observers{relay.AccessLog{Log: log}, a.telemetry.metrics},
		Fetcher:        safefetch.New(safefetch.Options{AllowPrivate: opts.FetchAllowPrivate}),
		DefaultTimeout: config.DefaultChannelTimeout,
	}
	rl.Unpriced, rl.MinOutputTokens = cfg.Pricing.Unpriced, cfg.Pricing.MinOutputTokens
	if err := a.newTracer(ctx, rl, opts.Getenv); err != nil {
		return nil, err
	}
	adminAPI := admin.New(admin.Deps{
		Store: store, Health: a.health, ResetChannel: a.resetChannel, EnableKey: a.enableKey,
		AdminTokenHash: a.adminTokenHash, HashKey: httpapi.HashKey, OnChange: a.changed, Log: log,
		Prices: a.prices, TestChannel: a.testChannel, Tasks: store,
	})
	taskAPI, err := a.startTasks(ctx, client, limiter, nodeID, opts.FetchAllowPrivate)
	if err != nil {
		return nil, fmt.Errorf("start tasks: %w", err)
	}
	extra, err := a.withConsole(adminAPI, rl, box, func(mux *http.ServeMux) {
		adminAPI.Register(mux)
		taskAPI.Register(mux)
		a.mountTelemetry(mux, adminAPI)
	})
	if err != nil {
		return nil, err
	}
	srv := &httpapi.Server{
		Engine: rl, Router: a.router, Keys: a.keys, Log: log,
		MaxBodyBytes: cfg.Server.MaxBodyBytes(),
		Extra:        extra,
		JSON:         httpapi.RoutingGuard(cfg.Server.MaxJSONDepth),
		Shed:         shed.New(cfg.Server.MaxInflightBodyBytes(), cfg.Server.OverloadWait),
		Responses:    &respstate.Service{Store: store, Log: log},
		RouteMaxBody: cfg.Media.UploadLimitBytes(),
		Media:        media,
		PublicURL:    cfg.Media.PublicURL,
	}
	a.handler = a.withOperatorRoutes(srv.Handler(), adminAPI)
	if err := a.startMetricsListener(); err != nil {
		return nil, err
	}
	a.wg.Add(2)
	go a.refreshLoop(a.ctx)
	go func() {
		defer a.wg.Done()
		logs.run(a.ctx)
	}()
	a.startPruner()
	// Expired media go on a timer too, not only at start and on writes.
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		media.SweepEvery(a.ctx, media.SweepInterval())
	}()
	ok = true
	return a, nil
}

// upstreamSpecs are what the engine may translate a call to, in order of
// preference within a channel's family: chat-like calls go to chat
// completions, Messages or generateContent; embeddings to /embeddings or
// batchEmbedContents.
var upstreamSpecs = []endpoint.Spec{
	openai.Chat, openai.Embeddings,
	anthropic.Messages,
	gemini.Generate, gemini.BatchEmbed,
	openai.Responses, // for channels with settings.responses: only (openai.Chat declines them)
	gemini.GenerateImages, openai.ImageGenerations, openai.ImageEdits,
}

// warnUnpriced logs, once at start, every routable model without a price:
// budget keys are refused on them (pricing.unpriced), others run unbilled.
func (a *app) warnUnpriced(ctx context.Context) {
	chs, err := a.store.ListChannels(ctx)
	if err != nil {
		return
	}
	for _, r := range a.prices.UnpricedRoutes(chs) {
		if r.Glob {
			a.log.Warn("channel serves a model pattern: names matching it are billed only if priced (add prices: or pricing.file entries)",
				"channel", r.Channel, "pattern", r.Model, "unpriced_policy", a.cfg.Pricing.Unpriced)
			continue
		}
		a.log.Warn("routable model has no price (add it under prices: or to pricing.file)",
			"channel", r.Channel, "model", r.Model, "upstream_model", r.UpstreamModel, "unpriced_policy", a.cfg.Pricing.Unpriced)
	}
}

// newTransport is the upstream HTTP client transport: pooled keep-alive
// connections sized for a gateway, HTTP/2 where offered, and the in-process
// simulator behind the "simulator" scheme.
func newTransport() *http.Transport {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		// A channel's connect_timeout rides in the attempt's context.
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if d := relay.ConnectTimeout(ctx); d > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, d)
				defer cancel()
			}
			return dialer.DialContext(ctx, network, addr)
		},
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		// Held per upstream connection for its lifetime, i.e. per open
		// stream; a request's headers fit, and bodies past the first
		// buffer go straight to the socket (bufio.Writer.ReadFrom).
		WriteBufferSize: 2 << 10,
	}
	t.RegisterProtocol("simulator", simulatorRoundTripper{})
	return t
}

// simulatorRoundTripper routes simulator:// requests to a simulator built
// from the channel's settings, which ride in a header set by upstream.
type simulatorRoundTripper struct{}

var simCache sync.Map // settings string → *simulator.Transport

func (simulatorRoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	key := req.Header.Get("X-Simulator-Settings")
	v, ok := simCache.Load(key)
	if !ok {
		settings := map[string]string{}
		for _, kv := range strings.Split(key, ";") {
			if k, val, found := strings.Cut(kv, "="); found {
				settings[k] = val
			}
		}
		s, err := simulator.ParseSettings(settings, nil)
		if err != nil {
			return nil, err
		}
		v, _ = simCache.LoadOrStore(key, &simulator.Transport{Handler: simulator.NewHandler(s)})
	}
	return v.(*simulator.Transport).RoundTrip(req)
}

// newLogger logs into logs (see logBuffer), flushing at once from WARN up.
func newLogger(cfg *config.Config, logs *logBuffer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.Log.Level}
	var h slog.Handler = slog.NewTextHandler(logs, opts)
	if cfg.Log.Format == "json" {
		h = slog.NewJSONHandler(logs, opts)
	}
	return slog.New(urgentHandler{h, logs})
}

// seedKeys upserts the config's keys and, on a fresh database, creates a
// first key so the gateway is usable at once. Generated secrets are
// printed exactly once: only their hashes are stored.
func (a *app) seedKeys(ctx context.Context, out io.Writer) error {
	existing, err := a.store.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("list keys: %w", err)
	}
	byName := map[string]bool{}
	for _, k := range existing {
		byName[k.Name] = true
	}
	for _, sk := range a.cfg.Keys() {
		k := sk.Key
		if sk.Secret != "" {
			k.Hash, k.Prefix = httpapi.HashKey(sk.Secret), rules.DisplayPrefix(sk.Secret)
		} else if !byName[k.Name] {
			s := rules.MintKey()
			k.Hash, k.Prefix = httpapi.HashKey(s), rules.DisplayPrefix(s)
			fmt.Fprintf(out, "Created client key %q: %s\n  (shown once; only its hash is stored)\n", k.Name, s)
		}
		if _, err := a.store.UpsertKey(ctx, k); err != nil {
			return fmt.Errorf("seed key %q: %w", k.Name, err)
		}
		byName[k.Name] = true
	}
	if len(byName) == 0 {
		s := rules.MintKey()
		_, err := a.store.CreateKey(ctx, gateway.Key{Name: "default", Hash: httpapi.HashKey(s), Prefix: rules.DisplayPrefix(s), Models: []string{"*"}, Enabled: true})
		if err != nil {
			return fmt.Errorf("create first key: %w", err)
		}
		fmt.Fprintf(out, "Created client key \"default\": %s\n  (shown once; only its hash is stored)\n", s)
	}
	return nil
}

const adminTokenSetting = "admin_token_sha256"

func (a *app) seedAdminToken(ctx context.Context, out io.Writer) error {
	if a.cfg.Admin.Token != "" {
		a.adminTokenHash = httpapi.HashKey(a.cfg.Admin.Token)
		return nil
	}
	h, err := a.store.GetSetting(ctx, adminTokenSetting)
	if err == nil && h != "" {
		a.adminTokenHash = h
		return nil
	}
	if err != nil && !errors.Is(err, gateway.ErrNotFound) {
		return fmt.Errorf("read admin token: %w", err)
	}
	tok := rules.MintAdminToken()
	a.adminTokenHash = httpapi.HashKey(tok)
	if err := a.store.SetSetting(ctx, adminTokenSetting, a.adminTokenHash); err != nil {
		return fmt.Errorf("store admin token: %w", err)
	}
	fmt.Fprintf(out, "Admin token: %s\n  (shown once; set admin.token or SWITCHBOARD_ADMIN_TOKEN to choose your own)\n", tok)
	return nil
}

func (a *app) reloadChannels(ctx context.Context) error {
	chs, err := a.store.ListChannels(ctx)
	if errors.Is(err, secret.ErrWrongKey) {
		// Fail closed: a channel this node cannot read may have been
		// changed or disabled by a node that can; serving the stale set
		// would route around that decision.
		a.router.SetChannels(nil)
		a.log.Error("stored channels do not open with this node's key: serving none until every node uses the same SWITCHBOARD_SECRET", "err", err)
	}
	if err != nil {
		return fmt.Errorf("load channels: %w", err)
	}
	for i := range chs {
		ch := &chs[i]
		if ch.Type == gateway.ChannelSimulator {
			// The simulator's settings travel with each request so one
			// transport serves every simulator channel.
			if ch.Headers == nil {
				ch.Headers = map[string]string{}
			}
			ch.Headers["X-Simulator-Settings"] = "latency=" + ch.Settings["latency"] + ";tokens_per_second=" + ch.Settings["tokens_per_second"]
			if ch.BaseURL == "" {
				ch.BaseURL = "simulator://local"
			}
		}
	}
	a.router.SetChannels(chs)
	return nil
}

// Change-notification topics.
const (
	topicKeys     = "keys"
	topicChannels = "channels"
)

// reload refreshes one cache from the store.
func (a *app) reload(topic string) {
	ctx, cancel := context.WithTimeout(a.ctx, 5*time.Second)
	defer cancel()
	var err error
	switch topic {
	case topicKeys:
		err = a.keys.Reload(ctx)
	case topicChannels:
		err = a.reloadChannels(ctx)
	}
	if err != nil {
		a.log.Warn("reload after change", "topic", topic, "err", err)
	}
}

// changed is called after this node changed keys or channels: it reloads
// its own cache at once and tells the other nodes, which reload on the
// message (well within a second); the periodic refresh is the safety net.
func (a *app) changed(ctx context.Context, topic string) {
	a.reload(topic)
	if a.notifier != nil {
		if err := a.notifier.Publish(ctx, topic, "changed"); err != nil {
			a.log.Warn("publish change", "topic", topic, "err", err)
		}
	}
}

// refreshLoop picks up changes made by other processes (the CLI, other
// nodes) and runs the maintenance sweep until ctx ends.
func (a *app) refreshLoop(ctx context.Context) {
	defer a.wg.Done()
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	maint := time.NewTicker(10 * time.Minute)
	defer maint.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-maint.C:
			a.maintain(ctx)
		case <-t.C:
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			if err := a.reloadChannels(rctx); err != nil && ctx.Err() == nil {
				a.log.Warn("refresh channels", "err", err)
			}
			if err := a.keys.Reload(rctx); err != nil && ctx.Err() == nil {
				a.log.Warn("refresh keys", "err", err)
			}
			cancel()
		}
	}
}

// maintain releases reservations of calls that died with a crashed node
// and prunes old settle markers (only a spool replay needs them, and
// spools are replayed at start).
func (a *app) maintain(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if n, err := a.store.ReleaseStale(ctx, 30*time.Minute); err != nil {
		a.log.Warn("release stale reservations", "err", err)
	} else if n > 0 {
		a.log.Info("released stale budget reservations", "count", n)
	}
	if _, err := a.store.PruneSettled(ctx, 7*24*time.Hour); err != nil {
		a.log.Warn("prune settle markers", "err", err)
	}
}

// Close stops the app in order: its loops (refresh, maintenance, key
// probes, change subscriptions, the log flusher), then drains the ledger
// within ctx, then closes health, Redis and the store, and flushes the
// log. Calls must have finished first.
func (a *app) Close(ctx context.Context) error {
	a.cancel()
	if a.stopTasks != nil {
		a.stopTasks()
	}
	a.wg.Wait()
	if a.hooks != nil {
		a.hooks.Close()
	}
	if a.keyProbe != nil {
		a.keyProbe.Close()
	}
	for _, stop := range a.unsubscribe {
		stop()
	}
	var errs []error
	if err := a.closeTelemetry(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := a.ledger.Close(ctx); err != nil {
		errs = append(errs, err)
	}
	if c, ok := a.health.(interface{ Close() error }); ok {
		if err := c.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if a.redis != nil {
		if err := a.redis.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := a.store.Close(); err != nil {
		errs = append(errs, err)
	}
	a.logs.Flush()
	return errors.Join(errs...)
}

// openMedia opens the media store: in an S3-compatible bucket when
// media.s3 is set, else in dir.
func openMedia(ctx context.Context, dir string, m config.Media) (*mediastore.Store, error) {
	o := mediastore.Options{TTL: m.URLTTL, QuotaBytes: int64(m.QuotaMB) << 20}
	if m.S3 == nil {
		return mediastore.Open(dir, o)
	}
	b, err := mediastore.NewS3(mediastore.S3Options{Endpoint: m.S3.Endpoint, Bucket: m.S3.Bucket, Region: m.S3.Region,
		AccessKeyID: m.S3.AccessKeyID, SecretAccessKey: m.S3.SecretAccessKey, Prefix: m.S3.Prefix, UseSSL: m.S3.UseSSL})
	if err != nil {
		return nil, err
	}
	return mediastore.New(ctx, b, o)
}

// mediaPaths adapts the media store to the engine: store, then sign.
type mediaPaths struct{ s *mediastore.Store }

func (m mediaPaths) Put(keyID int64, contentType string, data []byte) (string, error) {
	id, exp, err := m.s.Put(keyID, contentType, data)
	if err != nil {
		return "", err
	}
	return m.s.Path(keyID, id, exp), nil
}
