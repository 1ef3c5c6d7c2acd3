package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"switchboard/internal/gateway"
)

const usageCols = `request_id, time, key_id, key_name, endpoint, model, channel_id, channel_name, upstream_model,
	status, stream, latency_us, ttft_us,
	input_tokens, cached_input_tokens, cache_write_tokens, audio_input_tokens, image_input_tokens,
	output_tokens, reasoning_tokens, audio_output_tokens, image_output_tokens,
	usage_source, cost_nano, attempts, error_message, units`

const usageColCount = 27

// usageBatchRows bounds one multi-row INSERT: 500 rows × 27 columns stays
// under SQLite's 32766 and PostgreSQL's 65535 bind-parameter limits.
const usageBatchRows = 500

// usageStmtRows is the row count of the prepared multi-row INSERT that
// carries full chunks of a batch; the remainder goes in one ad-hoc
// statement.
const usageStmtRows = 64

// usageInsertSQL is the INSERT of rows usage rows, in ? form.
func usageInsertSQL(rows int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO usage (" + usageCols + ") VALUES ")
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(usageRowPlaceholders)
	}
	b.WriteString(" ON CONFLICT (request_id) DO NOTHING")
	return b.String()
}

// usageInsertStmt returns the prepared usageStmtRows-row INSERT, preparing
// it on first use. It must not be called inside a transaction: SQLite's
// writer pool has one connection, which the transaction holds, so
// preparing on the pool would wait for it forever. Transactions use it
// through tx.StmtContext, which finds it already prepared on that
// connection (PostgreSQL re-prepares per pooled connection, once each).
func (s *Store) usageInsertStmt(ctx context.Context) (*sql.Stmt, error) {
	s.usageStmtMu.Lock()
	defer s.usageStmtMu.Unlock()
	if s.usageStmt != nil {
		return s.usageStmt, nil
	}
	stmt, err := s.w.PrepareContext(ctx, s.rebind(usageInsertSQL(usageStmtRows)))
	if err != nil {
		return nil, fmt.Errorf("prepare usage insert: %w", err)
	}
	s.usageStmt = stmt
	return stmt, nil
}

// usageRowPlaceholders is "(?, ?, ..., ?)" for one usage row.
var usageRowPlaceholders = "(" + strings.TrimSuffix(strings.Repeat("?, ", usageColCount), ", ") + ")"

// appendUsageArgs appends the bind arguments of recs, row after row.
func (s *Store) appendUsageArgs(args []any, recs []gateway.UsageRecord) []any {
	for _, r := range recs {
		args = append(args, s.usageArgs(r)...)
	}
	return args
}

func (s *Store) usageArgs(r gateway.UsageRecord) []any {
	t := r.Time
	if t.IsZero() {
		t = s.now()
	}
	u := r.Usage
	return []any{r.RequestID, s.ts(t), r.KeyID, r.KeyName, r.Endpoint, r.Model, r.ChannelID, r.ChannelName,
		r.UpstreamModel, r.Status, r.Stream, r.Latency.Microseconds(), r.TTFT.Microseconds(),
		u.InputTokens, u.CachedInputTokens, u.CacheWriteTokens, u.AudioInputTokens, u.ImageInputTokens,
		u.OutputTokens, u.ReasoningTokens, u.AudioOutputTokens, u.ImageOutputTokens,
		string(r.UsageSource), r.CostNanoUSD, r.Attempts, r.ErrorMessage, encodeUnits(r.Units)}
}

// InsertUsage writes recs in one transaction. A record whose RequestID is
// stored already (or repeats earlier in recs) is skipped, which makes spool
// replays idempotent.
func (s *Store) InsertUsage(ctx context.Context, recs []gateway.UsageRecord) error {
	if len(recs) == 0 {
		return nil
	}
	for i := range recs {
		if recs[i].RequestID == "" {
			return fmt.Errorf("sqlstore: insert usage: record %d has no request id", i)
		}
	}
	// Full chunks reuse one prepared statement: parsing a fresh
	// 27-column multi-row INSERT per batch was a quarter of the ledger's
	// CPU on SQLite.
	var stmt *sql.Stmt
	if len(recs) >= usageStmtRows {
		var err error
		if stmt, err = s.usageInsertStmt(ctx); err != nil {
			return fmt.Errorf("sqlstore: insert %d usage records: %w", len(recs), err)
		}
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		args := make([]any, 0, min(len(recs), usageBatchRows)*usageColCount)
		start := 0
		if stmt != nil {
			txStmt := tx.StmtContext(ctx, stmt)
			defer txStmt.Close()
			for ; start+usageStmtRows <= len(recs); start += usageStmtRows {
				args = s.appendUsageArgs(args[:0], recs[start:start+usageStmtRows])
				if _, err := txStmt.ExecContext(ctx, args...); err != nil {
					return err
				}
			}
		}
		for ; start < len(recs); start += usageBatchRows {
			chunk := recs[start:min(start+usageBatchRows, len(recs))]
			args = s.appendUsageArgs(args[:0], chunk)
			// Not s.q: the statement differs per batch size, and caching
			// every size would grow without bound.
			if _, err := tx.ExecContext(ctx, s.rebind(usageInsertSQL(len(chunk))), args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlstore: insert %d usage records: %w", len(recs), err)
	}
	return nil
}

// ListUsage returns the records that match f, newest first. A zero Since
// or Until leaves that end open, KeyID 0 matches every key, and Limit 0
// returns every match.
func (s *Store) ListUsage(ctx context.Context, f gateway.LedgerFilter) ([]gateway.UsageRecord, error) {
	var (
		where []string
		args  []any
	)
	if f.KeyID != 0 {
		where = append(where, "key_id = ?")
		args = append(args, f.KeyID)
	}
	if !f.Since.IsZero() {
		where = append(where, "time >= ?")
		args = append(args, s.ts(f.Since))
	}
	if !f.Until.IsZero() {
		where = append(where, "time < ?")
		args = append(args, s.ts(f.Until))
	}
	query := "SELECT " + usageCols + " FROM usage"
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += " ORDER BY time DESC, id DESC"
	if f.Limit > 0 {
		query += " LIMIT ?"
		args = append(args, f.Limit)
	}
	rows, err := s.r.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list usage: %w", err)
	}
	defer rows.Close()
	var out []gateway.UsageRecord
	for rows.Next() {
		var (
			r             gateway.UsageRecord
			t             dbTime
			latency, ttft int64
			source, units string
		)
		u := &r.Usage
		err := rows.Scan(&r.RequestID, &t, &r.KeyID, &r.KeyName, &r.Endpoint, &r.Model, &r.ChannelID, &r.ChannelName,
			&r.UpstreamModel, &r.Status, &r.Stream, &latency, &ttft,
			&u.InputTokens, &u.CachedInputTokens, &u.CacheWriteTokens, &u.AudioInputTokens, &u.ImageInputTokens,
			&u.OutputTokens, &u.ReasoningTokens, &u.AudioOutputTokens, &u.ImageOutputTokens,
			&source, &r.CostNanoUSD, &r.Attempts, &r.ErrorMessage, &units)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: list usage: %w", err)
		}
		r.Time = t.t
		r.Latency = time.Duration(latency) * time.Microsecond
		r.TTFT = time.Duration(ttft) * time.Microsecond
		r.UsageSource = gateway.UsageSource(source)
		if r.Units, err = decodeUnits(units); err != nil {
			return nil, fmt.Errorf("sqlstore: list usage: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list usage: %w", err)
	}
	return out, nil
}

// GetSetting returns a node-wide value; ErrNotFound if it was never set.
func (s *Store) GetSetting(ctx context.Context, name string) (string, error) {
	var v string
	err := s.r.QueryRowContext(ctx, s.q(`SELECT value FROM settings WHERE name = ?`), name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("sqlstore: setting %q %w", name, gateway.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("sqlstore: setting %q: %w", name, err)
	}
	return v, nil
}

// SetSetting stores a node-wide value, replacing any previous one.
func (s *Store) SetSetting(ctx context.Context, name, value string) error {
	_, err := s.w.ExecContext(ctx, s.q(`INSERT INTO settings (name, value) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`), name, value)
	if err != nil {
		return fmt.Errorf("sqlstore: set setting %q: %w", name, err)
	}
	return nil
}
