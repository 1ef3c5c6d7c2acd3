package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"switchboard/internal/gateway"
	"switchboard/internal/secret"
)

// secretCheckSetting holds a value sealed with the deployment's key, so a
// node started with another SWITCHBOARD_SECRET (or another data/secret.key)
// is refused before it reads — or worse, re-seals — anything: each node
// would otherwise seal channels with its own key, and one node, unable to
// read what the others wrote, would keep serving a stale set.
const (
	secretCheckSetting = "secret_check"
	secretCheckAAD     = "setting/" + secretCheckSetting
	secretCheckPlain   = "switchboard deployment secret"
)

// ErrWrongSecret wraps secret.ErrWrongKey when the store's sealed values
// were made with another key than the node's.
var ErrWrongSecret = errors.New("sqlstore: this database was sealed with another key: every node, and the CLI, must run with the same SWITCHBOARD_SECRET (a single node without it uses data/secret.key, which must be kept)")

func wrongSecret(err error) error { return fmt.Errorf("%w: %w", ErrWrongSecret, err) }

// checkSecret fails closed when the node's key is not the deployment's.
// A database without the check value (new, or from an older release) gets
// one once every stored channel is known to open with the node's key.
func (s *Store) checkSecret(ctx context.Context) error {
	v, err := s.GetSetting(ctx, secretCheckSetting)
	if err == nil {
		return s.openCheck(v)
	}
	if !errors.Is(err, gateway.ErrNotFound) {
		return err
	}
	if _, err := s.ListChannels(ctx); err != nil {
		if errors.Is(err, secret.ErrWrongKey) {
			return wrongSecret(err)
		}
		return err
	}
	sealed, err := s.box.Seal([]byte(secretCheckPlain), secretCheckAAD)
	if err != nil {
		return err
	}
	if _, err := s.w.ExecContext(ctx, s.q(`INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`),
		secretCheckSetting, sealed); err != nil {
		return fmt.Errorf("sqlstore: store the secret check: %w", err)
	}
	// Another node may have stored its own first: what counts is what is stored.
	if v, err = s.GetSetting(ctx, secretCheckSetting); err != nil {
		return err
	}
	return s.openCheck(v)
}

func (s *Store) openCheck(v string) error {
	plain, err := s.box.Open(v, secretCheckAAD)
	if err != nil {
		return wrongSecret(err)
	}
	if string(plain) != secretCheckPlain {
		return wrongSecret(secret.ErrWrongKey)
	}
	return nil
}

// resealLegacy seals again, bound to their rows, the credentials an older
// release stored (API keys sealed without a binding, headers in plain
// text). A row changed meanwhile is left to its writer, who sealed it
// the current way.
func (s *Store) resealLegacy(ctx context.Context) (int, error) {
	type row struct {
		id        int64
		keys, hdr string
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, api_keys, headers FROM channels`)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: reseal channels: %w", err)
	}
	var old []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.keys, &r.hdr); err != nil {
			rows.Close()
			return 0, fmt.Errorf("sqlstore: reseal channels: %w", err)
		}
		if secret.NeedsReseal(r.keys) || secret.NeedsReseal(r.hdr) || !secret.IsSealed(r.hdr) {
			old = append(old, r)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("sqlstore: reseal channels: %w", err)
	}
	done := 0
	for _, r := range old {
		keys, hdr, err := s.openSecrets(r.id, r.keys, r.hdr)
		if err != nil {
			return done, fmt.Errorf("sqlstore: reseal channel %d: %w", r.id, err)
		}
		sk, sh, err := s.sealSecrets(r.id, keys, hdr)
		if err != nil {
			return done, fmt.Errorf("sqlstore: reseal channel %d: %w", r.id, err)
		}
		res, err := s.w.ExecContext(ctx, s.q(`UPDATE channels SET api_keys = ?, headers = ? WHERE id = ? AND api_keys = ? AND headers = ?`),
			sk, sh, r.id, r.keys, r.hdr)
		if err != nil {
			return done, fmt.Errorf("sqlstore: reseal channel %d: %w", r.id, err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			done++
		}
	}
	return done, nil
}
