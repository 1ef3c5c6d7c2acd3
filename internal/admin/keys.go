package admin

import (
	"crypto/rand"
	"encoding/hex"
	"math"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	"switchboard/internal/gateway"
)

// Bounds shared with the config file (internal/config), so a key the file
// accepts the API accepts too.
const (
	maxBudgetUSD = 1e9 // $1 billion per key: far inside int64 nano-USD
	minSecretLen = 16
	maxNameLen   = 64
	maxModels    = 1000

	// generatedPrefix marks keys Switchboard minted, so leaked ones are
	// recognisable by secret scanners.
	generatedPrefix = "sk-sb-"
)

// keyJSON is a client key as the API shows it: never the secret or its
// hash, only the prefix. Key is set once, in the creation response.
type keyJSON struct {
	ID              int64      `json:"id"`
	Object          string     `json:"object"`
	Name            string     `json:"name"`
	Key             string     `json:"key,omitempty"`
	Prefix          string     `json:"prefix"`
	Models          []string   `json:"models"`
	BudgetNanoUSD   int64      `json:"budget_nano_usd"`
	BudgetUSD       float64    `json:"budget_usd"`
	SpentNanoUSD    int64      `json:"spent_nano_usd"`
	SpentUSD        float64    `json:"spent_usd"`
	ReservedNanoUSD int64      `json:"reserved_nano_usd"`
	ReservedUSD     float64    `json:"reserved_usd"`
	BudgetPeriod    string     `json:"budget_period"`
	PeriodStart     *time.Time `json:"period_start,omitempty"`
	RPM             int        `json:"rpm"`
	TPM             int        `json:"tpm"`
	MaxConcurrent   int        `json:"max_concurrent"`
	Enabled         bool       `json:"enabled"`
	CreatedAt       time.Time  `json:"created_at"`
	UpdatedAt       time.Time  `json:"updated_at"`
}

func toKeyJSON(k gateway.Key) keyJSON {
	models := k.Models
	if models == nil {
		models = []string{}
	}
	return keyJSON{
		ID: k.ID, Object: "key", Name: k.Name, Prefix: k.Prefix, Models: models,
		BudgetNanoUSD: k.BudgetNanoUSD, BudgetUSD: usd(k.BudgetNanoUSD),
		SpentNanoUSD: k.SpentNanoUSD, SpentUSD: usd(k.SpentNanoUSD),
		ReservedNanoUSD: k.ReservedNanoUSD, ReservedUSD: usd(k.ReservedNanoUSD),
		BudgetPeriod: periodOrTotal(k.BudgetPeriod), PeriodStart: timePtr(k.PeriodStart),
		RPM: k.RPM, TPM: k.TPM, MaxConcurrent: k.MaxConcurrent, Enabled: k.Enabled,
		CreatedAt: k.CreatedAt.UTC(), UpdatedAt: k.UpdatedAt.UTC(),
	}
}

// keyPatch is the body of POST (create) and PATCH (update) on keys. Every
// field is a pointer so an absent field (or null) means "unchanged" in a
// PATCH and "default" in a create.
type keyPatch struct {
	Name          *string   `json:"name"`
	Key           *string   `json:"key"` // create only: a fixed secret
	Models        *[]string `json:"models"`
	BudgetUSD     *float64  `json:"budget_usd"`
	BudgetNanoUSD *int64    `json:"budget_nano_usd"`
	BudgetPeriod  *string   `json:"budget_period"`
	RPM           *int      `json:"rpm"`
	TPM           *int      `json:"tpm"`
	MaxConcurrent *int      `json:"max_concurrent"`
	Enabled       *bool     `json:"enabled"`
}

// apply validates p and writes its fields into k.
func (p *keyPatch) apply(k *gateway.Key) error {
	if p.Name != nil {
		if err := checkName(*p.Name); err != nil {
			return err
		}
		k.Name = *p.Name
	}
	if p.Models != nil {
		m, err := checkModels(*p.Models, "models")
		if err != nil {
			return err
		}
		k.Models = m
	}
	switch {
	case p.BudgetUSD != nil && p.BudgetNanoUSD != nil:
		return badRequest("budget_usd and budget_nano_usd: set one, not both")
	case p.BudgetUSD != nil:
		b := *p.BudgetUSD
		if b < 0 || b > maxBudgetUSD || math.IsNaN(b) {
			return badRequest("budget_usd: must be between 0 (unlimited) and %g", float64(maxBudgetUSD))
		}
		k.BudgetNanoUSD = gateway.NanoUSD(b)
	case p.BudgetNanoUSD != nil:
		b := *p.BudgetNanoUSD
		if b < 0 || b > gateway.NanoUSD(maxBudgetUSD) {
			return badRequest("budget_nano_usd: must be between 0 (unlimited) and %d", gateway.NanoUSD(maxBudgetUSD))
		}
		k.BudgetNanoUSD = b
	}
	if p.BudgetPeriod != nil {
		period, err := gateway.ParseBudgetPeriod(*p.BudgetPeriod)
		if err != nil {
			return badRequest("budget_period: %v", err)
		}
		k.BudgetPeriod = period
	}
	for _, f := range []struct {
		name string
		v    *int
		dst  *int
	}{
		{"rpm", p.RPM, &k.RPM},
		{"tpm", p.TPM, &k.TPM},
		{"max_concurrent", p.MaxConcurrent, &k.MaxConcurrent},
	} {
		if f.v == nil {
			continue
		}
		if *f.v < 0 || *f.v > math.MaxInt32 {
			return badRequest("%s: must be between 0 (unlimited) and %d", f.name, math.MaxInt32)
		}
		*f.dst = *f.v
	}
	if p.Enabled != nil {
		k.Enabled = *p.Enabled
	}
	return nil
}

func periodOrTotal(p gateway.BudgetPeriod) string {
	if p == "" {
		return string(gateway.BudgetTotal)
	}
	return string(p)
}

func checkName(name string) error {
	if name == "" {
		return badRequest("name: required")
	}
	if len(name) > maxNameLen {
		return badRequest("name: at most %d characters", maxNameLen)
	}
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return badRequest("name: invalid %q (use letters, digits, '.', '_' or '-')", name)
		}
	}
	return nil
}

// checkModels validates a model allow-list (globs as path.Match accepts).
func checkModels(models []string, field string) ([]string, error) {
	if len(models) > maxModels {
		return nil, badRequest("%s: at most %d entries", field, maxModels)
	}
	out := make([]string, 0, len(models))
	for i, m := range models {
		m = strings.TrimSpace(m)
		if m == "" {
			return nil, badRequest("%s[%d]: empty model name", field, i)
		}
		if _, err := path.Match(m, ""); err != nil {
			return nil, badRequest("%s[%d]: invalid glob %q", field, i, m)
		}
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out, nil
}

// newSecret mints a client key: the marker prefix and 192 random bits.
func newSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return generatedPrefix + hex.EncodeToString(b)
}

// secretPrefix is the part of a secret shown in listings: enough to tell
// keys apart, too little to matter (16 random bits of a generated key, at
// most a quarter of a fixed one).
func secretPrefix(s string) string {
	n := len(generatedPrefix) + 4
	if !strings.HasPrefix(s, generatedPrefix) {
		n = min(n, len(s)/4)
	}
	return s[:min(n, len(s))]
}

func checkSecret(s string) error {
	switch {
	case len(s) < minSecretLen:
		return badRequest("key: must be at least %d characters (or omit it to have one generated)", minSecretLen)
	case len(s) > 256:
		return badRequest("key: at most 256 characters")
	case strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return badRequest("key: must not contain whitespace or control characters")
	}
	return nil
}

func (a *API) listKeys(w http.ResponseWriter, r *http.Request) {
	keys, err := a.d.Store.ListKeys(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]keyJSON, len(keys))
	for i, k := range keys {
		out[i] = toKeyJSON(k)
	}
	writeJSON(w, http.StatusOK, newList(out))
}

func (a *API) createKey(w http.ResponseWriter, r *http.Request) {
	var p keyPatch
	if err := a.readJSON(w, r, &p); err != nil {
		a.fail(w, r, err)
		return
	}
	if p.Name == nil {
		a.fail(w, r, badRequest("name: required"))
		return
	}
	k := gateway.Key{Models: []string{"*"}, Enabled: true}
	if err := p.apply(&k); err != nil {
		a.fail(w, r, err)
		return
	}
	secret := newSecret()
	if p.Key != nil {
		if err := checkSecret(*p.Key); err != nil {
			a.fail(w, r, err)
			return
		}
		secret = *p.Key
	}
	k.Hash, k.Prefix = a.d.HashKey(secret), secretPrefix(secret)
	created, err := a.d.Store.CreateKey(r.Context(), k)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.d.Log.InfoContext(r.Context(), "admin: key created", "key_id", created.ID, "name", created.Name)
	a.changed(r, TopicKeys)
	out := toKeyJSON(created)
	out.Key = secret // the only time the secret leaves the server
	writeJSON(w, http.StatusCreated, out)
}

func (a *API) getKey(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	k, err := a.d.Store.KeyByID(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toKeyJSON(k))
}

func (a *API) patchKey(w http.ResponseWriter, r *http.Request) {
	var p keyPatch
	if err := a.readJSON(w, r, &p); err != nil {
		a.fail(w, r, err)
		return
	}
	if p.Key != nil {
		a.fail(w, r, badRequest("key: a key's secret cannot be changed; create a new key instead"))
		return
	}
	a.updateKey(w, r, p.apply)
}

func (a *API) setKeyEnabled(enabled bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a.updateKey(w, r, func(k *gateway.Key) error { k.Enabled = enabled; return nil })
	}
}

// updateKey is read-modify-write of key {id}. Two admins editing one key
// at the same moment: the last write wins, field by field of what it read.
func (a *API) updateKey(w http.ResponseWriter, r *http.Request, edit func(*gateway.Key) error) {
	id, err := pathID(r, "id")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	k, err := a.d.Store.KeyByID(r.Context(), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := edit(&k); err != nil {
		a.fail(w, r, err)
		return
	}
	k.Hash, k.Prefix = "", "" // keep the stored secret
	updated, err := a.d.Store.UpdateKey(r.Context(), k)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.d.Log.InfoContext(r.Context(), "admin: key updated", "key_id", updated.ID, "name", updated.Name, "enabled", updated.Enabled)
	a.changed(r, TopicKeys)
	writeJSON(w, http.StatusOK, toKeyJSON(updated))
}

func (a *API) deleteKey(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.d.Store.DeleteKey(r.Context(), id); err != nil {
		a.fail(w, r, err)
		return
	}
	a.d.Log.InfoContext(r.Context(), "admin: key deleted", "key_id", id)
	a.changed(r, TopicKeys)
	writeJSON(w, http.StatusOK, deleted{ID: id, Object: "key", Deleted: true})
}

// deleted is the answer to a DELETE.
type deleted struct {
	ID      int64  `json:"id"`
	Object  string `json:"object"`
	Deleted bool   `json:"deleted"`
}
