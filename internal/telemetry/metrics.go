package telemetry

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"switchboard/internal/gateway"
	"switchboard/internal/relay"
)

// MetricsOptions configure Metrics; zero values pick defaults.
type MetricsOptions struct {
	// KeyLabels adds a key label (the client key's name) to the cost,
	// price and token counters and exports each budgeted key's remaining
	// budget. Off by default: keys can be many.
	KeyLabels bool
	// MaxModels and MaxChannels cap the distinct values of the model and
	// channel labels (default 500 and 200); MaxKeys caps key names
	// (default 1000). Values past a cap read "_other".
	MaxModels, MaxChannels, MaxKeys int
	// ChannelType finds a channel's type by id, for gen_ai_provider_name.
	ChannelType func(id int64) (gateway.ChannelType, bool)
	// Channels, Health and Keys are read at scrape time for the state
	// gauges; any may be nil.
	Channels func(ctx context.Context) ([]gateway.Channel, error)
	Health   func() []gateway.ChannelHealth
	Keys     func(ctx context.Context) ([]gateway.Key, error)
	// LedgerQueue reports the records waiting for the ledger's flusher.
	LedgerQueue func() int
}

// Metrics is a relay.Observer that keeps Prometheus metrics of every call,
// and the /metrics handler that exposes them. Safe for concurrent use.
type Metrics struct {
	opts      MetricsOptions
	reg       *prometheus.Registry
	models    *boundedLabel
	channels  *boundedLabel
	keys      *boundedLabel
	endpoints *boundedLabel

	tokenUsage   *prometheus.HistogramVec
	duration     *prometheus.HistogramVec
	ttft         *prometheus.HistogramVec
	perToken     *prometheus.HistogramVec
	requests     *prometheus.CounterVec
	cost         *prometheus.CounterVec
	price        *prometheus.CounterVec
	tokens       *prometheus.CounterVec
	attempts     *prometheus.CounterVec
	failovers    *prometheus.CounterVec
	overhead     *prometheus.HistogramVec
	inflight     prometheus.Gauge
	streams      prometheus.Gauge
	ledgerFlush  prometheus.Histogram
	ledgerStored prometheus.Counter

	series sync.Map // seriesKey → *callSeries
}

// GenAI label names: the semantic conventions' attribute names the
// Prometheus way (dots become underscores).
const (
	lOperation     = "gen_ai_operation_name"
	lProvider      = "gen_ai_provider_name"
	lRequestModel  = "gen_ai_request_model"
	lResponseModel = "gen_ai_response_model"
	lTokenType     = "gen_ai_token_type"
	lErrorType     = "error_type"
)

// Bucket boundaries advised by the GenAI semantic conventions.
var (
	tokenBuckets    = prometheus.ExponentialBuckets(1, 4, 14) // 1, 4, 16, …, 67108864
	durationBuckets = []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}
	ttftBuckets     = []float64{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0}
	perTokenBuckets = []float64{0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5}
	overheadBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1}
	flushBuckets    = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10}
)

// NewMetrics builds the metrics and their registry (with the Go runtime
// and process collectors).
func NewMetrics(o MetricsOptions) *Metrics {
	if o.MaxModels <= 0 {
		o.MaxModels = 500
	}
	if o.MaxChannels <= 0 {
		o.MaxChannels = 200
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = 1000
	}
	m := &Metrics{
		opts: o, reg: prometheus.NewRegistry(),
		models: newBoundedLabel(o.MaxModels), channels: newBoundedLabel(o.MaxChannels), keys: newBoundedLabel(o.MaxKeys),
		endpoints: newBoundedLabel(100),
	}
	genai := []string{lOperation, lProvider, lRequestModel, lResponseModel}
	m.tokenUsage = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "gen_ai_client_token_usage", Help: "Tokens used per call (gen_ai.client.token.usage), by gen_ai_token_type input or output.",
		Buckets: tokenBuckets,
	}, append(genai[:4:4], lTokenType))
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "gen_ai_server_request_duration_seconds", Help: "Time to the last byte of each call (gen_ai.server.request.duration); error_type is set on failures.",
		Buckets: durationBuckets,
	}, append(genai[:4:4], lErrorType))
	m.ttft = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "gen_ai_server_time_to_first_token_seconds", Help: "Time to the first generated token of successful calls (gen_ai.server.time_to_first_token).",
		Buckets: ttftBuckets,
	}, genai)
	m.perToken = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "gen_ai_server_time_per_output_token_seconds", Help: "Time per output token after the first, of successful streamed calls (gen_ai.server.time_per_output_token).",
		Buckets: perTokenBuckets,
	}, genai)

	billing := []string{"model", "channel"}
	if o.KeyLabels {
		billing = append(billing, "key")
	}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_requests_total", Help: "Model calls by endpoint and the HTTP status the client got.",
	}, []string{"endpoint", "status"})
	m.cost = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_cost_usd_total", Help: "What upstreams charge for the calls, in USD.",
	}, billing)
	m.price = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_price_usd_total", Help: "What client keys were charged for the calls, in USD.",
	}, billing)
	m.tokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_tokens_total", Help: "Tokens by type: input, output, cached_input (part of input), reasoning (part of output).",
	}, append(billing[:len(billing):len(billing)], "type"))
	m.attempts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_upstream_attempts_total", Help: "Upstream attempts by channel and the upstream's HTTP status (0: no answer).",
	}, []string{"channel", "status"})
	m.failovers = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "switchboard_failovers_total", Help: "Attempts that moved a call to another channel, by endpoint.",
	}, []string{"endpoint"})
	m.overhead = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "switchboard_overhead_seconds", Help: "Time the gateway added to a call before its answer's headers, excluding upstream waits (X-Switchboard-Overhead-Ms).",
		Buckets: overheadBuckets,
	}, []string{"endpoint"})
	m.inflight = prometheus.NewGauge(prometheus.GaugeOpts{Name: "switchboard_requests_in_flight", Help: "Model calls being served."})
	m.streams = prometheus.NewGauge(prometheus.GaugeOpts{Name: "switchboard_streams_in_flight", Help: "Streaming model calls being served."})
	m.ledgerFlush = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "switchboard_ledger_flush_duration_seconds", Help: "Time to store one batch of usage records.", Buckets: flushBuckets,
	})
	m.ledgerStored = prometheus.NewCounter(prometheus.CounterOpts{Name: "switchboard_ledger_records_stored_total", Help: "Usage records stored in the database."})

	m.reg.MustRegister(
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.tokenUsage, m.duration, m.ttft, m.perToken,
		m.requests, m.cost, m.price, m.tokens, m.attempts, m.failovers, m.overhead,
		m.inflight, m.streams, m.ledgerFlush, m.ledgerStored,
		stateCollector{m},
	)
	return m
}

// Registry is where the metrics live (for tests and extra collectors).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the Prometheus text exposition.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{MaxRequestsInFlight: 4})
}

// LedgerFlushed is the ledger's flush hook: a batch of n records took d.
func (m *Metrics) LedgerFlushed(n int, d time.Duration) {
	m.ledgerFlush.Observe(d.Seconds())
	m.ledgerStored.Add(float64(n))
}

// seriesKey is the label values of one finished call.
type seriesKey struct {
	endpoint, model, upstreamModel, channel, key string
	channelID                                    int64
	status                                       int
}

// callSeries holds the metric children of one seriesKey, resolved once,
// so a finished call costs a map lookup instead of a dozen label hashes.
type callSeries struct {
	requests                    prometheus.Counter
	duration                    prometheus.Observer
	ttft, perToken              prometheus.Observer
	tokensIn, tokensOut         prometheus.Observer
	cost, price                 prometheus.Counter
	countIn, countOut           prometheus.Counter
	countCached, countReasoning prometheus.Counter
	failovers                   prometheus.Counter
	overhead                    prometheus.Observer
}

func (m *Metrics) seriesFor(k seriesKey) *callSeries {
	if s, ok := m.series.Load(k); ok {
		return s.(*callSeries)
	}
	provider := "none"
	if k.channelID != 0 && m.opts.ChannelType != nil {
		if t, ok := m.opts.ChannelType(k.channelID); ok {
			provider = ProviderName(t)
		}
	} else if k.channel == "gateway" {
		provider = "switchboard"
	}
	op := OperationName(k.endpoint)
	g := []string{op, provider, k.model, k.upstreamModel}
	billing := []string{k.model, k.channel}
	if m.opts.KeyLabels {
		billing = append(billing, k.key)
	}
	tok := func(typ string) prometheus.Counter {
		return m.tokens.WithLabelValues(append(billing[:len(billing):len(billing)], typ)...)
	}
	s := &callSeries{
		requests:       m.requests.WithLabelValues(k.endpoint, strconv.Itoa(k.status)),
		duration:       m.duration.WithLabelValues(append(g[:4:4], errorType(k.status))...),
		ttft:           m.ttft.WithLabelValues(g...),
		perToken:       m.perToken.WithLabelValues(g...),
		tokensIn:       m.tokenUsage.WithLabelValues(append(g[:4:4], "input")...),
		tokensOut:      m.tokenUsage.WithLabelValues(append(g[:4:4], "output")...),
		cost:           m.cost.WithLabelValues(billing...),
		price:          m.price.WithLabelValues(billing...),
		countIn:        tok("input"),
		countOut:       tok("output"),
		countCached:    tok("cached_input"),
		countReasoning: tok("reasoning"),
		failovers:      m.failovers.WithLabelValues(k.endpoint),
		overhead:       m.overhead.WithLabelValues(k.endpoint),
	}
	actual, _ := m.series.LoadOrStore(k, s)
	return actual.(*callSeries)
}

// Started implements relay.Observer.
func (m *Metrics) Started(c *relay.Call) {
	m.inflight.Inc()
	if c.Peek.Stream {
		m.streams.Inc()
	}
}

// Attempted implements relay.Observer.
func (m *Metrics) Attempted(_ *relay.Call, a relay.Attempt) {
	m.attempts.WithLabelValues(m.channels.value(a.Channel.Name), strconv.Itoa(a.Status)).Inc()
}

// FirstToken implements relay.Observer.
func (m *Metrics) FirstToken(*relay.Call, time.Duration) {}

// Finished implements relay.Observer.
func (m *Metrics) Finished(c *relay.Call, rec *gateway.UsageRecord) {
	m.inflight.Dec()
	if c.Peek.Stream {
		m.streams.Dec()
	}
	// Every string of the key comes from a bounded label (a copy) or from
	// the configuration, never straight from a request body.
	k := seriesKey{
		endpoint: m.endpoints.value(rec.Endpoint), model: m.models.value(rec.Model), upstreamModel: m.models.value(rec.UpstreamModel),
		channel: m.channels.value(rec.ChannelName), channelID: rec.ChannelID, status: rec.Status,
	}
	if m.opts.KeyLabels {
		k.key = m.keys.value(rec.KeyName)
	}
	s := m.seriesFor(k)
	s.requests.Inc()
	s.duration.Observe(rec.Latency.Seconds())
	if rec.Attempts > 1 {
		s.failovers.Add(float64(rec.Attempts - 1))
	}
	if d, ok := c.Overhead(); ok {
		s.overhead.Observe(d.Seconds())
	}
	u := rec.Usage
	if rec.UsageSource != gateway.UsageMissing && !u.IsZero() {
		s.tokensIn.Observe(float64(u.InputTokens))
		s.tokensOut.Observe(float64(u.OutputTokens))
		s.countIn.Add(float64(u.InputTokens))
		s.countOut.Add(float64(u.OutputTokens))
		s.countCached.Add(float64(u.CachedInputTokens))
		s.countReasoning.Add(float64(u.ReasoningTokens))
	}
	if rec.CostNanoUSD > 0 {
		s.cost.Add(float64(rec.CostNanoUSD) / 1e9)
	}
	if rec.PriceNanoUSD > 0 {
		s.price.Add(float64(rec.PriceNanoUSD) / 1e9)
	}
	if rec.Status < 400 && rec.TTFT > 0 {
		s.ttft.Observe(rec.TTFT.Seconds())
		if rec.Stream && u.OutputTokens > 1 && rec.Latency > rec.TTFT {
			s.perToken.Observe((rec.Latency - rec.TTFT).Seconds() / float64(u.OutputTokens-1))
		}
	}
}

var _ relay.Observer = (*Metrics)(nil)

// Channel and key health as gauges: 0 closed (healthy), 1 half-open, 2 open.
var channelStates = map[string]float64{gateway.StateClosed: 0, gateway.StateHalfOpen: 1, gateway.StateOpen: 2}
var keyStates = map[string]float64{gateway.KeyStateOK: 0, gateway.KeyStateCooling: 1, gateway.KeyStateDisabled: 2}

var (
	descChannelState = prometheus.NewDesc("switchboard_channel_health_state", "Circuit state of each channel: 0 closed (healthy), 1 half-open, 2 open.", []string{"channel"}, nil)
	descChannelOn    = prometheus.NewDesc("switchboard_channel_enabled", "1 when the channel is enabled for routing.", []string{"channel", "type"}, nil)
	descKeyState     = prometheus.NewDesc("switchboard_upstream_key_state", "State of each upstream key of a channel: 0 ok, 1 cooling down, 2 disabled.", []string{"channel", "key_index"}, nil)
	descLedgerQueue  = prometheus.NewDesc("switchboard_ledger_queue_depth", "Usage records waiting to be stored.", nil, nil)
	descBudget       = prometheus.NewDesc("switchboard_key_budget_remaining_usd", "Budget left to each client key with a budget (budget − spent − held), in USD.", []string{"key"}, nil)
	descBudgetLimit  = prometheus.NewDesc("switchboard_key_budget_usd", "Budget of each client key with a budget, in USD.", []string{"key"}, nil)
)

// stateCollector reads health, channels, keys and the ledger queue when
// Prometheus scrapes.
type stateCollector struct{ m *Metrics }

func (s stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descChannelState
	ch <- descChannelOn
	ch <- descKeyState
	ch <- descLedgerQueue
	if s.m.opts.KeyLabels {
		ch <- descBudget
		ch <- descBudgetLimit
	}
}

func (s stateCollector) Collect(ch chan<- prometheus.Metric) {
	o := s.m.opts
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if o.LedgerQueue != nil {
		ch <- prometheus.MustNewConstMetric(descLedgerQueue, prometheus.GaugeValue, float64(o.LedgerQueue()))
	}
	names := map[int64]string{}
	keyCount := map[int64]int{}
	if o.Channels != nil {
		if chs, err := o.Channels(ctx); err == nil {
			for _, c := range chs {
				names[c.ID] = c.Name
				keyCount[c.ID] = len(c.APIKeys)
				on := 0.0
				if c.Enabled {
					on = 1
				}
				ch <- prometheus.MustNewConstMetric(descChannelOn, prometheus.GaugeValue, on, c.Name, string(c.Type))
			}
		}
	}
	if o.Health != nil {
		seen := map[int64]bool{}
		for _, h := range o.Health() {
			name, ok := names[h.ChannelID]
			if !ok {
				name = "id-" + strconv.FormatInt(h.ChannelID, 10)
			}
			seen[h.ChannelID] = true
			ch <- prometheus.MustNewConstMetric(descChannelState, prometheus.GaugeValue, channelStates[h.State], name)
			keys := map[int]float64{}
			for _, k := range h.Keys {
				keys[k.Index] = keyStates[k.State]
			}
			for i := range max(keyCount[h.ChannelID], len(h.Keys)) {
				ch <- prometheus.MustNewConstMetric(descKeyState, prometheus.GaugeValue, keys[i], name, strconv.Itoa(i))
			}
		}
		// Channels the breaker has not heard of yet are healthy, and so
		// are their keys.
		for id, name := range names {
			if seen[id] {
				continue
			}
			ch <- prometheus.MustNewConstMetric(descChannelState, prometheus.GaugeValue, 0, name)
			for i := range keyCount[id] {
				ch <- prometheus.MustNewConstMetric(descKeyState, prometheus.GaugeValue, 0, name, strconv.Itoa(i))
			}
		}
	}
	if o.KeyLabels && o.Keys != nil {
		if keys, err := o.Keys(ctx); err == nil {
			for _, k := range keys {
				if k.BudgetNanoUSD <= 0 {
					continue
				}
				left := k.BudgetNanoUSD - k.SpentNanoUSD - k.ReservedNanoUSD
				ch <- prometheus.MustNewConstMetric(descBudget, prometheus.GaugeValue, float64(left)/1e9, k.Name)
				ch <- prometheus.MustNewConstMetric(descBudgetLimit, prometheus.GaugeValue, float64(k.BudgetNanoUSD)/1e9, k.Name)
			}
		}
	}
}
