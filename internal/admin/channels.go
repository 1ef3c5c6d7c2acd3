package admin

import (
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"switchboard/internal/config"
	"switchboard/internal/gateway"
	"switchboard/internal/rules"
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

// validateChannel checks c by the rules the config file applies too
// (internal/rules), and fills in the type's default base URL.
func validateChannel(c *gateway.Channel) error {
	if err := rules.Name(c.Name); err != nil {
		return badRequest("name: %v", err)
	}
	if err := rules.ChannelType(c.Type); err != nil {
		return badRequest("type: %v", err)
	}
	base, err := rules.BaseURL(c.Type, c.BaseURL)
	if err != nil {
		return badRequest("base_url: %v", err)
	}
	c.BaseURL = base

	if len(c.APIKeys) == 0 && rules.NeedsAPIKey(c.Type) {
		return badRequest("api_keys: at least one key is required for type %s", c.Type)
	}
	if len(c.APIKeys) > maxAPIKeys {
		return badRequest("api_keys: at most %d keys", maxAPIKeys)
	}
	for i, k := range c.APIKeys {
		if err := rules.UpstreamKey(k); err != nil {
			return badRequest("api_keys[%d]: %v", i, err)
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
		if _, err := rules.ModelPattern(from); err != nil {
			return badRequest("model_map: %v", err)
		}
		if err := rules.ModelMapTarget(to); err != nil {
			return badRequest("model_map.%s: %v", from, err)
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
		if err := rules.HeaderName(name); err != nil {
			return badRequest("headers: %v", err)
		}
		if err := rules.HeaderValue(v); err != nil {
			return badRequest("headers.%s: %v", name, err)
		}
	}

	if len(c.Settings) > maxMapEntries {
		return badRequest("settings: at most %d entries", maxMapEntries)
	}
	for name, v := range c.Settings {
		if err := rules.Setting(c.Type, name, v); err != nil {
			return badRequest("settings.%s: %v", name, err)
		}
	}
	return nil
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
