package admin

import (
	"encoding/csv"
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
)

// usageJSON is one ledger record.
type usageJSON struct {
	RequestID     string     `json:"request_id"`
	Time          time.Time  `json:"time"`
	KeyID         int64      `json:"key_id"`
	KeyName       string     `json:"key_name"`
	Endpoint      string     `json:"endpoint"`
	Model         string     `json:"model"`
	ChannelID     int64      `json:"channel_id"`
	ChannelName   string     `json:"channel_name"`
	UpstreamModel string     `json:"upstream_model"`
	Status        int        `json:"status"`
	Stream        bool       `json:"stream"`
	LatencyMS     float64    `json:"latency_ms"`
	TTFTMS        float64    `json:"ttft_ms"`
	Usage         tokenJSON  `json:"usage"`
	Units         []unitJSON `json:"units,omitempty"`
	UsageSource   string     `json:"usage_source"`
	CostNanoUSD   int64      `json:"cost_nano_usd"`
	CostUSD       float64    `json:"cost_usd"`
	CostUnknown   bool       `json:"cost_unknown"`
	PriceNanoUSD  int64      `json:"price_nano_usd"`
	PriceUSD      float64    `json:"price_usd"`
	Unpriced      bool       `json:"unpriced"`
	Attempts      int        `json:"attempts"`
	ErrorMessage  string     `json:"error_message,omitempty"`
	// Tried lists the failed attempts, "channel: status message" each.
	Tried []string `json:"tried,omitempty"`
}

type unitJSON struct {
	Unit  string `json:"unit"`
	Count int64  `json:"count"`
}

// tokenJSON is llm.Usage by kind; the cached, audio, image and reasoning
// counts are subsets of input or output, as in llm.Usage.
type tokenJSON struct {
	InputTokens        int64 `json:"input_tokens"`
	CachedInputTokens  int64 `json:"cached_input_tokens"`
	CacheWriteTokens   int64 `json:"cache_write_tokens"`
	CacheWrite1hTokens int64 `json:"cache_write_1h_tokens"`
	AudioInputTokens   int64 `json:"audio_input_tokens"`
	ImageInputTokens   int64 `json:"image_input_tokens"`
	OutputTokens       int64 `json:"output_tokens"`
	ReasoningTokens    int64 `json:"reasoning_tokens"`
	AudioOutputTokens  int64 `json:"audio_output_tokens"`
	ImageOutputTokens  int64 `json:"image_output_tokens"`
	TotalTokens        int64 `json:"total_tokens"`
	WebSearchRequests  int64 `json:"web_search_requests"`
	GroundedPrompts    int64 `json:"grounded_prompts"`
}

func toTokenJSON(u llm.Usage) tokenJSON {
	return tokenJSON{
		InputTokens: u.InputTokens, CachedInputTokens: u.CachedInputTokens, CacheWriteTokens: u.CacheWriteTokens,
		CacheWrite1hTokens: u.CacheWrite1hTokens, AudioInputTokens: u.AudioInputTokens, ImageInputTokens: u.ImageInputTokens,
		OutputTokens: u.OutputTokens, ReasoningTokens: u.ReasoningTokens,
		AudioOutputTokens: u.AudioOutputTokens, ImageOutputTokens: u.ImageOutputTokens,
		TotalTokens: u.Total(), WebSearchRequests: u.WebSearchRequests, GroundedPrompts: u.GroundedPrompts,
	}
}

func toUsageJSON(r *gateway.UsageRecord) usageJSON {
	out := usageJSON{
		RequestID: r.RequestID, Time: r.Time.UTC(), KeyID: r.KeyID, KeyName: r.KeyName, Endpoint: r.Endpoint,
		Model: r.Model, ChannelID: r.ChannelID, ChannelName: r.ChannelName, UpstreamModel: r.UpstreamModel,
		Status: r.Status, Stream: r.Stream,
		LatencyMS: ms(r.Latency), TTFTMS: ms(r.TTFT),
		Usage: toTokenJSON(r.Usage), UsageSource: string(r.UsageSource),
		CostNanoUSD: r.CostNanoUSD, CostUSD: usd(r.CostNanoUSD), CostUnknown: r.CostUnknown,
		PriceNanoUSD: r.PriceNanoUSD, PriceUSD: usd(r.PriceNanoUSD), Unpriced: r.Unpriced,
		Attempts: r.Attempts, ErrorMessage: r.ErrorMessage, Tried: r.Tried,
	}
	for _, u := range r.Units {
		out.Units = append(out.Units, unitJSON{Unit: u.Unit, Count: u.Count})
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Query parameters of the usage routes. Any other is an error: a filter
// that is silently ignored reports numbers that look right and are not.
var (
	filterParams  = []string{"key_id", "model", "channel_id", "status", "since", "until", "format"}
	listParams    = append(slices.Clone(filterParams), "limit", "cursor")
	summaryParams = append(slices.Clone(filterParams), "group_by")
)

func checkParams(q url.Values, allowed []string) error {
	for name, vs := range q {
		if !slices.Contains(allowed, name) {
			return badRequest("unknown query parameter %q (this route takes %s)", name, strings.Join(allowed, ", "))
		}
		if len(vs) > 1 {
			return badRequest("%s: give it once", name)
		}
	}
	return nil
}

// parseFilter reads the filters shared by the usage routes. A time is RFC
// 3339 ("2025-01-02T15:04:05Z") or a duration meaning that long before now
// ("24h", "30m").
func (a *API) parseFilter(q url.Values) (gateway.LedgerFilter, error) {
	var f gateway.LedgerFilter
	var err error
	if f.KeyID, err = positiveID(q.Get("key_id"), "key_id"); err != nil {
		return f, err
	}
	if f.ChannelID, err = positiveID(q.Get("channel_id"), "channel_id"); err != nil {
		return f, err
	}
	if _, set := q["model"]; set {
		if f.Model = strings.TrimSpace(q.Get("model")); f.Model == "" {
			return f, badRequest("model: must not be empty")
		}
	}
	if f.StatusMin, f.StatusMax, err = parseStatus(q.Get("status")); err != nil {
		return f, err
	}
	if f.Since, err = a.parseTime(q.Get("since"), "since"); err != nil {
		return f, err
	}
	if f.Until, err = a.parseTime(q.Get("until"), "until"); err != nil {
		return f, err
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return f, badRequest("until: must be after since")
	}
	if v := q.Get("format"); v != "" && v != "json" && v != "csv" {
		return f, badRequest("format: want json or csv")
	}
	return f, nil
}

func positiveID(v, field string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return 0, badRequest("%s: want a positive integer", field)
	}
	return id, nil
}

// parseStatus reads a status filter: a code (429), a class (4xx), "ok"
// (below 400) or "error" (400 and above).
func parseStatus(v string) (lo, hi int, err error) {
	switch v = strings.ToLower(strings.TrimSpace(v)); {
	case v == "":
		return 0, 0, nil
	case v == "ok":
		return 0, 399, nil
	case v == "error":
		return 400, 0, nil
	case len(v) == 3 && v[1:] == "xx" && v[0] >= '1' && v[0] <= '5':
		c := int(v[0]-'0') * 100
		return c, c + 99, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 100 || n > 599 {
		return 0, 0, badRequest("status: want a code (429), a class (4xx), ok or error")
	}
	return n, n, nil
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

// usagePage is the answer of GET /usage: a list with a cursor.
type usagePage struct {
	Object     string      `json:"object"`
	Data       []usageJSON `json:"data"`
	HasMore    bool        `json:"has_more"`
	NextCursor string      `json:"next_cursor,omitempty"`
}

func (a *API) usage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := checkParams(q, listParams); err != nil {
		a.fail(w, r, err)
		return
	}
	f, err := a.parseFilter(q)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxUsageLimit {
			a.fail(w, r, badRequest("limit: want 1 to %d", maxUsageLimit))
			return
		}
		f.Limit = n
	}
	if c := q.Get("cursor"); c != "" {
		if _, err := gateway.ParseUsageCursor(c); err != nil {
			a.fail(w, r, badRequest("cursor: %v (pass next_cursor of the previous page as it is)", err))
			return
		}
		f.Cursor = c
	}
	if q.Get("format") == "csv" {
		a.usageCSV(w, r, f)
		return
	}
	if f.Limit == 0 {
		f.Limit = defaultUsageLimit
	}
	page, err := a.d.Store.UsagePage(r.Context(), f)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := usagePage{Object: "list", Data: make([]usageJSON, len(page.Records)), HasMore: page.Next != "", NextCursor: page.Next}
	for i := range page.Records {
		out.Data[i] = toUsageJSON(&page.Records[i])
	}
	writeJSON(w, http.StatusOK, out)
}

var usageCSVHeader = []string{"request_id", "time", "key_id", "key_name", "endpoint", "model", "channel_id", "channel_name",
	"upstream_model", "status", "stream", "latency_ms", "ttft_ms", "input_tokens", "cached_input_tokens", "cache_write_tokens",
	"cache_write_1h_tokens", "audio_input_tokens", "image_input_tokens", "output_tokens", "reasoning_tokens",
	"audio_output_tokens", "image_output_tokens", "web_search_requests", "grounded_prompts", "units", "usage_source",
	"cost_nano_usd", "cost_unknown", "price_nano_usd", "unpriced", "attempts", "error_message"}

// usageCSV streams every matching record (f.Limit of them when set) as
// CSV, without holding them in memory. An error after the first row can
// only end the body early: the status is sent already.
func (a *API) usageCSV(w http.ResponseWriter, r *http.Request, f gateway.LedgerFilter) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="usage.csv"`)
	cw := csv.NewWriter(w)
	_ = cw.Write(usageCSVHeader)
	i64 := func(n int64) string { return strconv.FormatInt(n, 10) }
	row := make([]string, 0, len(usageCSVHeader))
	err := a.d.Store.EachUsage(r.Context(), f, func(rec *gateway.UsageRecord) error {
		u := &rec.Usage
		var units []string
		for _, m := range rec.Units {
			units = append(units, m.Unit+"="+i64(m.Count))
		}
		row = append(row[:0], rec.RequestID, rec.Time.UTC().Format(time.RFC3339Nano), i64(rec.KeyID), rec.KeyName,
			rec.Endpoint, rec.Model, i64(rec.ChannelID), rec.ChannelName, rec.UpstreamModel, strconv.Itoa(rec.Status),
			strconv.FormatBool(rec.Stream), strconv.FormatFloat(ms(rec.Latency), 'f', -1, 64),
			strconv.FormatFloat(ms(rec.TTFT), 'f', -1, 64), i64(u.InputTokens), i64(u.CachedInputTokens),
			i64(u.CacheWriteTokens), i64(u.CacheWrite1hTokens), i64(u.AudioInputTokens), i64(u.ImageInputTokens),
			i64(u.OutputTokens), i64(u.ReasoningTokens), i64(u.AudioOutputTokens), i64(u.ImageOutputTokens),
			i64(u.WebSearchRequests), i64(u.GroundedPrompts), strings.Join(units, ";"), string(rec.UsageSource),
			i64(rec.CostNanoUSD), strconv.FormatBool(rec.CostUnknown), i64(rec.PriceNanoUSD),
			strconv.FormatBool(rec.Unpriced), strconv.Itoa(rec.Attempts), rec.ErrorMessage)
		return cw.Write(row)
	})
	cw.Flush()
	if err != nil {
		a.d.Log.ErrorContext(r.Context(), "usage export failed", "err", err)
	}
}

// totals is the sum over a group of records: what upstreams charged
// (cost), what keys paid (price) and the difference (margin).
type totals struct {
	Requests      int64   `json:"requests"`
	Errors        int64   `json:"errors"`
	InputTokens   int64   `json:"input_tokens"`
	OutputTokens  int64   `json:"output_tokens"`
	CachedTokens  int64   `json:"cached_input_tokens"`
	Reasoning     int64   `json:"reasoning_tokens"`
	CostNanoUSD   int64   `json:"cost_nano_usd"`
	CostUSD       float64 `json:"cost_usd"`
	PriceNanoUSD  int64   `json:"price_nano_usd"`
	PriceUSD      float64 `json:"price_usd"`
	MarginNanoUSD int64   `json:"margin_nano_usd"`
	MarginUSD     float64 `json:"margin_usd"`
	Estimated     int64   `json:"estimated"`
	Unpriced      int64   `json:"unpriced"`
	CostUnknown   int64   `json:"cost_unknown"`
}

func toTotals(t gateway.UsageTotals) totals {
	return totals{
		Requests: t.Requests, Errors: t.Errors, InputTokens: t.InputTokens, OutputTokens: t.OutputTokens,
		CachedTokens: t.CachedInputTokens, Reasoning: t.ReasoningTokens,
		CostNanoUSD: t.CostNanoUSD, CostUSD: usd(t.CostNanoUSD), PriceNanoUSD: t.PriceNanoUSD, PriceUSD: usd(t.PriceNanoUSD),
		MarginNanoUSD: t.PriceNanoUSD - t.CostNanoUSD, MarginUSD: usd(t.PriceNanoUSD - t.CostNanoUSD),
		Estimated: t.Estimated, Unpriced: t.Unpriced, CostUnknown: t.CostUnknown,
	}
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

// groupJSON is one group of group_by; only the grouped dimensions are set.
type groupJSON struct {
	KeyID       *int64     `json:"key_id,omitempty"`
	KeyName     *string    `json:"key_name,omitempty"`
	Model       *string    `json:"model,omitempty"`
	ChannelID   *int64     `json:"channel_id,omitempty"`
	ChannelName *string    `json:"channel_name,omitempty"`
	Bucket      *time.Time `json:"bucket,omitempty"`
	totals
}

type summaryJSON struct {
	Object string     `json:"object"`
	Since  *time.Time `json:"since,omitempty"`
	Until  *time.Time `json:"until,omitempty"`
	// Truncated is always false: totals are computed by the database over
	// every matching record. Kept for clients of the capped summary.
	Truncated bool          `json:"truncated"`
	Total     totals        `json:"total"`
	ByKey     []keyTotals   `json:"by_key"`
	ByModel   []modelTotals `json:"by_model"`
	GroupBy   []string      `json:"group_by,omitempty"`
	Groups    []groupJSON   `json:"groups,omitempty"`
}

func parseGroupBy(v string) ([]gateway.UsageGroupBy, error) {
	if v == "" {
		return nil, nil
	}
	var out []gateway.UsageGroupBy
	for _, g := range strings.Split(v, ",") {
		d := gateway.UsageGroupBy(strings.TrimSpace(g))
		switch d {
		case gateway.GroupByKey, gateway.GroupByModel, gateway.GroupByChannel, gateway.GroupByDay, gateway.GroupByHour:
		default:
			return nil, badRequest("group_by: unknown dimension %q (want key, model, channel, day or hour, comma-separated)", g)
		}
		if slices.Contains(out, d) {
			return nil, badRequest("group_by: %q twice", d)
		}
		if (d == gateway.GroupByDay && slices.Contains(out, gateway.GroupByHour)) ||
			(d == gateway.GroupByHour && slices.Contains(out, gateway.GroupByDay)) {
			return nil, badRequest("group_by: day or hour, not both")
		}
		out = append(out, d)
	}
	return out, nil
}

func (a *API) usageSummary(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if err := checkParams(q, summaryParams); err != nil {
		a.fail(w, r, err)
		return
	}
	f, err := a.parseFilter(q)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	by, err := parseGroupBy(q.Get("group_by"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ctx := r.Context()
	out := summaryJSON{Object: "usage_summary", Since: timePtr(f.Since), Until: timePtr(f.Until)}
	all, err := a.d.Store.SumUsage(ctx, f)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if len(all) == 1 {
		out.Total = toTotals(all[0].UsageTotals)
	}
	byKey, err := a.d.Store.SumUsage(ctx, f, gateway.GroupByKey)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out.ByKey = make([]keyTotals, len(byKey))
	for i, g := range byKey {
		out.ByKey[i] = keyTotals{KeyID: g.KeyID, KeyName: g.KeyName, totals: toTotals(g.UsageTotals)}
	}
	byModel, err := a.d.Store.SumUsage(ctx, f, gateway.GroupByModel)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out.ByModel = make([]modelTotals, len(byModel))
	for i, g := range byModel {
		out.ByModel[i] = modelTotals{Model: g.Model, totals: toTotals(g.UsageTotals)}
	}
	if len(by) > 0 {
		groups, err := a.d.Store.SumUsage(ctx, f, by...)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		for _, d := range by {
			out.GroupBy = append(out.GroupBy, string(d))
		}
		out.Groups = make([]groupJSON, len(groups))
		for i := range groups {
			out.Groups[i] = toGroupJSON(&groups[i], by)
		}
	}
	if q.Get("format") == "csv" {
		writeSummaryCSV(w, &out, by)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func toGroupJSON(g *gateway.UsageGroup, by []gateway.UsageGroupBy) groupJSON {
	out := groupJSON{totals: toTotals(g.UsageTotals)}
	for _, d := range by {
		switch d {
		case gateway.GroupByKey:
			out.KeyID, out.KeyName = &g.KeyID, &g.KeyName
		case gateway.GroupByModel:
			out.Model = &g.Model
		case gateway.GroupByChannel:
			out.ChannelID, out.ChannelName = &g.ChannelID, &g.ChannelName
		case gateway.GroupByDay, gateway.GroupByHour:
			b := g.Bucket.UTC()
			out.Bucket = &b
		}
	}
	return out
}

// writeSummaryCSV writes the groups of group_by (or the one total row) as
// CSV: the dimensions, then the totals.
func writeSummaryCSV(w http.ResponseWriter, s *summaryJSON, by []gateway.UsageGroupBy) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="usage-summary.csv"`)
	cw := csv.NewWriter(w)
	var head []string
	for _, d := range by {
		switch d {
		case gateway.GroupByKey:
			head = append(head, "key_id", "key_name")
		case gateway.GroupByChannel:
			head = append(head, "channel_id", "channel_name")
		case gateway.GroupByModel:
			head = append(head, "model")
		default:
			head = append(head, string(d))
		}
	}
	head = append(head, "requests", "errors", "input_tokens", "output_tokens", "cached_input_tokens", "reasoning_tokens",
		"cost_nano_usd", "price_nano_usd", "margin_nano_usd", "estimated", "unpriced", "cost_unknown")
	_ = cw.Write(head)
	i64 := func(n int64) string { return strconv.FormatInt(n, 10) }
	row := func(dims []string, t totals) {
		_ = cw.Write(append(dims, i64(t.Requests), i64(t.Errors), i64(t.InputTokens), i64(t.OutputTokens), i64(t.CachedTokens),
			i64(t.Reasoning), i64(t.CostNanoUSD), i64(t.PriceNanoUSD), i64(t.MarginNanoUSD), i64(t.Estimated), i64(t.Unpriced),
			i64(t.CostUnknown)))
	}
	if len(by) == 0 {
		row(nil, s.Total)
	}
	for _, g := range s.Groups {
		var dims []string
		for _, d := range by {
			switch d {
			case gateway.GroupByKey:
				dims = append(dims, i64(*g.KeyID), *g.KeyName)
			case gateway.GroupByChannel:
				dims = append(dims, i64(*g.ChannelID), *g.ChannelName)
			case gateway.GroupByModel:
				dims = append(dims, *g.Model)
			default:
				dims = append(dims, g.Bucket.Format(time.RFC3339))
			}
		}
		row(dims, g.totals)
	}
	cw.Flush()
}
