package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"switchboard/internal/gateway"
)

// lockKey reads a key's budget counters, locking its row for the rest of
// the transaction. Every budget method locks the key first, so they all
// take locks in the same order and cannot deadlock each other.
func (s *Store) lockKey(ctx context.Context, tx *sql.Tx, keyID int64) (budget, spent, reserved int64, err error) {
	err = tx.QueryRowContext(ctx,
		s.q(`SELECT budget_nano, spent_nano, reserved_nano FROM keys WHERE id = ?`+s.forUpdate()), keyID).
		Scan(&budget, &spent, &reserved)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, 0, fmt.Errorf("key %d %w", keyID, gateway.ErrNotFound)
	}
	return budget, spent, reserved, err
}

// Reserve holds up to amount nano-USD for requestID against keyID; see
// gateway.Budget. A key with no budget records nothing. A repeated Reserve
// of a request id that is reserved or settled already is a no-op.
func (s *Store) Reserve(ctx context.Context, keyID int64, requestID string, amount int64) error {
	if requestID == "" {
		return errors.New("sqlstore: reserve: empty request id")
	}
	if amount < 0 {
		return fmt.Errorf("sqlstore: reserve %s: negative amount %d", requestID, amount)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		budget, spent, reserved, err := s.lockKey(ctx, tx, keyID)
		if err != nil {
			return err
		}
		if budget == 0 {
			return nil
		}
		var seen int
		err = tx.QueryRowContext(ctx, s.q(`SELECT
			(SELECT COUNT(*) FROM reservations WHERE request_id = ?) +
			(SELECT COUNT(*) FROM settled_requests WHERE request_id = ?)`), requestID, requestID).Scan(&seen)
		if err != nil {
			return err
		}
		if seen > 0 {
			return nil
		}
		remaining := budget - spent - reserved
		if remaining <= 0 {
			return gateway.ErrBudgetExceeded
		}
		hold := min(amount, remaining)
		partial := hold < amount
		if partial {
			// Less than the worst case remains. One call may still go
			// through on what is left; a second partial hold in flight could
			// overdraw by a second call, so it is refused until the first
			// settles.
			var partials int
			if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM reservations WHERE key_id = ? AND partial = ?`),
				keyID, true).Scan(&partials); err != nil {
				return err
			}
			if partials > 0 {
				return gateway.ErrBudgetExceeded
			}
		}
		// The guard repeats the check in SQL: with the row lock held it
		// cannot fail, but it keeps the statement safe on its own.
		res, err := tx.ExecContext(ctx, s.q(`UPDATE keys SET reserved_nano = reserved_nano + ?
			WHERE id = ? AND budget_nano > 0 AND spent_nano + reserved_nano < budget_nano`), hold, keyID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return gateway.ErrBudgetExceeded
		}
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO reservations (request_id, key_id, amount, created_at, partial)
			VALUES (?, ?, ?, ?, ?)`), requestID, keyID, hold, s.ts(s.nowUTC()), partial)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlstore: reserve %s for key %d: %w", requestID, keyID, err)
	}
	return nil
}

// Settle replaces requestID's reservation with the actual cost. Without a
// reservation (unlimited key) it still adds actual to the key's spend. A
// request id is settled at most once; later calls charge nothing.
func (s *Store) Settle(ctx context.Context, keyID int64, requestID string, actual int64) error {
	if requestID == "" {
		return errors.New("sqlstore: settle: empty request id")
	}
	if actual < 0 {
		return fmt.Errorf("sqlstore: settle %s: negative cost %d", requestID, actual)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, _, _, err := s.lockKey(ctx, tx, keyID); err != nil {
			return err
		}
		// ON CONFLICT DO NOTHING rather than catching the violation: a
		// failed statement would abort the whole PostgreSQL transaction.
		res, err := tx.ExecContext(ctx, s.q(`INSERT INTO settled_requests (request_id, key_id, amount, settled_at)
			VALUES (?, ?, ?, ?) ON CONFLICT (request_id) DO NOTHING`), requestID, keyID, actual, s.ts(s.nowUTC()))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return nil // settled before
		}
		held, err := s.dropReservation(ctx, tx, keyID, requestID)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q(`UPDATE keys SET reserved_nano = reserved_nano - ?, spent_nano = spent_nano + ?
			WHERE id = ?`), held, actual, keyID)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlstore: settle %s for key %d: %w", requestID, keyID, err)
	}
	return nil
}

// dropReservation deletes requestID's reservation on keyID and returns the
// amount it held (0 if there was none).
func (s *Store) dropReservation(ctx context.Context, tx *sql.Tx, keyID int64, requestID string) (int64, error) {
	var held int64
	err := tx.QueryRowContext(ctx, s.q(`DELETE FROM reservations WHERE request_id = ? AND key_id = ? RETURNING amount`),
		requestID, keyID).Scan(&held)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return held, err
}

// Release drops requestID's reservation without charging. Releasing an
// unknown or already released request is a no-op.
func (s *Store) Release(ctx context.Context, keyID int64, requestID string) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, _, _, err := s.lockKey(ctx, tx, keyID); err != nil {
			return err
		}
		held, err := s.dropReservation(ctx, tx, keyID, requestID)
		if err != nil || held == 0 {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q(`UPDATE keys SET reserved_nano = reserved_nano - ? WHERE id = ?`), held, keyID)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlstore: release %s for key %d: %w", requestID, keyID, err)
	}
	return nil
}

// ReleaseStale releases reservations older than olderThan, which only a
// crashed or killed node leaves behind: a live request settles or releases
// its own. It returns how many it released. Run it at start-up and
// periodically with a bound well above the longest request timeout.
func (s *Store) ReleaseStale(ctx context.Context, olderThan time.Duration) (int, error) {
	cutoff := s.ts(s.nowUTC().Add(-olderThan))
	rows, err := s.r.QueryContext(ctx, s.q(`SELECT DISTINCT key_id FROM reservations WHERE created_at <= ?`), cutoff)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: release stale: %w", err)
	}
	var keyIDs []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, fmt.Errorf("sqlstore: release stale: %w", err)
		}
		keyIDs = append(keyIDs, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("sqlstore: release stale: %w", err)
	}
	released := 0
	// One transaction per key, locking the key first like every other
	// budget method, so a sweep never deadlocks against live traffic.
	for _, keyID := range keyIDs {
		n := 0
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			n = 0
			if _, _, _, err := s.lockKey(ctx, tx, keyID); err != nil {
				if errors.Is(err, gateway.ErrNotFound) {
					return nil // deleted meanwhile; its reservations cascaded
				}
				return err
			}
			rows, err := tx.QueryContext(ctx, s.q(`DELETE FROM reservations WHERE key_id = ? AND created_at <= ?
				RETURNING amount`), keyID, cutoff)
			if err != nil {
				return err
			}
			var total int64
			for rows.Next() {
				var amount int64
				if err := rows.Scan(&amount); err != nil {
					rows.Close()
					return err
				}
				total += amount
				n++
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, s.q(`UPDATE keys SET reserved_nano = reserved_nano - ? WHERE id = ?`),
				total, keyID); err != nil {
				return err
			}
			return nil
		})
		if err != nil {
			return released, fmt.Errorf("sqlstore: release stale reservations of key %d: %w", keyID, err)
		}
		released += n
	}
	return released, nil
}

// PruneSettled forgets settled request ids older than olderThan. Settle is
// idempotent only while its request id is remembered, so keep them longer
// than any retry or spool replay can arrive late.
func (s *Store) PruneSettled(ctx context.Context, olderThan time.Duration) (int64, error) {
	res, err := s.w.ExecContext(ctx, s.q(`DELETE FROM settled_requests WHERE settled_at < ?`),
		s.ts(s.nowUTC().Add(-olderThan)))
	if err != nil {
		return 0, fmt.Errorf("sqlstore: prune settled requests: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlstore: prune settled requests: %w", err)
	}
	return n, nil
}
