package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"switchboard/internal/gateway"
)

const usageCols = `request_id, time, key_id, key_name, endpoint, model, channel_id, channel_name, upstream_model,
	status, stream, latency_us, ttft_us,
	input_tokens, cached_input_tokens, cache_write_tokens, audio_input_tokens, image_input_tokens,
	output_tokens, reasoning_tokens, audio_output_tokens, image_output_tokens,
	usage_source, cost_nano, attempts, error_message,
	price_nano, unpriced, cost_unknown, cache_write_1h_tokens, web_search_requests, grounded_prompts, units,
	tried`

const usageColCount = 34

// usageBatchRows bounds one multi-row INSERT: 500 rows × 34 columns stays
// under SQLite's 32766 and PostgreSQL's 65535 bind-parameter limits.
const usageBatchRows = 500

// usageStmtRows is the row count of the prepared multi-row INSERT that
// carries full chunks of a batch; the remainder goes in one ad-hoc
// statement.
const usageStmtRows = 64

// usageYield is how long InsertUsage gives the CPU back between chunks.
// A 1,000-record batch is ~20 ms of SQLite work. In a process with one
// CPU (GOMAXPROCS=1: pinned, or a small container) calls whose bytes
// arrive meanwhile would wait for all of it, or until the runtime
// preempts the flusher after 10 ms: a tail on the serving path's latency
// that grows with the batch. Parking for a moment lets the scheduler poll
// the network and run them; the transaction stays open a little longer,
// and only the ledger's flusher writes in it.
const usageYield = 20 * time.Microsecond

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
	// RETURNING names the rows actually inserted (not skipped as
	// replays): only those are added to the rollups.
	b.WriteString(" ON CONFLICT (request_id) DO NOTHING RETURNING request_id")
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
		string(r.UsageSource), r.CostNanoUSD, r.Attempts, r.ErrorMessage,
		r.PriceNanoUSD, r.Unpriced, r.CostUnknown, u.CacheWrite1hTokens, u.WebSearchRequests, u.GroundedPrompts,
		encodeUnits(r.Units), encodeTried(r.Tried)}
}

// encodeTried stores failed attempts one per line.
func encodeTried(tried []string) string {
	out := make([]string, len(tried))
	for i, t := range tried {
		out[i] = strings.ReplaceAll(t, "\n", " ")
	}
	return strings.Join(out, "\n")
}

// InsertUsage writes recs in one transaction. A record whose RequestID is
// stored already (or repeats earlier in recs) is skipped, which makes spool
// replays idempotent.
func (s *Store) InsertUsage(ctx context.Context, recs []gateway.UsageRecord) error {
	if len(recs) == 0 {
		return nil
	}
	stamped := false
	for i := range recs {
		if recs[i].RequestID == "" {
			return fmt.Errorf("sqlstore: insert usage: record %d has no request id", i)
		}
		if recs[i].Time.IsZero() {
			if !stamped {
				// The raw row and its rollups must agree on the time;
				// stamp a copy, not the caller's records.
				recs, stamped = slices.Clone(recs), true
			}
			recs[i].Time = s.now()
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
		inserted := make(map[string]bool, len(recs))
		collect := func(rows *sql.Rows, err error) error {
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					return err
				}
				inserted[id] = true
			}
			return rows.Err()
		}
		start := 0
		if stmt != nil {
			txStmt := tx.StmtContext(ctx, stmt)
			defer txStmt.Close()
			for ; start+usageStmtRows <= len(recs); start += usageStmtRows {
				if start > 0 {
					time.Sleep(usageYield)
				}
				args = s.appendUsageArgs(args[:0], recs[start:start+usageStmtRows])
				if err := collect(txStmt.QueryContext(ctx, args...)); err != nil {
					return err
				}
			}
		}
		for ; start < len(recs); start += usageBatchRows {
			if start > 0 {
				time.Sleep(usageYield)
			}
			chunk := recs[start:min(start+usageBatchRows, len(recs))]
			args = s.appendUsageArgs(args[:0], chunk)
			// Not s.q: the statement differs per batch size, and caching
			// every size would grow without bound.
			if err := collect(tx.QueryContext(ctx, s.rebind(usageInsertSQL(len(chunk))), args...)); err != nil {
				return err
			}
		}
		fresh := make([]gateway.UsageRecord, 0, len(inserted))
		for i := range recs {
			if inserted[recs[i].RequestID] {
				fresh = append(fresh, recs[i])
				delete(inserted, recs[i].RequestID) // a repeat in recs counts once
			}
		}
		return s.addRollups(ctx, tx, fresh)
	})
	if err != nil {
		return fmt.Errorf("sqlstore: insert %d usage records: %w", len(recs), err)
	}
	return nil
}

// usageWhere is the WHERE clause (with its arguments) of f: every
// filter a report can set, and the keyset cursor.
func (s *Store) usageWhere(f gateway.LedgerFilter) (string, []any, error) {
	var (
		where []string
		args  []any
	)
	add := func(cond string, vs ...any) {
		where = append(where, cond)
		args = append(args, vs...)
	}
	if f.RequestID != "" {
		add("request_id = ?", f.RequestID)
	}
	if f.KeyID != 0 {
		add("key_id = ?", f.KeyID)
	}
	if f.Model != "" {
		add("model = ?", f.Model)
	}
	if f.ChannelID != 0 {
		add("channel_id = ?", f.ChannelID)
	}
	if f.StatusMin > 0 {
		add("status >= ?", f.StatusMin)
	}
	if f.StatusMax > 0 {
		add("status <= ?", f.StatusMax)
	}
	if !f.Since.IsZero() {
		add("time >= ?", s.ts(f.Since))
	}
	if !f.Until.IsZero() {
		add("time < ?", s.ts(f.Until))
	}
	if f.Cursor != "" {
		c, err := gateway.ParseUsageCursor(f.Cursor)
		if err != nil {
			return "", nil, err
		}
		// The leading "time <= ?" lets the (time, id) index seek to the
		// cursor instead of scanning from the newest record.
		t := s.ts(c.Time)
		add("time <= ? AND (time < ? OR id < ?)", t, t, c.ID)
	}
	if len(where) == 0 {
		return "", nil, nil
	}
	return " WHERE " + strings.Join(where, " AND "), args, nil
}

// eachUsage runs the listing query of f and calls fn with each record and
// its row id, newest first.
func (s *Store) eachUsage(ctx context.Context, f gateway.LedgerFilter, fn func(id int64, r *gateway.UsageRecord) error) error {
	where, args, err := s.usageWhere(f)
	if err != nil {
		return err
	}
	query := "SELECT id, " + usageCols + " FROM usage" + where + " ORDER BY time DESC, id DESC"
	if f.Limit > 0 {
		query += " LIMIT ?"
		args = append(args, f.Limit)
	}
	rows, err := s.r.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			id            int64
			r             gateway.UsageRecord
			t             dbTime
			latency, ttft int64
			source, units string
			tried         string
		)
		u := &r.Usage
		err := rows.Scan(&id, &r.RequestID, &t, &r.KeyID, &r.KeyName, &r.Endpoint, &r.Model, &r.ChannelID, &r.ChannelName,
			&r.UpstreamModel, &r.Status, &r.Stream, &latency, &ttft,
			&u.InputTokens, &u.CachedInputTokens, &u.CacheWriteTokens, &u.AudioInputTokens, &u.ImageInputTokens,
			&u.OutputTokens, &u.ReasoningTokens, &u.AudioOutputTokens, &u.ImageOutputTokens,
			&source, &r.CostNanoUSD, &r.Attempts, &r.ErrorMessage,
			&r.PriceNanoUSD, &r.Unpriced, &r.CostUnknown, &u.CacheWrite1hTokens, &u.WebSearchRequests, &u.GroundedPrompts, &units, &tried)
		if err != nil {
			return err
		}
		r.Time = t.t
		r.Latency = time.Duration(latency) * time.Microsecond
		r.TTFT = time.Duration(ttft) * time.Microsecond
		r.UsageSource = gateway.UsageSource(source)
		if tried != "" {
			r.Tried = strings.Split(tried, "\n")
		}
		if r.Units, err = decodeUnits(units); err != nil {
			return fmt.Errorf("record %s units: %w", r.RequestID, err)
		}
		if err := fn(id, &r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// ListUsage returns the records that match f, newest first. A zero Since
// or Until leaves that end open, KeyID 0 matches every key, and Limit 0
// returns every match.
func (s *Store) ListUsage(ctx context.Context, f gateway.LedgerFilter) ([]gateway.UsageRecord, error) {
	var out []gateway.UsageRecord
	err := s.eachUsage(ctx, f, func(_ int64, r *gateway.UsageRecord) error {
		out = append(out, *r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list usage: %w", err)
	}
	return out, nil
}

// UsagePage returns up to f.Limit records after f.Cursor (f.Limit 0: 100)
// and the cursor of the next page, empty on the last.
func (s *Store) UsagePage(ctx context.Context, f gateway.LedgerFilter) (gateway.UsagePage, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	want := f.Limit
	f.Limit++ // one more tells whether another page follows
	var (
		page gateway.UsagePage
		last gateway.UsageCursor
	)
	err := s.eachUsage(ctx, f, func(id int64, r *gateway.UsageRecord) error {
		if len(page.Records) == want {
			page.Next = last.String()
			return nil
		}
		page.Records = append(page.Records, *r)
		last = gateway.UsageCursor{Time: r.Time, ID: id}
		return nil
	})
	if err != nil {
		return gateway.UsagePage{}, fmt.Errorf("sqlstore: usage page: %w", err)
	}
	return page, nil
}

// EachUsage calls fn for every record matching f, newest first, streaming
// from the database.
func (s *Store) EachUsage(ctx context.Context, f gateway.LedgerFilter, fn func(*gateway.UsageRecord) error) error {
	f.Cursor = ""
	if err := s.eachUsage(ctx, f, func(_ int64, r *gateway.UsageRecord) error { return fn(r) }); err != nil {
		return fmt.Errorf("sqlstore: each usage: %w", err)
	}
	return nil
}

// sumExpr is a column's total as a BIGINT on both engines (PostgreSQL
// sums bigints as numeric), 0 over no rows.
func sumExpr(expr string) string { return "CAST(COALESCE(SUM(" + expr + "), 0) AS BIGINT)" }

// groupExpr returns the select expressions of a grouping dimension and
// the columns it groups by.
func (s *Store) groupExpr(g gateway.UsageGroupBy) (sel, by string, err error) {
	switch g {
	case gateway.GroupByKey:
		return "key_id, MAX(key_name)", "key_id", nil
	case gateway.GroupByModel:
		return "model", "model", nil
	case gateway.GroupByChannel:
		return "channel_id, MAX(channel_name)", "channel_id", nil
	case gateway.GroupByDay, gateway.GroupByHour:
		e := "substr(time, 1, 10)"
		if g == gateway.GroupByHour {
			e = "substr(time, 1, 13)"
		}
		if s.d == dialectPostgres {
			e = `to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD')`
			if g == gateway.GroupByHour {
				e = `to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24')`
			}
		}
		return e, e, nil
	}
	return "", "", fmt.Errorf("unknown grouping %q", g)
}

// SumUsage totals the records matching f in the database, grouped by the
// given dimensions: by time bucket, oldest first, when grouped by day or
// hour; else largest price first. Whole hours and days are read from the
// rollups, only the partial hours at the ends of the range (and filters
// by status) from the raw rows.
func (s *Store) SumUsage(ctx context.Context, f gateway.LedgerFilter, by ...gateway.UsageGroupBy) ([]gateway.UsageGroup, error) {
	f.Cursor, f.Limit = "", 0
	var sels, groups []string
	timed, byHour := false, false
	for _, g := range by {
		sel, grp, err := s.groupExpr(g)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: sum usage: %w", err)
		}
		sels, groups = append(sels, sel), append(groups, grp)
		timed = timed || g == gateway.GroupByDay || g == gateway.GroupByHour
		byHour = byHour || g == gateway.GroupByHour
	}
	src, args, err := s.usageSource(f, byHour)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: sum usage: %w", err)
	}
	totals := make([]string, len(measures))
	for i, m := range measures {
		totals[i] = sumExpr(m)
	}
	query := "SELECT " + strings.Join(append(sels, totals...), ", ") + " FROM (" + src + ") src"
	if len(groups) > 0 {
		query += " GROUP BY " + strings.Join(groups, ", ")
		order := sumExpr("price_nano") + " DESC, " + sumExpr("requests") + " DESC, " + strings.Join(groups, ", ")
		if timed {
			order = strings.Join(groups, ", ")
		}
		query += " ORDER BY " + order
	}
	rows, err := s.r.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: sum usage: %w", err)
	}
	defer rows.Close()
	var out []gateway.UsageGroup
	var m [nMeasure]int64
	for rows.Next() {
		var (
			g      gateway.UsageGroup
			dest   []any
			bucket string
		)
		for _, d := range by {
			switch d {
			case gateway.GroupByKey:
				dest = append(dest, &g.KeyID, &g.KeyName)
			case gateway.GroupByModel:
				dest = append(dest, &g.Model)
			case gateway.GroupByChannel:
				dest = append(dest, &g.ChannelID, &g.ChannelName)
			default:
				dest = append(dest, &bucket)
			}
		}
		for i := range m {
			dest = append(dest, &m[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("sqlstore: sum usage: %w", err)
		}
		g.UsageTotals = totalsOf(&m)
		if bucket != "" {
			layout := "2006-01-02"
			if len(bucket) > len(layout) {
				layout = "2006-01-02T15"
			}
			if g.Bucket, err = time.Parse(layout, bucket); err != nil {
				return nil, fmt.Errorf("sqlstore: sum usage: bucket %q: %w", bucket, err)
			}
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: sum usage: %w", err)
	}
	return out, nil
}

// totalsOf maps summed measures to totals.
func totalsOf(m *[nMeasure]int64) gateway.UsageTotals {
	t := gateway.UsageTotals{
		Requests: m[mRequests], Errors: m[mErrors],
		InputTokens: m[mInput], CachedInputTokens: m[mCached], OutputTokens: m[mOutput], ReasoningTokens: m[mReasoning],
		CostNanoUSD: m[mCost], PriceNanoUSD: m[mPrice],
		Estimated: m[mEstimated], Unpriced: m[mUnpriced], CostUnknown: m[mCostUnknown],
	}
	copy(t.Latency[:], m[mLatency:mTTFT])
	copy(t.TTFT[:], m[mTTFT:nMeasure])
	return t
}

// encodeUnits stores a record's units compactly as "unit=count;..." (unit
// names carry no '=' or ';').
func encodeUnits(us []gateway.Metered) string {
	if len(us) == 0 {
		return ""
	}
	var b strings.Builder
	for i, u := range us {
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString(u.Unit)
		b.WriteByte('=')
		b.WriteString(strconv.FormatInt(u.Count, 10))
	}
	return b.String()
}

func decodeUnits(s string) ([]gateway.Metered, error) {
	if s == "" {
		return nil, nil
	}
	var out []gateway.Metered
	for _, part := range strings.Split(s, ";") {
		name, n, ok := strings.Cut(part, "=")
		count, err := strconv.ParseInt(n, 10, 64)
		if !ok || err != nil {
			return nil, fmt.Errorf("bad units %q", s)
		}
		out = append(out, gateway.Metered{Unit: name, Count: count})
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
