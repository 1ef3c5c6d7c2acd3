package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"switchboard/internal/gateway"
)

const keyCols = `id, name, hash, prefix, models, budget_nano, spent_nano, reserved_nano,
	rpm, tpm, max_concurrent, enabled, created_at, updated_at, budget_period, period_start`

// scanKey reads a key row, with its spend as of now: a period that ended
// since the last budget operation shows as spent 0.
func (s *Store) scanKey(sc rowScanner) (gateway.Key, error) {
	var (
		k                       gateway.Key
		models, period          string
		created, updated, start dbTime
	)
	err := sc.Scan(&k.ID, &k.Name, &k.Hash, &k.Prefix, &models, &k.BudgetNanoUSD, &k.SpentNanoUSD,
		&k.ReservedNanoUSD, &k.RPM, &k.TPM, &k.MaxConcurrent, &k.Enabled, &created, &updated, &period, &start)
	if err != nil {
		return gateway.Key{}, err
	}
	if k.Models, err = decodeList(models); err != nil {
		return gateway.Key{}, fmt.Errorf("key %d models: %w", k.ID, err)
	}
	k.CreatedAt, k.UpdatedAt = created.t, updated.t
	k.BudgetPeriod, k.PeriodStart = gateway.BudgetPeriod(period), start.t
	s.effectiveSpent(&k)
	return k, nil
}

// periodName stores the zero period as "total".
func periodName(p gateway.BudgetPeriod) string {
	if p == "" {
		return string(gateway.BudgetTotal)
	}
	return string(p)
}

// keyErr maps driver errors to the gateway sentinels.
func keyErr(op string, err error) error {
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("sqlstore: %s: key %w", op, gateway.ErrNotFound)
	case isUniqueViolation(err):
		return fmt.Errorf("sqlstore: %s: key name or secret already exists: %w", op, gateway.ErrConflict)
	}
	return fmt.Errorf("sqlstore: %s: %w", op, err)
}

// KeyByHash finds the key whose secret hashes to hash (hex SHA-256).
func (s *Store) KeyByHash(ctx context.Context, hash string) (gateway.Key, error) {
	k, err := s.scanKey(s.r.QueryRowContext(ctx, s.q(`SELECT `+keyCols+` FROM keys WHERE hash = ?`), hash))
	if err != nil {
		return gateway.Key{}, keyErr("key by hash", err)
	}
	return k, nil
}

// KeyByID returns one key.
func (s *Store) KeyByID(ctx context.Context, id int64) (gateway.Key, error) {
	k, err := s.scanKey(s.r.QueryRowContext(ctx, s.q(`SELECT `+keyCols+` FROM keys WHERE id = ?`), id))
	if err != nil {
		return gateway.Key{}, keyErr(fmt.Sprintf("key %d", id), err)
	}
	return k, nil
}

// ListKeys returns every key, oldest first.
func (s *Store) ListKeys(ctx context.Context) ([]gateway.Key, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+keyCols+` FROM keys ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list keys: %w", err)
	}
	defer rows.Close()
	var out []gateway.Key
	for rows.Next() {
		k, err := s.scanKey(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: list keys: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list keys: %w", err)
	}
	return out, nil
}

func validateKey(k gateway.Key) error {
	if k.Name == "" {
		return errors.New("key has no name")
	}
	if k.BudgetNanoUSD < 0 {
		return fmt.Errorf("key %q: negative budget", k.Name)
	}
	if _, err := gateway.ParseBudgetPeriod(string(k.BudgetPeriod)); err != nil {
		return fmt.Errorf("key %q: %w", k.Name, err)
	}
	return nil
}

// CreateKey inserts k with zero spend. ErrConflict if the name or hash
// exists.
func (s *Store) CreateKey(ctx context.Context, k gateway.Key) (gateway.Key, error) {
	if err := validateKey(k); err != nil {
		return gateway.Key{}, fmt.Errorf("sqlstore: create key: %w", err)
	}
	if k.Hash == "" {
		return gateway.Key{}, fmt.Errorf("sqlstore: create key %q: no secret hash", k.Name)
	}
	var out gateway.Key
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		id, err := s.insertKey(ctx, tx, k)
		if err != nil {
			return err
		}
		out, err = s.keyInTx(ctx, tx, id)
		return err
	})
	if err != nil {
		return gateway.Key{}, keyErr("create key "+k.Name, err)
	}
	return out, nil
}

func (s *Store) insertKey(ctx context.Context, tx *sql.Tx, k gateway.Key) (int64, error) {
	models, err := encodeList(k.Models)
	if err != nil {
		return 0, err
	}
	now := s.nowUTC()
	created := k.CreatedAt
	if created.IsZero() {
		created = now
	}
	var id int64
	err = tx.QueryRowContext(ctx, s.q(`INSERT INTO keys
		(name, hash, prefix, models, budget_nano, spent_nano, reserved_nano, rpm, tpm, max_concurrent, enabled, created_at, updated_at,
		budget_period)
		VALUES (?, ?, ?, ?, ?, 0, 0, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		k.Name, k.Hash, k.Prefix, models, k.BudgetNanoUSD, k.RPM, k.TPM, k.MaxConcurrent, k.Enabled,
		s.ts(created), s.ts(now), periodName(k.BudgetPeriod)).Scan(&id)
	return id, err
}

func (s *Store) keyInTx(ctx context.Context, tx *sql.Tx, id int64) (gateway.Key, error) {
	return s.scanKey(tx.QueryRowContext(ctx, s.q(`SELECT `+keyCols+` FROM keys WHERE id = ?`), id))
}

// updateKeyRow writes k's settings to row id, leaving spend counters alone
// and keeping the stored hash and prefix when k.Hash is empty.
func (s *Store) updateKeyRow(ctx context.Context, tx *sql.Tx, id int64, k gateway.Key) error {
	models, err := encodeList(k.Models)
	if err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, s.q(`UPDATE keys SET
		name = ?,
		hash = CASE WHEN ? = '' THEN hash ELSE ? END,
		prefix = CASE WHEN ? = '' THEN prefix ELSE ? END,
		models = ?, budget_nano = ?, rpm = ?, tpm = ?, max_concurrent = ?, enabled = ?, updated_at = ?,
		budget_period = ?
		WHERE id = ?`),
		k.Name, k.Hash, k.Hash, k.Hash, k.Prefix,
		models, k.BudgetNanoUSD, k.RPM, k.TPM, k.MaxConcurrent, k.Enabled, s.ts(s.nowUTC()), periodName(k.BudgetPeriod), id)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return sql.ErrNoRows
	}
	return nil
}

// UpsertKey inserts or updates the key named k.Name (config seeding). It
// never touches spend counters and keeps the stored hash when k.Hash is
// empty; a new key needs a hash.
func (s *Store) UpsertKey(ctx context.Context, k gateway.Key) (gateway.Key, error) {
	if err := validateKey(k); err != nil {
		return gateway.Key{}, fmt.Errorf("sqlstore: upsert key: %w", err)
	}
	var out gateway.Key
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, s.q(`SELECT id FROM keys WHERE name = ?`+s.forUpdate()), k.Name).Scan(&id)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			if k.Hash == "" {
				return fmt.Errorf("new key %q has no secret hash", k.Name)
			}
			if id, err = s.insertKey(ctx, tx, k); err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			if err := s.updateKeyRow(ctx, tx, id, k); err != nil {
				return err
			}
		}
		out, err = s.keyInTx(ctx, tx, id)
		return err
	})
	if err != nil {
		return gateway.Key{}, keyErr("upsert key "+k.Name, err)
	}
	return out, nil
}

// UpdateKey changes key k.ID's settings (name, hash when non-empty, models,
// budget, limits, enabled). Spend counters are not touched.
func (s *Store) UpdateKey(ctx context.Context, k gateway.Key) (gateway.Key, error) {
	if err := validateKey(k); err != nil {
		return gateway.Key{}, fmt.Errorf("sqlstore: update key: %w", err)
	}
	var out gateway.Key
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.updateKeyRow(ctx, tx, k.ID, k); err != nil {
			return err
		}
		var err error
		out, err = s.keyInTx(ctx, tx, k.ID)
		return err
	})
	if err != nil {
		return gateway.Key{}, keyErr(fmt.Sprintf("update key %d", k.ID), err)
	}
	return out, nil
}

// DeleteKey removes a key and its open reservations. Its ledger rows stay.
func (s *Store) DeleteKey(ctx context.Context, id int64) error {
	res, err := s.w.ExecContext(ctx, s.q(`DELETE FROM keys WHERE id = ?`), id)
	if err != nil {
		return keyErr(fmt.Sprintf("delete key %d", id), err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return keyErr(fmt.Sprintf("delete key %d", id), err)
	} else if n == 0 {
		return keyErr(fmt.Sprintf("delete key %d", id), sql.ErrNoRows)
	}
	return nil
}
