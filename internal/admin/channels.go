package admin

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"switchboard/internal/config"
	"switchboard/internal/gateway"
	"switchboard/internal/pricing"
)

const (
	maxAPIKeys    = 256
	maxMapEntries = 256
	maxTimeout    = 24 * time.Hour
)

// channelJSON is a channel as the API shows it. Upstream API keys never
// leave the server: only their count and a masked last-4 form. Header
// values that look like credentials are masked the same way.
type channelJSON struct {
	ID            int64             `json:"id"`
	Object        string            `json:"object"`
	Name          string            `json:"name"`
	Type          string            `json:"type"`
	BaseURL       string            `json:"base_url"`
	APIKeyCount   int               `json:"api_key_count"`
	APIKeysMasked []string          `json:"api_keys_masked"`
	Models        []string          `json:"models"`
	ModelMap      map[string]string `json:"model_map"`
	Priority      int               `json:"priority"`
	Weight        int               `json:"weight"`
	Headers       map[string]string `json:"headers"`
	Timeout       string            `json:"timeout"`
	Enabled       bool              `json:"enabled"`
	Settings      map[string]string `json:"settings"`
	Source        string            `json:"source"`
	UpdatedAt     time.Time         `json:"updated_at"`
}

func toChannelJSON(c gateway.Channel) channelJSON {
	masked := make([]string, len(c.APIKeys))
	for i, k := range c.APIKeys {
		masked[i] = mask(k)
	}
	headers := make(map[string]string, len(c.Headers))
	for name, v := range c.Headers {
		if sensitiveHeader(name) {
			v = mask(v)
		}
		headers[name] = v
	}
	return channelJSON{
		ID: c.ID, Object: "channel", Name: c.Name, Type: string(c.Type), BaseURL: c.BaseURL,
		APIKeyCount: len(c.APIKeys), APIKeysMasked: masked,
		Models: nonNil(c.Models), ModelMap: nonNilMap(c.ModelMap),
		Priority: c.Priority, Weight: c.Weight, Headers: headers,
		Timeout: c.Timeout.String(), Enabled: c.Enabled, Settings: nonNilMap(c.Settings),
		Source: c.Source, UpdatedAt: c.UpdatedAt.UTC(),
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// mask shows the last four characters of a credential, and nothing of a
// short one (where four characters would be a large part of it).
func mask(s string) string {
	if len(s) < 12 {
		return "****"
	}
	return "****" + s[len(s)-4:]
}

// sensitiveHeader reports whether a header's value is likely a credential.
func sensitiveHeader(name string) bool {
	n := strings.ToLower(name)
	for _, w := range []string{"auth", "key", "token", "secret", "cookie", "password", "signature"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// channelPatch is the body of POST (create) and PATCH (update) on
// channels; absent (or null) fields mean "default" or "unchanged". Maps and
// lists replace the stored value as a whole.
type channelPatch struct {
	Name     *string            `json:"name"`
	Type     *string            `json:"type"`
	BaseURL  *string            `json:"base_url"`
	APIKeys  *[]string          `json:"api_keys"`
	Models   *[]string          `json:"models"`
	ModelMap *map[string]string `json:"model_map"`
	Priority *int               `json:"priority"`
	Weight   *int               `json:"weight"`
	Headers  *map[string]string `json:"headers"`
	Timeout  *string            `json:"timeout"`
	Enabled  *bool              `json:"enabled"`
	Settings *map[string]string `json:"settings"`
}

// apply writes p into c and validates the result as a whole, so a PATCH
// cannot leave a channel that a create would refuse.
func (p *channelPatch) apply(c *gateway.Channel) error {
	if p.Name != nil {
		c.Name = *p.Name
	}
	if p.Type != nil {
		c.Type = gateway.ChannelType(*p.Type)
	}
	if p.BaseURL != nil {
		c.BaseURL = strings.TrimRight(strings.TrimSpace(*p.BaseURL), "/")
	}
	if p.APIKeys != nil {
		c.APIKeys = slices.Clone(*p.APIKeys)
	}
	if p.Models != nil {
		c.Models = *p.Models
	}
	if p.ModelMap != nil {
		c.ModelMap = *p.ModelMap
	}
	if p.Priority != nil {
		c.Priority = *p.Priority
	}
	if p.Weight != nil {
		c.Weight = *p.Weight
	}
	if p.Headers != nil {
		// A masked value sent back as it was read (GET, edit, PATCH)
		// keeps the stored credential instead of overwriting it.
		h := make(map[string]string, len(*p.Headers))
		for name, v := range *p.Headers {
			if old, ok := c.Headers[name]; ok && sensitiveHeader(name) && v == mask(old) {
				v = old
			}
			h[name] = v
		}
		c.Headers = h
	}
	if p.Timeout != nil {
		d, err := time.ParseDuration(strings.TrimSpace(*p.Timeout))
		if err != nil || d < 0 || d > maxTimeout {
			return badRequest("timeout: want a duration such as \"30s\" or \"2m\" between 0 (default) and %s", maxTimeout)
		}
		c.Timeout = d
	}
	if p.Enabled != nil {
		c.Enabled = *p.Enabled
	}
	if p.Settings != nil {
		c.Settings = *p.Settings
	}
	return validateChannel(c)
}

func validateChannel(c *gateway.Channel) error {
	if err := checkName(c.Name); err != nil {
		return err
	}
	if !slices.Contains(gateway.ChannelTypes, c.Type) {
		return badRequest("type: unknown channel type %q (want one of %s)", c.Type, typeList())
	}
	if c.BaseURL == "" {
		c.BaseURL = config.DefaultBaseURLs[c.Type]
	}
	if c.BaseURL == "" {
		switch c.Type {
		case gateway.ChannelAzure, gateway.ChannelOpenAICompatible, gateway.ChannelMidjourney:
			return badRequest("base_url: required for type %s", c.Type)
		}
	} else if err := checkBaseURL(c.BaseURL); err != nil {
		return err
	}

	if len(c.APIKeys) == 0 && c.Type != gateway.ChannelSimulator {
		return badRequest("api_keys: at least one key is required for type %s", c.Type)
	}
	if len(c.APIKeys) > maxAPIKeys {
		return badRequest("api_keys: at most %d keys", maxAPIKeys)
	}
	for i, k := range c.APIKeys {
		switch {
		case strings.TrimSpace(k) == "":
			return badRequest("api_keys[%d]: empty key", i)
		case strings.ContainsFunc(k, func(r rune) bool { return r <= ' ' || r == 0x7f }):
			return badRequest("api_keys[%d]: key contains whitespace or control characters", i)
		}
	}

	models, err := checkModels(c.Models, "models")
	if err != nil {
		return err
	}
	if len(models) == 0 {
		return badRequest("models: at least one model is required (globs such as \"gpt-4o*\" or \"*\" are allowed)")
	}
	c.Models = models

	if len(c.ModelMap) > maxMapEntries {
		return badRequest("model_map: at most %d entries", maxMapEntries)
	}
	for from, to := range c.ModelMap {
		if strings.TrimSpace(from) == "" || strings.TrimSpace(to) == "" {
			return badRequest("model_map: empty model name in %q -> %q", from, to)
		}
	}

	if c.Priority < math.MinInt32 || c.Priority > math.MaxInt32 {
		return badRequest("priority: out of range")
	}
	if c.Weight < 0 || c.Weight > math.MaxInt32 {
		return badRequest("weight: must be between 0 and %d", math.MaxInt32)
	}

	if len(c.Headers) > maxMapEntries {
		return badRequest("headers: at most %d entries", maxMapEntries)
	}
	for name, v := range c.Headers {
		if !validHeaderName(name) {
			return badRequest("headers: invalid header name %q", name)
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return badRequest("headers.%s: value contains a line break", name)
		}
	}

	if len(c.Settings) > maxMapEntries {
		return badRequest("settings: at most %d entries", maxMapEntries)
	}
	for name, v := range c.Settings {
		if err := checkSetting(c.Type, name, v); err != nil {
			return err
		}
	}
	return nil
}

// checkSetting validates the settings Switchboard itself reads, like the
// config file does; others pass through to the upstream adaptor.
func checkSetting(typ gateway.ChannelType, name, v string) error {
	switch name {
	case "":
		return badRequest("settings: empty setting name")
	case "latency":
		if typ == gateway.ChannelSimulator {
			if d, err := time.ParseDuration(v); err != nil || d < 0 {
				return badRequest("settings.latency: want a duration such as \"200ms\"")
			}
		}
	case "tokens_per_second":
		if typ == gateway.ChannelSimulator {
			if f, err := strconv.ParseFloat(v, 64); err != nil || !(f > 0 && f <= 1e9) {
				return badRequest("settings.tokens_per_second: want a positive number")
			}
		}
	case "api_version":
		if strings.TrimSpace(v) == "" {
			return badRequest("settings.api_version: must not be empty")
		}
	case pricing.MultiplierSetting:
		if _, err := pricing.ParseMultiplier(v); err != nil {
			return badRequest("settings.%s: %v", name, err)
		}
	}
	return nil
}

func typeList() string {
	names := make([]string, len(gateway.ChannelTypes))
	for i, t := range gateway.ChannelTypes {
		names[i] = string(t)
	}
	return strings.Join(names, ", ")
}

func checkBaseURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return badRequest("base_url: invalid URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return badRequest("base_url: want http:// or https://")
	case u.Host == "":
		return badRequest("base_url: no host")
	case u.User != nil:
		return badRequest("base_url: credentials belong in api_keys or headers, not the URL")
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return badRequest("base_url: no query or fragment allowed")
	}
	return nil
}

// validHeaderName accepts RFC 9110 token characters.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func (a *API) listChannels(w http.ResponseWriter, r *http.Request) {
	chs, err := a.d.Store.ListChannels(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]channelJSON, len(chs))
	for i, c := range chs {
		out[i] = toChannelJSON(c)
	}
	writeJSON(w, http.StatusOK, newList(out))
}

func (a *API) createChannel(w http.ResponseWriter, r *http.Request) {
	var p channelPatch
	if err := a.readJSON(w, r, &p); err != nil {
		a.fail(w, r, err)
		return
	}
	c := gateway.Channel{
		Weight:  config.DefaultWeight,
		Timeout: config.DefaultChannelTimeout,
		Enabled: true,
		Source:  "admin",
	}
	if err := p.apply(&c); err != nil {
		a.fail(w, r, err)
		return
	}
	// The store only upserts channels by name; refuse to overwrite an
	// existing one. Two concurrent creates of one name can still race to
	// an upsert, which leaves one channel, not two.
	existing, err := a.d.Store.ListChannels(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	for _, e := range existing {
		if e.Name == c.Name {
			a.fail(w, r, errorf(http.StatusConflict, "a channel named %q already exists (id %d)", c.Name, e.ID))
			return
		}
	}
	created, err := a.d.Store.UpsertChannel(r.Context(), c)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	// An id reused after a delete must not inherit the old channel's health.
	a.resetHealth(r, created.ID)
	a.d.Log.InfoContext(r.Context(), "admin: channel created", "channel_id", created.ID, "name", created.Name)
	a.changed(r, TopicChannels)
	writeJSON(w, http.StatusCreated, toChannelJSON(created))
}

func (a *API) getChannel(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	c, err := a.d.Store.ChannelByID(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toChannelJSON(c))
}

func (a *API) patchChannel(w http.ResponseWriter, r *http.Request) {
	var p channelPatch
	if err := a.readJSON(w, r, &p); err != nil {
		a.fail(w, r, err)
		return
	}
	a.updateChannel(w, r, p.apply)
}

func (a *API) setChannelEnabled(enabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a.updateChannel(w, r, func(c *gateway.Channel) error { c.Enabled = enabled; return nil })
	}
}

// updateChannel is read-modify-write of channel {id}; the edited channel's
// health starts fresh, so new keys or a fixed URL are tried at once.
func (a *API) updateChannel(w http.ResponseWriter, r *http.Request, edit func(*gateway.Channel) error) {
	id, err := pathID(r, "id")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	c, err := a.d.Store.ChannelByID(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := edit(&c); err != nil {
		a.fail(w, r, err)
		return
	}
	updated, err := a.d.Store.UpdateChannel(r.Context(), c)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.resetHealth(r, id)
	a.d.Log.InfoContext(r.Context(), "admin: channel updated", "channel_id", id, "name", updated.Name, "enabled", updated.Enabled)
	a.changed(r, TopicChannels)
	writeJSON(w, http.StatusOK, toChannelJSON(updated))
}

func (a *API) deleteChannel(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.d.Store.DeleteChannel(r.Context(), id); err != nil {
		a.fail(w, r, err)
		return
	}
	a.resetHealth(r, id)
	a.d.Log.InfoContext(r.Context(), "admin: channel deleted", "channel_id", id)
	a.changed(r, TopicChannels)
	writeJSON(w, http.StatusOK, deleted{ID: id, Object: "channel", Deleted: true})
}

// resetHealth clears a channel's breaker after the change is stored. A
// failure is logged, not returned: the change itself succeeded, and stale
// health heals on its own when the breaker's cooldown ends.
func (a *API) resetHealth(r *http.Request, id int64) {
	if a.d.ResetChannel == nil {
		return
	}
	if err := a.d.ResetChannel(r.Context(), id); err != nil {
		a.d.Log.WarnContext(r.Context(), "admin: reset channel health", "channel_id", id, "err", err)
	}
}

func (a *API) enableUpstreamKey(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	c, err := a.d.Store.ChannelByID(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	idx, err := strconv.Atoi(r.PathValue("index"))
	if err != nil || idx < 0 || idx >= len(c.APIKeys) {
		a.fail(w, r, errorf(http.StatusNotFound, "channel %d has no key index %q (it has %d keys, indexed from 0)",
			id, r.PathValue("index"), len(c.APIKeys)))
		return
	}
	if a.d.EnableKey == nil {
		a.fail(w, r, errorf(http.StatusNotImplemented, "this node does not track upstream key health"))
		return
	}
	if err := a.d.EnableKey(r.Context(), id, idx); err != nil {
		a.fail(w, r, fmt.Errorf("enable key %d of channel %d: %w", idx, id, err))
		return
	}
	a.d.Log.InfoContext(r.Context(), "admin: upstream key back in rotation", "channel_id", id, "key_index", idx)
	writeJSON(w, http.StatusOK, keyHealthJSON{Index: idx, State: gateway.KeyStateOK, KeyMasked: mask(c.APIKeys[idx])})
}
