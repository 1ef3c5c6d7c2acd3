package admin

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"switchboard/internal/config"
	"switchboard/internal/gateway"
	"switchboard/internal/llm"
	"switchboard/internal/relay"
	"switchboard/internal/rules"
)

// pageData is what every console template receives.
type pageData struct {
	Title   string
	Nav     string // active menu entry
	Role    string
	CSRF    string
	Error   string
	Flash   string
	Secret  string // a key's secret, shown once
	Next    string
	Data    any
	Version string
}

var consoleFuncs = template.FuncMap{
	"usd": formatUSD,
	"num": formatInt,
	"ms": func(d time.Duration) string {
		if d == 0 {
			return "–"
		}
		if d < time.Second {
			return fmt.Sprintf("%d ms", d.Milliseconds())
		}
		return fmt.Sprintf("%.2f s", d.Seconds())
	},
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "–"
		}
		return t.UTC().Format("2006-01-02 15:04:05")
	},
	"join": strings.Join,
	"dict": func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[fmt.Sprint(kv[i])] = kv[i+1]
		}
		return m
	},
	"p50": func(h gateway.LatencyHistogram) time.Duration { return h.Quantile(0.5) },
	"p99": func(h gateway.LatencyHistogram) time.Duration { return h.Quantile(0.99) },
	"mtok": func(nano int64) string {
		if nano == 0 {
			return "–"
		}
		return fmt.Sprintf("$%.4g", float64(nano)/1e9)
	},
}

// formatUSD shows nano-USD with the digits its size needs: cents for
// dollars, down to a millionth of a dollar for single calls.
func formatUSD(nano int64) string {
	v := float64(nano) / 1e9
	switch a := max(v, -v); {
	case a == 0:
		return "$0"
	case a >= 1:
		return fmt.Sprintf("$%.2f", v)
	case a >= 0.01:
		return fmt.Sprintf("$%.4f", v)
	}
	return fmt.Sprintf("$%.6f", v)
}

// formatInt writes n with thin separators: 1 234 567.
func formatInt(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString(" ")
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

func (c *Console) parseTemplates() error {
	names, err := fs.Glob(consoleFS, "console/*.html")
	if err != nil {
		return err
	}
	c.pages = map[string]*template.Template{}
	for _, n := range names {
		page := strings.TrimSuffix(strings.TrimPrefix(n, "console/"), ".html")
		if page == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(consoleFuncs).ParseFS(consoleFS, "console/layout.html", n)
		if err != nil {
			return fmt.Errorf("admin: console template %s: %w", n, err)
		}
		c.pages[page] = t
	}
	return nil
}

// render writes page with d; data is the page's own value.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, page string, data any, d pageData) {
	s := sessionOf(r)
	d.Role = s.Role
	if d.CSRF == "" {
		d.CSRF = s.CSRF
	}
	if d.Nav == "" {
		d.Nav = page
	}
	d.Data = data
	var buf bytes.Buffer
	if err := c.pages[page].Execute(&buf, d); err != nil {
		c.api.d.Log.ErrorContext(r.Context(), "console: render", "page", page, "err", err)
		http.Error(w, "console: page failed to render", http.StatusInternalServerError)
		return
	}
	setPageHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		status = ae.status
	case errors.Is(err, gateway.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, gateway.ErrConflict):
		status = http.StatusConflict
	default:
		c.api.d.Log.ErrorContext(r.Context(), "console request failed", "path", r.URL.Path, "err", err)
	}
	c.render(w, r, status, "error", nil, pageData{Title: "Error", Error: errText(err)})
}

// back redirects to the page the form was on, with a message.
func back(w http.ResponseWriter, r *http.Request, to, flash string) {
	http.Redirect(w, r, to+"?flash="+url.QueryEscape(flash), http.StatusSeeOther)
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

// --- dashboard ---

// dashRange is one choice of the range picker.
type dashRange struct {
	Name  string
	Span  time.Duration
	Grain gateway.UsageGroupBy
	Step  time.Duration
}

var dashRanges = []dashRange{
	{"1h", time.Hour, gateway.GroupByHour, time.Hour},
	{"24h", 24 * time.Hour, gateway.GroupByHour, time.Hour},
	{"7d", 7 * 24 * time.Hour, gateway.GroupByHour, time.Hour},
	{"30d", 30 * 24 * time.Hour, gateway.GroupByDay, 24 * time.Hour},
	{"90d", 90 * 24 * time.Hour, gateway.GroupByDay, 24 * time.Hour},
}

type dashboardData struct {
	Range    string
	Ranges   []dashRange
	Since    time.Time
	Total    gateway.UsageTotals
	Charts   []template.HTML
	ByModel  []gateway.UsageGroup
	ByChan   []gateway.UsageGroup
	ByKey    []gateway.UsageGroup
	Filter   gateway.LedgerFilter
	Keys     []gateway.Key
	Channels []gateway.Channel
}

func (c *Console) dashboard(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	rg := dashRanges[1]
	for _, x := range dashRanges {
		if x.Name == q.Get("range") {
			rg = x
		}
	}
	now := c.api.d.Now().UTC()
	// Buckets aligned to the grain: whole hours and days come from the
	// rollups, the current one from the raw rows.
	var since time.Time
	if rg.Step == time.Hour {
		since = now.Truncate(time.Hour).Add(-rg.Span + time.Hour)
	} else {
		day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
		since = day.Add(-rg.Span + 24*time.Hour)
	}
	f := gateway.LedgerFilter{Since: since}
	f.KeyID, _ = strconv.ParseInt(q.Get("key_id"), 10, 64)
	f.ChannelID, _ = strconv.ParseInt(q.Get("channel_id"), 10, 64)
	f.Model = strings.TrimSpace(q.Get("model"))
	ctx := r.Context()
	st := c.api.d.Store
	d := dashboardData{Range: rg.Name, Ranges: dashRanges, Since: since, Filter: f}
	total, err := st.SumUsage(ctx, f)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d.Total = total[0].UsageTotals
	series, err := st.SumUsage(ctx, f, rg.Grain)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if d.ByModel, err = st.SumUsage(ctx, f, gateway.GroupByModel); err != nil {
		c.fail(w, r, err)
		return
	}
	if d.ByChan, err = st.SumUsage(ctx, f, gateway.GroupByChannel); err != nil {
		c.fail(w, r, err)
		return
	}
	if d.ByKey, err = st.SumUsage(ctx, f, gateway.GroupByKey); err != nil {
		c.fail(w, r, err)
		return
	}
	d.Keys, _ = st.ListKeys(ctx)
	d.Channels, _ = st.ListChannels(ctx)
	d.Charts = dashboardCharts(series, since, rg.Step, int(rg.Span/rg.Step))
	c.render(w, r, http.StatusOK, "dashboard", d, pageData{Title: "Dashboard"})
}

// --- channels ---

type channelRow struct {
	gateway.Channel
	Health gateway.ChannelHealth
	Keys   []gateway.KeyHealth
}

type channelsData struct {
	Rows []channelRow
	Test *channelTestResult
}

type channelTestResult struct {
	ChannelID int64
	Channel   string
	Model     string
	Latency   time.Duration
	TTFT      time.Duration
	Answer    string
	Error     string
}

func (c *Console) channelRows(ctx context.Context) ([]channelRow, error) {
	chs, err := c.api.d.Store.ListChannels(ctx)
	if err != nil {
		return nil, err
	}
	health := map[int64]gateway.ChannelHealth{}
	if c.api.d.Health != nil {
		for _, h := range c.api.d.Health.Snapshot() {
			health[h.ChannelID] = h
		}
	}
	rows := make([]channelRow, len(chs))
	for i, ch := range chs {
		h, ok := health[ch.ID]
		if !ok {
			h = gateway.ChannelHealth{ChannelID: ch.ID, State: "closed"}
		}
		keys := make([]gateway.KeyHealth, len(ch.APIKeys))
		for j := range keys {
			keys[j] = gateway.KeyHealth{Index: j, State: "ok"}
		}
		for _, k := range h.Keys {
			if k.Index >= 0 && k.Index < len(keys) {
				keys[k.Index] = k
			}
		}
		rows[i] = channelRow{Channel: ch, Health: h, Keys: keys}
	}
	return rows, nil
}

func (c *Console) channels(w http.ResponseWriter, r *http.Request) {
	rows, err := c.channelRows(r.Context())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, http.StatusOK, "channels", channelsData{Rows: rows}, pageData{Title: "Channels", Flash: r.URL.Query().Get("flash")})
}

func (c *Console) channelEnabled(enabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := c.editChannel(r, func(ch *gateway.Channel) error { ch.Enabled = enabled; return nil }); err != nil {
			c.fail(w, r, err)
			return
		}
		verb := "disabled"
		if enabled {
			verb = "enabled"
		}
		back(w, r, "/console/channels", "Channel "+verb+".")
	}
}

// editChannel is the admin API's read-modify-write of a channel.
func (c *Console) editChannel(r *http.Request, edit func(*gateway.Channel) error) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ch, err := c.api.d.Store.ChannelByID(r.Context(), id)
	if err != nil {
		return err
	}
	if err := edit(&ch); err != nil {
		return err
	}
	if _, err := c.api.d.Store.UpdateChannel(r.Context(), ch); err != nil {
		return err
	}
	c.api.resetHealth(r, id)
	c.api.d.Log.InfoContext(r.Context(), "console: channel updated", "channel_id", id, "enabled", ch.Enabled)
	c.api.changed(r, TopicChannels)
	return nil
}

type channelForm struct {
	Channel  gateway.Channel
	Masked   channelJSON
	Models   string
	ModelMap string
	Headers  string
	Settings string
	Types    []gateway.ChannelType
}

func lines(m map[string]string) string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, k+"="+m[k])
	}
	return strings.Join(out, "\n")
}

// pathChannel is the channel {id} of the request's path.
func (c *Console) pathChannel(r *http.Request) (gateway.Channel, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return gateway.Channel{}, err
	}
	return c.api.d.Store.ChannelByID(r.Context(), id)
}

func (c *Console) channelEdit(w http.ResponseWriter, r *http.Request) {
	ch, err := c.pathChannel(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.renderChannelForm(w, r, http.StatusOK, ch, "")
}

func (c *Console) renderChannelForm(w http.ResponseWriter, r *http.Request, status int, ch gateway.Channel, msg string) {
	m := toChannelJSON(ch)
	f := channelForm{Channel: ch, Masked: m, Models: strings.Join(ch.Models, "\n"), ModelMap: lines(ch.ModelMap),
		Headers: lines(m.Headers), Settings: lines(ch.Settings), Types: gateway.ChannelTypes}
	c.render(w, r, status, "channel", f, pageData{Title: "Channel " + ch.Name, Nav: "channels", Error: msg, Flash: r.URL.Query().Get("flash")})
}

// parseLines reads "name=value" lines.
func parseLines(s, field string) (map[string]string, error) {
	out := map[string]string{}
	for _, ln := range strings.Split(s, "\n") {
		ln = strings.TrimSpace(ln)
		if ln == "" {
			continue
		}
		k, v, ok := strings.Cut(ln, "=")
		if !ok {
			return nil, badRequest("%s: want one name=value per line, got %q", field, ln)
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out, nil
}

func splitList(s string) []string {
	out := []string{}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == ',' || r == '\r' }) {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// channelPatchFromForm turns the edit form into the admin API's patch, so
// the console validates exactly as the API (and the config file) does.
func channelPatchFromForm(r *http.Request) (channelPatch, error) {
	var p channelPatch
	str := func(name string) *string { v := r.PostFormValue(name); return &v }
	p.Name, p.Type, p.BaseURL, p.Timeout = str("name"), str("type"), str("base_url"), str("timeout")
	models := splitList(r.PostFormValue("models"))
	p.Models = &models
	for _, f := range []struct {
		name string
		dst  **map[string]string
	}{{"model_map", &p.ModelMap}, {"headers", &p.Headers}, {"settings", &p.Settings}} {
		m, err := parseLines(r.PostFormValue(f.name), f.name)
		if err != nil {
			return p, err
		}
		*f.dst = &m
	}
	for _, f := range []struct {
		name string
		dst  **int
	}{{"priority", &p.Priority}, {"weight", &p.Weight}} {
		n, err := strconv.Atoi(strings.TrimSpace(r.PostFormValue(f.name)))
		if err != nil {
			return p, badRequest("%s: want a whole number", f.name)
		}
		*f.dst = &n
	}
	enabled := r.PostFormValue("enabled") == "on"
	p.Enabled = &enabled
	// Keys are replaced only when new ones are typed: the form never
	// shows the stored ones.
	if keys := splitList(r.PostFormValue("api_keys")); len(keys) > 0 {
		p.APIKeys = &keys
	}
	return p, nil
}

func (c *Console) channelSave(w http.ResponseWriter, r *http.Request) {
	p, err := channelPatchFromForm(r)
	if err == nil {
		err = c.editChannel(r, p.apply)
	}
	if err != nil {
		ch, gerr := c.pathChannel(r)
		if gerr != nil {
			c.fail(w, r, err)
			return
		}
		c.renderChannelForm(w, r, http.StatusBadRequest, ch, errText(err))
		return
	}
	back(w, r, "/console/channels", "Channel saved.")
}

func (c *Console) channelKeyEnable(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		c.fail(w, r, err)
		return
	}
	idx, err := strconv.Atoi(r.PathValue("index"))
	if err != nil || idx < 0 || c.api.d.EnableKey == nil {
		c.fail(w, r, badRequest("index: want a key index"))
		return
	}
	if err := c.api.d.EnableKey(r.Context(), id, idx); err != nil {
		c.fail(w, r, err)
		return
	}
	back(w, r, "/console/channels", fmt.Sprintf("Key #%d back in rotation.", idx))
}

// testKey is the key channel tests are made as: no limits, no budget,
// named so its ledger rows are recognisable.
var testKey = gateway.Key{ID: 0, Name: "console-test", Models: []string{"*"}, Enabled: true}

func (c *Console) channelTest(w http.ResponseWriter, r *http.Request) {
	ch, err := c.pathChannel(r)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	res := &channelTestResult{ChannelID: ch.ID, Channel: ch.Name, Model: strings.TrimSpace(r.PostFormValue("model"))}
	if res.Model == "" {
		for _, m := range ch.Models {
			if !strings.ContainsAny(m, "*?[") {
				res.Model = m
				break
			}
		}
	}
	switch {
	case c.d.Engine == nil:
		res.Error = "this console has no engine to send calls through"
	case res.Model == "":
		res.Error = "the channel lists no concrete model to test with"
	case !ch.Enabled:
		res.Error = "the channel is disabled: enable it to test it through the router"
	default:
		maxTok := 16
		req := &llm.Request{Model: res.Model, MaxTokens: &maxTok,
			Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartText, Text: "Reply with the single word: ok"}}}}}
		key := testKey
		ctx, cancel := context.WithTimeout(r.Context(), 60*time.Second)
		res.Answer, res.Latency, res.TTFT, err = c.generate(ctx, relay.HubCall{Key: &key, Request: req, Endpoint: "console.test", ChannelID: ch.ID})
		cancel()
		if err != nil {
			res.Error = errText(err)
		}
	}
	rows, err := c.channelRows(r.Context())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.render(w, r, http.StatusOK, "channels", channelsData{Rows: rows, Test: res}, pageData{Title: "Channels"})
}

// generate runs hc to the end and returns its text, latency and time to
// first text.
func (c *Console) generate(ctx context.Context, hc relay.HubCall) (string, time.Duration, time.Duration, error) {
	start := time.Now()
	var (
		text strings.Builder
		ttft time.Duration
	)
	for ev, err := range c.d.Engine.Generate(ctx, hc) {
		if err != nil {
			return text.String(), time.Since(start), ttft, err
		}
		switch ev.Type {
		case llm.EventTextDelta:
			if ttft == 0 {
				ttft = time.Since(start)
			}
			text.WriteString(ev.Text)
		case llm.EventError:
			if ev.Err != nil {
				return text.String(), time.Since(start), ttft, badRequest("%s", ev.Err.Message)
			}
		}
	}
	return text.String(), time.Since(start), ttft, nil
}

// --- keys ---

type keysData struct {
	Keys    []keyJSON
	Periods []gateway.BudgetPeriod
}

func (c *Console) keys(w http.ResponseWriter, r *http.Request) {
	c.renderKeys(w, r, http.StatusOK, pageData{Flash: r.URL.Query().Get("flash")})
}

func (c *Console) renderKeys(w http.ResponseWriter, r *http.Request, status int, d pageData) {
	keys, err := c.api.d.Store.ListKeys(r.Context())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	out := make([]keyJSON, len(keys))
	for i, k := range keys {
		out[i] = toKeyJSON(k)
	}
	d.Title = "Keys"
	c.render(w, r, status, "keys", keysData{Keys: out, Periods: gateway.BudgetPeriods}, d)
}

// keyPatchFromForm turns the key forms into the admin API's patch.
func keyPatchFromForm(r *http.Request, create bool) (keyPatch, error) {
	var p keyPatch
	if create {
		name := strings.TrimSpace(r.PostFormValue("name"))
		p.Name = &name
	}
	models := splitList(r.PostFormValue("models"))
	if len(models) == 0 {
		models = []string{"*"}
	}
	p.Models = &models
	if v := strings.TrimSpace(r.PostFormValue("budget_usd")); v != "" {
		b, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return p, badRequest("budget_usd: want a number of dollars (0 for no budget)")
		}
		p.BudgetUSD = &b
	} else {
		zero := 0.0
		p.BudgetUSD = &zero
	}
	period := r.PostFormValue("budget_period")
	p.BudgetPeriod = &period
	for _, f := range []struct {
		name string
		dst  **int
	}{{"rpm", &p.RPM}, {"tpm", &p.TPM}, {"max_concurrent", &p.MaxConcurrent}} {
		v := strings.TrimSpace(r.PostFormValue(f.name))
		if v == "" {
			v = "0"
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return p, badRequest("%s: want a whole number (0 for no limit)", f.name)
		}
		*f.dst = &n
	}
	return p, nil
}

func (c *Console) keyCreate(w http.ResponseWriter, r *http.Request) {
	p, err := keyPatchFromForm(r, true)
	k := gateway.Key{Models: []string{"*"}, Enabled: true}
	if err == nil {
		err = p.apply(&k)
	}
	secret := rules.MintKey()
	var created gateway.Key
	if err == nil {
		k.Hash, k.Prefix = c.api.d.HashKey(secret), rules.DisplayPrefix(secret)
		created, err = c.api.d.Store.CreateKey(r.Context(), k)
	}
	if err != nil {
		c.renderKeys(w, r, http.StatusBadRequest, pageData{Error: errText(err)})
		return
	}
	c.api.d.Log.InfoContext(r.Context(), "console: key created", "key_id", created.ID, "name", created.Name)
	c.api.changed(r, TopicKeys)
	c.renderKeys(w, r, http.StatusCreated, pageData{Flash: "Key " + created.Name + " created. Copy its secret now: it is not shown again.", Secret: secret})
}

// editKey is the admin API's read-modify-write of a key.
func (c *Console) editKey(r *http.Request, edit func(*gateway.Key) error) (gateway.Key, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return gateway.Key{}, err
	}
	k, err := c.api.d.Store.KeyByID(r.Context(), id)
	if err != nil {
		return k, err
	}
	k.Hash, k.Prefix = "", "" // keep the stored secret unless edit sets one
	if err := edit(&k); err != nil {
		return k, err
	}
	updated, err := c.api.d.Store.UpdateKey(r.Context(), k)
	if err != nil {
		return k, err
	}
	c.api.d.Log.InfoContext(r.Context(), "console: key updated", "key_id", id, "name", updated.Name, "enabled", updated.Enabled)
	c.api.changed(r, TopicKeys)
	return updated, nil
}

func (c *Console) keySave(w http.ResponseWriter, r *http.Request) {
	p, err := keyPatchFromForm(r, false)
	if err == nil {
		_, err = c.editKey(r, p.apply)
	}
	if err != nil {
		c.renderKeys(w, r, http.StatusBadRequest, pageData{Error: errText(err)})
		return
	}
	back(w, r, "/console/keys", "Key saved.")
}

func (c *Console) keyEnabled(enabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		k, err := c.editKey(r, func(k *gateway.Key) error { k.Enabled = enabled; return nil })
		if err != nil {
			c.fail(w, r, err)
			return
		}
		verb := "disabled"
		if enabled {
			verb = "enabled"
		}
		back(w, r, "/console/keys", "Key "+k.Name+" "+verb+".")
	}
}

func (c *Console) keyRotate(w http.ResponseWriter, r *http.Request) {
	secret := rules.MintKey()
	k, err := c.editKey(r, func(k *gateway.Key) error {
		k.Hash, k.Prefix = c.api.d.HashKey(secret), rules.DisplayPrefix(secret)
		return nil
	})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.renderKeys(w, r, http.StatusOK, pageData{Flash: "Key " + k.Name + " rotated: the old secret no longer works. Copy the new one now.", Secret: secret})
}

// --- usage ---

type usageData struct {
	Query    url.Values
	Records  []gateway.UsageRecord
	Next     string
	Export   string
	Keys     []gateway.Key
	Channels []gateway.Channel
	Total    gateway.UsageTotals
}

// usageFilter reads the usage page's form: the admin API's filters, with
// the browser's datetime-local times (taken as UTC).
func (c *Console) usageFilter(q url.Values) (gateway.LedgerFilter, url.Values, error) {
	clean := url.Values{}
	for _, name := range filterParams {
		v := strings.TrimSpace(q.Get(name))
		if v == "" || name == "format" {
			continue
		}
		if (name == "since" || name == "until") && len(v) == len("2006-01-02T15:04") {
			v += ":00Z"
		}
		clean.Set(name, v)
	}
	f, err := c.api.parseFilter(clean)
	return f, clean, err
}

func (c *Console) usage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, clean, err := c.usageFilter(q)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d := usageData{Query: q, Export: "/console/usage.csv?" + clean.Encode()}
	sum, err := c.api.d.Store.SumUsage(r.Context(), f)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d.Total = sum[0].UsageTotals
	f.Limit = 50
	if cur := q.Get("cursor"); cur != "" {
		if _, err := gateway.ParseUsageCursor(cur); err != nil {
			c.fail(w, r, badRequest("cursor: %v", err))
			return
		}
		f.Cursor = cur
	}
	page, err := c.api.d.Store.UsagePage(r.Context(), f)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	d.Records = page.Records
	if page.Next != "" {
		clean.Set("cursor", page.Next)
		d.Next = "/console/usage?" + clean.Encode()
	}
	d.Keys, _ = c.api.d.Store.ListKeys(r.Context())
	d.Channels, _ = c.api.d.Store.ListChannels(r.Context())
	c.render(w, r, http.StatusOK, "usage", d, pageData{Title: "Usage"})
}

func (c *Console) usageExport(w http.ResponseWriter, r *http.Request) {
	f, _, err := c.usageFilter(r.URL.Query())
	if err != nil {
		c.fail(w, r, err)
		return
	}
	c.api.usageCSV(w, r, f)
}

type usageDetail struct {
	Rec   gateway.UsageRecord
	Price *gateway.Price
}

func (c *Console) usageDetail(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("request")
	recs, err := c.api.d.Store.ListUsage(r.Context(), gateway.LedgerFilter{RequestID: id, Limit: 1})
	if err != nil {
		c.fail(w, r, err)
		return
	}
	if len(recs) == 0 {
		c.fail(w, r, fmt.Errorf("usage record %q: %w", id, gateway.ErrNotFound))
		return
	}
	d := usageDetail{Rec: recs[0]}
	if c.d.Prices != nil {
		if p, ok := c.d.Prices.Lookup(cmp.Or(d.Rec.UpstreamModel, d.Rec.Model)); ok {
			d.Price = &p
		}
	}
	c.render(w, r, http.StatusOK, "usage_detail", d, pageData{Title: "Call " + id, Nav: "usage"})
}

// --- prices ---

type priceRow struct {
	Model    string
	Price    gateway.Price
	Operator bool
}

type pricesData struct {
	Query    string
	Rows     []priceRow
	Total    int
	Unpriced []unpricedRow
	Today    []gateway.UsageGroup
}

type unpricedRow struct {
	Channel, Model, UpstreamModel string
	Glob                          bool
}

func (c *Console) prices(w http.ResponseWriter, r *http.Request) {
	q := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("q")))
	d := pricesData{Query: q}
	if t := c.d.Prices; t != nil {
		for _, m := range t.Models() {
			if q != "" && !strings.Contains(m, q) {
				continue
			}
			p, ok := t.Lookup(m)
			if !ok {
				continue
			}
			_, op := t.OperatorPrice(m)
			d.Rows = append(d.Rows, priceRow{Model: m, Price: p, Operator: op})
		}
		// Overrides first: they are what the operator sells by.
		slices.SortStableFunc(d.Rows, func(a, b priceRow) int {
			if a.Operator != b.Operator {
				if a.Operator {
					return -1
				}
				return 1
			}
			return 0
		})
		d.Total = len(d.Rows)
		if len(d.Rows) > 500 {
			d.Rows = d.Rows[:500]
		}
		if chs, err := c.api.d.Store.ListChannels(r.Context()); err == nil {
			for _, u := range t.UnpricedRoutes(chs) {
				d.Unpriced = append(d.Unpriced, unpricedRow{u.Channel, u.Model, u.UpstreamModel, u.Glob})
			}
		}
	}
	now := c.api.d.Now().UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	groups, err := c.api.d.Store.SumUsage(r.Context(), gateway.LedgerFilter{Since: today}, gateway.GroupByModel)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	for _, g := range groups {
		if g.Unpriced > 0 || g.CostUnknown > 0 {
			d.Today = append(d.Today, g)
		}
	}
	c.render(w, r, http.StatusOK, "prices", d, pageData{Title: "Prices"})
}

// --- tasks ---

type tasksData struct {
	Available bool
	Tasks     []ConsoleTask
}

func (c *Console) tasks(w http.ResponseWriter, r *http.Request) {
	d := tasksData{Available: c.d.Tasks != nil}
	if d.Available {
		var err error
		if d.Tasks, err = c.d.Tasks.ConsoleTasks(r.Context(), 100); err != nil {
			c.fail(w, r, err)
			return
		}
	}
	c.render(w, r, http.StatusOK, "tasks", d, pageData{Title: "Tasks"})
}

// --- playground ---

type playgroundData struct {
	Models  []string
	Keys    []gateway.Key
	Model   string
	KeyID   int64
	System  string
	Prompt  string
	Answer  string
	Latency time.Duration
	TTFT    time.Duration
	Error   string
	Ran     bool
}

func (c *Console) playgroundData(r *http.Request) playgroundData {
	d := playgroundData{Models: c.d.Models()}
	d.Keys, _ = c.api.d.Store.ListKeys(r.Context())
	return d
}

func (c *Console) playground(w http.ResponseWriter, r *http.Request) {
	d := c.playgroundData(r)
	if len(d.Models) > 0 {
		d.Model = d.Models[0]
	}
	c.render(w, r, http.StatusOK, "playground", d, pageData{Title: "Playground"})
}

// playgroundCall reads the playground form into a hub call billed to the
// chosen key.
func (c *Console) playgroundCall(r *http.Request, d *playgroundData) (relay.HubCall, error) {
	d.Model = strings.TrimSpace(r.PostFormValue("model"))
	d.System = r.PostFormValue("system")
	d.Prompt = r.PostFormValue("prompt")
	id, err := positiveID(r.PostFormValue("key_id"), "key_id")
	if err != nil {
		return relay.HubCall{}, err
	}
	d.KeyID = id
	if d.Model == "" || strings.TrimSpace(d.Prompt) == "" {
		return relay.HubCall{}, badRequest("choose a model and write a prompt")
	}
	if id == 0 {
		return relay.HubCall{}, badRequest("choose the key the call is billed to")
	}
	if c.d.Engine == nil {
		return relay.HubCall{}, badRequest("this console has no engine to send calls through")
	}
	k, err := c.api.d.Store.KeyByID(r.Context(), id)
	if err != nil {
		return relay.HubCall{}, err
	}
	req := &llm.Request{Model: d.Model}
	if strings.TrimSpace(d.System) != "" {
		req.System = []llm.Part{{Type: llm.PartText, Text: d.System}}
	}
	req.Messages = append(req.Messages, llm.Message{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartText, Text: d.Prompt}}})
	return relay.HubCall{Key: &k, Request: req, Endpoint: "console.playground"}, nil
}

// playgroundRun answers the form without JavaScript: the whole answer on
// a new page.
func (c *Console) playgroundRun(w http.ResponseWriter, r *http.Request) {
	d := c.playgroundData(r)
	hc, err := c.playgroundCall(r, &d)
	d.Ran = true
	if err == nil {
		d.Answer, d.Latency, d.TTFT, err = c.generate(r.Context(), hc)
	}
	status := http.StatusOK
	if err != nil {
		d.Error = errText(err)
		status = http.StatusBadRequest
	}
	c.render(w, r, status, "playground", d, pageData{Title: "Playground"})
}

// playgroundStream sends the answer as it comes, as plain text chunks
// (the page's script appends them); an error ends it with a marked line.
func (c *Console) playgroundStream(w http.ResponseWriter, r *http.Request) {
	var d playgroundData
	hc, err := c.playgroundCall(r, &d)
	if err != nil {
		http.Error(w, errText(err), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	for ev, err := range c.d.Engine.Generate(r.Context(), hc) {
		if err != nil {
			fmt.Fprintf(w, "\n\n[error] %s", errText(err))
			_ = rc.Flush()
			return
		}
		if ev.Type == llm.EventTextDelta {
			_, _ = w.Write([]byte(ev.Text))
			_ = rc.Flush()
		}
		if ev.Type == llm.EventError && ev.Err != nil {
			fmt.Fprintf(w, "\n\n[error] %s", ev.Err.Message)
			_ = rc.Flush()
			return
		}
	}
}

// ViewerHashes hashes the config's viewer tokens for ConsoleDeps.
func ViewerHashes(cfg config.Admin, hash func(string) string) []string {
	var out []string
	for _, t := range cfg.ViewerTokens {
		out = append(out, hash(t))
	}
	return out
}
