package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"switchboard/internal/gateway"
)

// keyBudget is a key's budget row as a budget method sees it, with its
// period already rolled forward.
type keyBudget struct {
	budget, spent, reserved int64
}

// lockKey reads a key's budget counters, locking its row for the rest of
// the transaction, and starts a new budget period when the current one
// ended: the reset happens here, in the same transaction as the charge or
// hold that first touches the key in the new period, so every node agrees
// on it without a timer. Every budget method locks the key first, so they
// all take locks in the same order and cannot deadlock each other.
func (s *Store) lockKey(ctx context.Context, tx *sql.Tx, keyID int64) (keyBudget, error) {
	var (
		kb          keyBudget
		period      string
		start, dbAt dbTime
	)
	// PostgreSQL's now() is the transaction's start on the database clock,
	// the one clock all nodes share; SQLite is one node, whose clock is the
	// store's.
	err := tx.QueryRowContext(ctx, s.q(`SELECT budget_nano, spent_nano, reserved_nano, budget_period, period_start, `+
		s.dbNowExpr()+` FROM keys WHERE id = ?`+s.forUpdate()), keyID).
		Scan(&kb.budget, &kb.spent, &kb.reserved, &period, &start, &dbAt)
	if errors.Is(err, sql.ErrNoRows) {
		return kb, fmt.Errorf("key %d %w", keyID, gateway.ErrNotFound)
	}
	if err != nil {
		return kb, err
	}
	cur := gateway.BudgetPeriod(period).Start(s.budgetNow(dbAt.t))
	if !cur.IsZero() && cur.After(start.t) {
		if _, err := tx.ExecContext(ctx, s.q(`UPDATE keys SET spent_nano = 0, period_start = ? WHERE id = ?`),
			s.ts(cur), keyID); err != nil {
			return kb, err
		}
		kb.spent = 0
	}
	return kb, nil
}

// dbNowExpr selects the database clock where nodes share one.
func (s *Store) dbNowExpr() string {
	if s.d == dialectPostgres {
		return "now()"
	}
	return "NULL"
}

// budgetNow is the time budget periods are judged by: the database clock
// on PostgreSQL, the store clock otherwise (and in tests that move it).
func (s *Store) budgetNow(db time.Time) time.Time {
	if !db.IsZero() && !s.nodeClock {
		return db
	}
	return s.nowUTC()
}

// effectiveSpent is what a key read outside a budget transaction has spent
// in its current period: its stored spend belongs to a period that may
// have ended since.
func (s *Store) effectiveSpent(k *gateway.Key) {
	if cur := k.BudgetPeriod.Start(s.nowUTC()); !cur.IsZero() && cur.After(k.PeriodStart) {
		k.SpentNanoUSD, k.PeriodStart = 0, cur
	}
}

// Hold reserves budget for a call; see gateway.Holder. The hold never
// exceeds what remains, so spent + reserved never passes the budget;
// partial holds (between Min and Amount) carry the flag the legacy Reserve
// counts.
func (s *Store) Hold(ctx context.Context, req gateway.HoldRequest) (int64, error) {
	if req.RequestID == "" {
		return 0, errors.New("sqlstore: hold: empty request id")
	}
	if req.Amount < 0 || req.Min < 0 {
		return 0, fmt.Errorf("sqlstore: hold %s: negative amount", req.RequestID)
	}
	least := req.Min
	if least <= 0 || least > req.Amount {
		least = req.Amount
	}
	var held int64
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		kb, err := s.lockKey(ctx, tx, req.KeyID)
		if err != nil {
			return err
		}
		if kb.budget == 0 {
			held = req.Amount
			return nil
		}
		if prev, seen, err := s.knownRequest(ctx, tx, req.RequestID); err != nil || seen {
			held = prev
			return err
		}
		if req.Amount == 0 {
			held = 0
			return nil
		}
		remaining := kb.budget - kb.spent - kb.reserved
		held = min(req.Amount, remaining)
		if held <= 0 || held < least {
			held = 0
			return gateway.ErrBudgetExceeded
		}
		return s.addReservation(ctx, tx, req, held)
	})
	if err != nil {
		return 0, fmt.Errorf("sqlstore: hold %s for key %d: %w", req.RequestID, req.KeyID, err)
	}
	return held, nil
}

// knownRequest returns what requestID holds or was charged, and whether it
// is known at all.
func (s *Store) knownRequest(ctx context.Context, tx *sql.Tx, requestID string) (int64, bool, error) {
	var amount int64
	err := tx.QueryRowContext(ctx, s.q(`SELECT amount FROM reservations WHERE request_id = ?
		UNION ALL SELECT amount FROM settled_requests WHERE request_id = ?`), requestID, requestID).Scan(&amount)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return amount, err == nil, err
}

// addReservation records a hold of amount and adds it to the key's
// reserved counter. The guard repeats the budget check in SQL: with the
// row lock held it cannot fail, but it keeps the statement safe on its own.
func (s *Store) addReservation(ctx context.Context, tx *sql.Tx, req gateway.HoldRequest, amount int64) error {
	res, err := tx.ExecContext(ctx, s.q(`UPDATE keys SET reserved_nano = reserved_nano + ?
		WHERE id = ? AND budget_nano > 0 AND spent_nano + reserved_nano + ? <= budget_nano`), amount, req.KeyID, amount)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return gateway.ErrBudgetExceeded
	}
	kind := req.Kind
	if kind == "" {
		kind = gateway.HoldCall
	}
	var expires any
	if !req.Expires.IsZero() {
		expires = s.ts(req.Expires)
	}
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO reservations (request_id, key_id, amount, created_at, partial, node_id, kind, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		req.RequestID, req.KeyID, amount, s.ts(s.nowUTC()), amount < req.Amount, s.nodeID, string(kind), expires)
	return err
}

// Reserve holds up to amount nano-USD for requestID against keyID; see
// gateway.Budget. It is the caller-cannot-adapt form of Hold: when less
// than amount remains it holds what remains, but only while no other
// partial hold of the key is in flight, so a budget is overdrawn by at
// most one call. Callers that can lower their output limit use Hold, which
// never overdraws.
func (s *Store) Reserve(ctx context.Context, keyID int64, requestID string, amount int64) error {
	if requestID == "" {
		return errors.New("sqlstore: reserve: empty request id")
	}
	if amount < 0 {
		return fmt.Errorf("sqlstore: reserve %s: negative amount %d", requestID, amount)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		kb, err := s.lockKey(ctx, tx, keyID)
		if err != nil {
			return err
		}
		if kb.budget == 0 {
			return nil
		}
		if _, seen, err := s.knownRequest(ctx, tx, requestID); err != nil || seen {
			return err
		}
		remaining := kb.budget - kb.spent - kb.reserved
		if remaining <= 0 {
			return gateway.ErrBudgetExceeded
		}
		hold := min(amount, remaining)
		if hold < amount {
			var partials int
			if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM reservations WHERE key_id = ? AND partial = ?`),
				keyID, true).Scan(&partials); err != nil {
				return err
			}
			if partials > 0 {
				return gateway.ErrBudgetExceeded
			}
		}
		return s.addReservation(ctx, tx, gateway.HoldRequest{KeyID: keyID, RequestID: requestID, Amount: amount}, hold)
	})
	if err != nil {
		return fmt.Errorf("sqlstore: reserve %s for key %d: %w", requestID, keyID, err)
	}
	return nil
}

// Settle replaces requestID's reservation with the actual cost. Without a
// reservation (unlimited key) it still adds actual to the key's spend. A
// request id is settled at most once; later calls charge nothing. The
// charge lands in the period the call settles in.
func (s *Store) Settle(ctx context.Context, keyID int64, requestID string, actual int64) error {
	if requestID == "" {
		return errors.New("sqlstore: settle: empty request id")
	}
	if actual < 0 {
		return fmt.Errorf("sqlstore: settle %s: negative cost %d", requestID, actual)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := s.lockKey(ctx, tx, keyID); err != nil {
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
		if _, err := s.lockKey(ctx, tx, keyID); err != nil {
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

// ReleaseStale releases reservations only a dead node leaves behind: call
// holds older than olderThan (a live request settles or releases its own)
// and holds whose explicit expiry has passed. Task holds with an expiry
// are never released by age, however long the task runs. It returns how
// many it released. Run it periodically with a bound well above the
// longest request timeout; a node that restarts releases its own holds at
// once with ReleaseNode.
func (s *Store) ReleaseStale(ctx context.Context, olderThan time.Duration) (int, error) {
	now := s.nowUTC()
	n, err := s.releaseWhere(ctx, `((expires_at IS NULL AND created_at <= ?) OR expires_at <= ?)`,
		s.ts(now.Add(-olderThan)), s.ts(now))
	if err != nil {
		return n, fmt.Errorf("sqlstore: release stale: %w", err)
	}
	return n, nil
}

// ReleaseNode releases the call holds this store's node (Options.NodeID)
// left when it last stopped: called at start, after the ledger replayed
// what those calls had delivered, and before the node takes traffic, so
// none of them is still in flight. Task holds are left to their tasks.
func (s *Store) ReleaseNode(ctx context.Context) (int, error) {
	if s.nodeID == "" {
		return 0, errors.New("sqlstore: release node holds: the store has no node id")
	}
	n, err := s.releaseWhere(ctx, `node_id = ? AND kind = ?`, s.nodeID, string(gateway.HoldCall))
	if err != nil {
		return n, fmt.Errorf("sqlstore: release holds of node %s: %w", s.nodeID, err)
	}
	return n, nil
}

// releaseWhere releases the reservations matching cond, one transaction
// per key, locking the key first like every other budget method, so a
// sweep never deadlocks against live traffic.
func (s *Store) releaseWhere(ctx context.Context, cond string, args ...any) (int, error) {
	rows, err := s.r.QueryContext(ctx, s.q(`SELECT DISTINCT key_id FROM reservations WHERE `+cond), args...)
	if err != nil {
		return 0, err
	}
	var keyIDs []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, err
		}
		keyIDs = append(keyIDs, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	released := 0
	for _, keyID := range keyIDs {
		n := 0
		err := s.inTx(ctx, func(tx *sql.Tx) error {
			n = 0
			if _, err := s.lockKey(ctx, tx, keyID); err != nil {
				if errors.Is(err, gateway.ErrNotFound) {
					return nil // deleted meanwhile; its reservations cascaded
				}
				return err
			}
			rows, err := tx.QueryContext(ctx, s.q(`DELETE FROM reservations WHERE key_id = ? AND `+cond+` RETURNING amount`),
				append([]any{keyID}, args...)...)
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
			_, err = tx.ExecContext(ctx, s.q(`UPDATE keys SET reserved_nano = reserved_nano - ? WHERE id = ?`), total, keyID)
			return err
		})
		if err != nil {
			return released, fmt.Errorf("key %d: %w", keyID, err)
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
