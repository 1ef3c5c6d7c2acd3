package admin

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"switchboard/internal/gateway"
	"switchboard/internal/llm"
)

const (
	defaultUsageLimit = 100
	maxUsageLimit     = 10000
	// summaryLimit caps the records one summary reads. The summary is
	// computed in Go from ListUsage rather than by SQL aggregation, which is
	// fine at this size (a few tens of MB of records at most); when a window
	// holds more, the answer says truncated and covers the newest records.
	// Aggregating in the store is the fix once ledgers grow past that.
	summaryLimit = 100000
)

// usageJSON is one ledger record.
type usageJSON struct {
	RequestID     string    `json:"request_id"`
	Time          time.Time `json:"time"`
	KeyID         int64     `json:"key_id"`
	KeyName       string    `json:"key_name"`
	Endpoint      string    `json:"endpoint"`
	Model         string    `json:"model"`
	ChannelID     int64     `json:"channel_id"`
	ChannelName   string    `json:"channel_name"`
	UpstreamModel string    `json:"upstream_model"`
	Status        int       `json:"status"`
	Stream        bool      `json:"stream"`
	LatencyMS     float64   `json:"latency_ms"`
	TTFTMS        float64   `json:"ttft_ms"`
	Usage         tokenJSON `json:"usage"`
	UsageSource   string    `json:"usage_source"`
	CostNanoUSD   int64     `json:"cost_nano_usd"`
	CostUSD       float64   `json:"cost_usd"`
	Attempts      int       `json:"attempts"`
	ErrorMessage  string    `json:"error_message,omitempty"`
}

// tokenJSON is llm.Usage by kind; the cached, audio, image and reasoning
// counts are subsets of input or output, as in llm.Usage.
type tokenJSON struct {
	InputTokens       int64 `json:"input_tokens"`
	CachedInputTokens int64 `json:"cached_input_tokens"`
	CacheWriteTokens  int64 `json:"cache_write_tokens"`
	AudioInputTokens  int64 `json:"audio_input_tokens"`
	ImageInputTokens  int64 `json:"image_input_tokens"`
	OutputTokens      int64 `json:"output_tokens"`
	ReasoningTokens   int64 `json:"reasoning_tokens"`
	AudioOutputTokens int64 `json:"audio_output_tokens"`
	ImageOutputTokens int64 `json:"image_output_tokens"`
	TotalTokens       int64 `json:"total_tokens"`
}

func toTokenJSON(u llm.Usage) tokenJSON {
	return tokenJSON{
		InputTokens: u.InputTokens, CachedInputTokens: u.CachedInputTokens, CacheWriteTokens: u.CacheWriteTokens,
		AudioInputTokens: u.AudioInputTokens, ImageInputTokens: u.ImageInputTokens,
		OutputTokens: u.OutputTokens, ReasoningTokens: u.ReasoningTokens,
		AudioOutputTokens: u.AudioOutputTokens, ImageOutputTokens: u.ImageOutputTokens,
		TotalTokens: u.Total(),
	}
}

func toUsageJSON(r gateway.UsageRecord) usageJSON {
	return usageJSON{
		RequestID: r.RequestID, Time: r.Time.UTC(), KeyID: r.KeyID, KeyName: r.KeyName, Endpoint: r.Endpoint,
		Model: r.Model, ChannelID: r.ChannelID, ChannelName: r.ChannelName, UpstreamModel: r.UpstreamModel,
		Status: r.Status, Stream: r.Stream,
		LatencyMS: ms(r.Latency), TTFTMS: ms(r.TTFT),
		Usage: toTokenJSON(r.Usage), UsageSource: string(r.UsageSource),
		CostNanoUSD: r.CostNanoUSD, CostUSD: usd(r.CostNanoUSD),
		Attempts: r.Attempts, ErrorMessage: r.ErrorMessage,
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// parseFilter reads key_id, since and until from q. A time is RFC 3339
// ("2025-01-02T15:04:05Z") or a duration meaning that long before now
// ("24h", "30m").
func (a *API) parseFilter(q url.Values) (gateway.LedgerFilter, error) {
	var f gateway.LedgerFilter
	if v := q.Get("key_id"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			return f, badRequest("key_id: want a positive integer")
		}
		f.KeyID = id
	}
	var err error
	if f.Since, err = a.parseTime(q.Get("since"), "since"); err != nil {
		return f, err
	}
	if f.Until, err = a.parseTime(q.Get("until"), "until"); err != nil {
		return f, err
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return f, badRequest("until: must be after since")
	}
	return f, nil
}

func (a *API) parseTime(v, field string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return a.d.Now().Add(-d), nil
	}
	return time.Time{}, badRequest("%s: want an RFC 3339 time (2025-01-02T15:04:05Z) or a duration before now (24h)", field)
}

func (a *API) usage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, err := a.parseFilter(q)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	f.Limit = defaultUsageLimit
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxUsageLimit {
			a.fail(w, r, badRequest("limit: want 1 to %d", maxUsageLimit))
			return
		}
		f.Limit = n
	}
	recs, err := a.d.Store.ListUsage(r.Context(), f)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]usageJSON, len(recs))
	for i, rec := range recs {
		out[i] = toUsageJSON(rec)
	}
	writeJSON(w, http.StatusOK, newList(out))
}

// totals is the sum over a group of records.
type totals struct {
	Requests     int64   `json:"requests"`
	Errors       int64   `json:"errors"`
	InputTokens  int64   `json:"input_tokens"`
	OutputTokens int64   `json:"output_tokens"`
	CachedTokens int64   `json:"cached_input_tokens"`
	Reasoning    int64   `json:"reasoning_tokens"`
	CostNanoUSD  int64   `json:"cost_nano_usd"`
	CostUSD      float64 `json:"cost_usd"`
}

func (t *totals) add(r *gateway.UsageRecord) {
	t.Requests++
	if r.Status >= 400 {
		t.Errors++
	}
	t.InputTokens += r.Usage.InputTokens
	t.OutputTokens += r.Usage.OutputTokens
	t.CachedTokens += r.Usage.CachedInputTokens
	t.Reasoning += r.Usage.ReasoningTokens
	t.CostNanoUSD += r.CostNanoUSD
	t.CostUSD = usd(t.CostNanoUSD)
}

type keyTotals struct {
	KeyID   int64  `json:"key_id"`
	KeyName string `json:"key_name"`
	totals
}

type modelTotals struct {
	Model string `json:"model"`
	totals
}

type summaryJSON struct {
	Object string     `json:"object"`
	Since  *time.Time `json:"since,omitempty"`
	Until  *time.Time `json:"until,omitempty"`
	// Truncated says the window held more than the summary reads; the
	// totals then cover only the newest records.
	Truncated bool          `json:"truncated"`
	Total     totals        `json:"total"`
	ByKey     []keyTotals   `json:"by_key"`
	ByModel   []modelTotals `json:"by_model"`
}

func (a *API) usageSummary(w http.ResponseWriter, r *http.Request) {
	f, err := a.parseFilter(r.URL.Query())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	f.Limit = summaryLimit
	recs, err := a.d.Store.ListUsage(r.Context(), f)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, summarize(recs, f))
}

func summarize(recs []gateway.UsageRecord, f gateway.LedgerFilter) summaryJSON {
	out := summaryJSON{
		Object: "usage_summary", Since: timePtr(f.Since), Until: timePtr(f.Until),
		Truncated: f.Limit > 0 && len(recs) >= f.Limit,
	}
	byKey := map[int64]*keyTotals{}
	byModel := map[string]*modelTotals{}
	for i := range recs {
		rec := &recs[i]
		out.Total.add(rec)
		kt := byKey[rec.KeyID]
		if kt == nil {
			// Records are newest first, so a renamed key shows its
			// current name.
			kt = &keyTotals{KeyID: rec.KeyID, KeyName: rec.KeyName}
			byKey[rec.KeyID] = kt
		}
		kt.add(rec)
		mt := byModel[rec.Model]
		if mt == nil {
			mt = &modelTotals{Model: rec.Model}
			byModel[rec.Model] = mt
		}
		mt.add(rec)
	}
	out.ByKey = make([]keyTotals, 0, len(byKey))
	for _, kt := range byKey {
		out.ByKey = append(out.ByKey, *kt)
	}
	slices.SortFunc(out.ByKey, func(a, b keyTotals) int {
		return cmp.Or(byCost(a.totals, b.totals), cmp.Compare(a.KeyID, b.KeyID))
	})
	out.ByModel = make([]modelTotals, 0, len(byModel))
	for _, mt := range byModel {
		out.ByModel = append(out.ByModel, *mt)
	}
	slices.SortFunc(out.ByModel, func(a, b modelTotals) int {
		return cmp.Or(byCost(a.totals, b.totals), strings.Compare(a.Model, b.Model))
	})
	return out
}

// byCost orders the most expensive group first, then the busiest.
func byCost(a, b totals) int {
	return cmp.Or(cmp.Compare(b.CostNanoUSD, a.CostNanoUSD), cmp.Compare(b.Requests, a.Requests))
}
