package admin

import (
	"net/http"
	"slices"
	"time"

	"switchboard/internal/gateway"
	"switchboard/internal/rules"
)

// maxModels bounds an allow-list. The rules a key shares with the config
// file and the CLI (names, secrets, budgets, limits) are in internal/rules.
const maxModels = 1000

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
		if err := rules.Name(*p.Name); err != nil {
			return badRequest("name: %v", err)
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
		if err := rules.BudgetUSD(*p.BudgetUSD); err != nil {
			return badRequest("budget_usd: %v", err)
		}
		k.BudgetNanoUSD = gateway.NanoUSD(*p.BudgetUSD)
	case p.BudgetNanoUSD != nil:
		b := *p.BudgetNanoUSD
		if b < 0 || b > gateway.NanoUSD(rules.MaxBudgetUSD) {
			return badRequest("budget_nano_usd: must be between 0 (unlimited) and %d", gateway.NanoUSD(rules.MaxBudgetUSD))
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
		if err := rules.Limit(int64(*f.v)); err != nil {
			return badRequest("%s: %v", f.name, err)
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

// checkModels validates a model allow-list (globs as path.Match accepts).
func checkModels(models []string, field string) ([]string, error) {
	if len(models) > maxModels {
		return nil, badRequest("%s: at most %d entries", field, maxModels)
	}
	out := make([]string, 0, len(models))
	for i, m := range models {
		m, err := rules.ModelPattern(m)
		if err != nil {
			return nil, badRequest("%s[%d]: %v", field, i, err)
		}
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out, nil
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
	secret := rules.MintKey()
	if p.Key != nil {
		if err := rules.Secret(*p.Key); err != nil {
			a.fail(w, r, badRequest("key: %v", err))
			return
		}
		secret = *p.Key
	}
	k.Hash, k.Prefix = a.d.HashKey(secret), rules.DisplayPrefix(secret)
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
