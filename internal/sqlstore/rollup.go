package sqlstore

import (
	"cmp"
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

// The usage_rollups table (migration 00045) keeps the ledger's totals per
// hour and per day for each (key, model, channel). InsertUsage adds to it
// in the transaction that writes the raw rows, so it is exact and never
// behind; SumUsage reads it for the whole hours and days of a range and the
// raw rows only for the partial hours at its ends.

// Grains of usage_rollups.
const (
	grainHour = "h"
	grainDay  = "d"
)

// rollupsVersion is the settings value that says usage_rollups was built
// from the raw rows (rebuildRollups) and has been maintained since.
const (
	rollupsSetting = "usage_rollups_version"
	rollupsVersion = "1"
)

// measures are the summed columns of usage_rollups, in the order of
// rollupRow.m and of rawMeasures.
var measures = func() []string {
	m := []string{"requests", "errors", "input_tokens", "cached_input_tokens", "output_tokens", "reasoning_tokens",
		"cost_nano", "price_nano", "estimated", "unpriced", "cost_unknown"}
	for i := range gateway.LatencyBuckets {
		m = append(m, "lat_"+strconv.Itoa(i))
	}
	for i := range gateway.LatencyBuckets {
		m = append(m, "ttft_"+strconv.Itoa(i))
	}
	return m
}()

// Positions in measures.
const (
	mRequests = iota
	mErrors
	mInput
	mCached
	mOutput
	mReasoning
	mCost
	mPrice
	mEstimated
	mUnpriced
	mCostUnknown
	mLatency                                     // first latency bucket
	mTTFT    = mLatency + gateway.LatencyBuckets // first TTFT bucket
	nMeasure = mTTFT + gateway.LatencyBuckets
)

// bucketCase is the per-row expression that is 1 when col (microseconds)
// falls in latency bucket i.
func bucketCase(col string, i int, positiveOnly bool) string {
	var conds []string
	if positiveOnly {
		conds = append(conds, col+" > 0")
	}
	if i > 0 {
		conds = append(conds, col+" >= "+strconv.FormatInt(gateway.LatencyBound(i-1).Microseconds(), 10))
	}
	if hi := gateway.LatencyBound(i); hi > 0 {
		conds = append(conds, col+" < "+strconv.FormatInt(hi.Microseconds(), 10))
	}
	if len(conds) == 0 {
		return "1"
	}
	return "CASE WHEN " + strings.Join(conds, " AND ") + " THEN 1 ELSE 0 END"
}

// rawMeasures are the expressions over one raw usage row that give its
// contribution to each measure; rollupAdd is their Go twin.
var rawMeasures = func() []string {
	m := []string{"1", "CASE WHEN status >= 400 THEN 1 ELSE 0 END",
		"input_tokens", "cached_input_tokens", "output_tokens", "reasoning_tokens", "cost_nano", "price_nano",
		"CASE WHEN usage_source IN ('estimated', 'checkpoint') THEN 1 ELSE 0 END",
		"CASE WHEN unpriced THEN 1 ELSE 0 END", "CASE WHEN cost_unknown THEN 1 ELSE 0 END"}
	for i := range gateway.LatencyBuckets {
		m = append(m, bucketCase("latency_us", i, false))
	}
	for i := range gateway.LatencyBuckets {
		m = append(m, bucketCase("ttft_us", i, true))
	}
	return m
}()

// rollupKey identifies a usage_rollups row.
type rollupKey struct {
	grain     string
	bucket    time.Time
	keyID     int64
	model     string
	channelID int64
}

type rollupRow struct {
	rollupKey
	keyName, channelName string
	m                    [nMeasure]int64
}

// rollupAdd adds r to row exactly as rawMeasures count it.
func rollupAdd(row *rollupRow, r *gateway.UsageRecord) {
	row.keyName, row.channelName = r.KeyName, r.ChannelName
	m := &row.m
	m[mRequests]++
	if r.Status >= 400 {
		m[mErrors]++
	}
	u := r.Usage
	m[mInput] += u.InputTokens
	m[mCached] += u.CachedInputTokens
	m[mOutput] += u.OutputTokens
	m[mReasoning] += u.ReasoningTokens
	m[mCost] += r.CostNanoUSD
	m[mPrice] += r.PriceNanoUSD
	if r.UsageSource == gateway.UsageEstimated || r.UsageSource == gateway.UsageCheckpoint {
		m[mEstimated]++
	}
	if r.Unpriced {
		m[mUnpriced]++
	}
	if r.CostUnknown {
		m[mCostUnknown]++
	}
	// The stored values are whole microseconds; bucket those.
	m[mLatency+gateway.LatencyBucket(r.Latency.Truncate(time.Microsecond))]++
	if ttft := r.TTFT.Truncate(time.Microsecond); ttft > 0 {
		m[mTTFT+gateway.LatencyBucket(ttft)]++
	}
}

// rollupRows aggregates recs (times already set) into hour and day rows,
// sorted by key so that concurrent writers lock rows in the same order.
func rollupRows(recs []gateway.UsageRecord) []rollupRow {
	idx := map[rollupKey]int{}
	var rows []rollupRow
	for i := range recs {
		r := &recs[i]
		t := r.Time.UTC()
		for _, k := range []rollupKey{
			{grainHour, t.Truncate(time.Hour), r.KeyID, r.Model, r.ChannelID},
			{grainDay, time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC), r.KeyID, r.Model, r.ChannelID},
		} {
			j, ok := idx[k]
			if !ok {
				j = len(rows)
				idx[k] = j
				rows = append(rows, rollupRow{rollupKey: k})
			}
			rollupAdd(&rows[j], r)
		}
	}
	slices.SortFunc(rows, func(a, b rollupRow) int {
		return cmp.Or(cmp.Compare(a.grain, b.grain), a.bucket.Compare(b.bucket), cmp.Compare(a.keyID, b.keyID),
			cmp.Compare(a.model, b.model), cmp.Compare(a.channelID, b.channelID))
	})
	return rows
}

// rollupChunk bounds one upsert: 100 rows × 54 columns of parameters.
const rollupChunk = 100

var rollupCols = "grain, bucket, key_id, model, channel_id, key_name, channel_name, " + strings.Join(measures, ", ")

// rollupUpsertSQL adds n rows to usage_rollups.
func rollupUpsertSQL(n int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO usage_rollups (" + rollupCols + ") VALUES ")
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", 7+nMeasure), ", ") + ")"
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	b.WriteString(" ON CONFLICT (grain, bucket, key_id, model, channel_id) DO UPDATE SET key_name = excluded.key_name, channel_name = excluded.channel_name")
	for _, m := range measures {
		b.WriteString(", " + m + " = usage_rollups." + m + " + excluded." + m)
	}
	return b.String()
}

// addRollups adds recs, the records tx has just inserted, to the rollups.
func (s *Store) addRollups(ctx context.Context, tx *sql.Tx, recs []gateway.UsageRecord) error {
	rows := rollupRows(recs)
	args := make([]any, 0, min(len(rows), rollupChunk)*(7+nMeasure))
	for start := 0; start < len(rows); start += rollupChunk {
		chunk := rows[start:min(start+rollupChunk, len(rows))]
		args = args[:0]
		for _, r := range chunk {
			args = append(args, r.grain, s.ts(r.bucket), r.keyID, r.model, r.channelID, r.keyName, r.channelName)
			for _, v := range r.m {
				args = append(args, v)
			}
		}
		if _, err := tx.ExecContext(ctx, s.q(rollupUpsertSQL(len(chunk))), args...); err != nil {
			return fmt.Errorf("add to rollups: %w", err)
		}
	}
	return nil
}

// truncExpr truncates the timestamp column col to the hour or the day.
func (s *Store) truncExpr(col, grain string) string {
	if s.d == dialectPostgres {
		unit := "hour"
		if grain == grainDay {
			unit = "day"
		}
		return "(date_trunc('" + unit + "', " + col + " AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')"
	}
	if grain == grainDay {
		return "(substr(" + col + ", 1, 10) || 'T00:00:00.000000Z')"
	}
	return "(substr(" + col + ", 1, 13) || ':00:00.000000Z')"
}

// ensureRollups builds usage_rollups from the raw rows once, the first time
// a store of this release opens the database.
func (s *Store) ensureRollups(ctx context.Context) error {
	if v, err := s.GetSetting(ctx, rollupsSetting); err == nil && v == rollupsVersion {
		return nil
	} else if err != nil && !errors.Is(err, gateway.ErrNotFound) {
		return err
	}
	return s.RebuildRollups(ctx)
}

// RebuildRollups recomputes usage_rollups from the raw rows that remain
// (totals of pruned rows are lost). Open runs it once; operators run it
// after importing raw rows by hand.
func (s *Store) RebuildRollups(ctx context.Context) error {
	sums := make([]string, len(measures))
	for i, m := range measures {
		sums[i] = sumExpr(m)
	}
	rawSums := make([]string, len(rawMeasures))
	for i, m := range rawMeasures {
		rawSums[i] = sumExpr(m)
	}
	hour := s.truncExpr("time", grainHour)
	day := s.truncExpr("bucket", grainDay)
	stmts := []string{
		"DELETE FROM usage_rollups",
		"INSERT INTO usage_rollups (" + rollupCols + ") SELECT '" + grainHour + "', " + hour +
			", key_id, model, channel_id, MAX(key_name), MAX(channel_name), " + strings.Join(rawSums, ", ") +
			" FROM usage GROUP BY " + hour + ", key_id, model, channel_id",
		"INSERT INTO usage_rollups (" + rollupCols + ") SELECT '" + grainDay + "', " + day +
			", key_id, model, channel_id, MAX(key_name), MAX(channel_name), " + strings.Join(sums, ", ") +
			" FROM usage_rollups WHERE grain = '" + grainHour + "' GROUP BY " + day + ", key_id, model, channel_id",
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if s.d == dialectPostgres {
			// Writers of other nodes wait while the totals are rebuilt,
			// so none is counted twice or missed.
			if _, err := tx.ExecContext(ctx, "LOCK TABLE usage IN EXCLUSIVE MODE"); err != nil {
				return err
			}
		}
		for _, q := range stmts {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO settings (name, value) VALUES (?, ?)
			ON CONFLICT (name) DO UPDATE SET value = excluded.value`), rollupsSetting, rollupsVersion)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlstore: rebuild usage rollups: %w", err)
	}
	return nil
}

// span is a part of a report's time range and where it is read from:
// grain "" is the raw rows. A zero from or to is open.
type span struct {
	grain    string
	from, to time.Time
}

func floorTo(t time.Time, grain string) time.Time {
	t = t.UTC()
	if grain == grainDay {
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	}
	return t.Truncate(time.Hour)
}

func ceilTo(t time.Time, grain string) time.Time {
	f := floorTo(t, grain)
	if f.Equal(t) {
		return f
	}
	if grain == grainDay {
		return f.AddDate(0, 0, 1)
	}
	return f.Add(time.Hour)
}

// spans splits [since, until) into raw edges, whole hours and whole days
// (days only when days is set), each non-empty.
func spans(since, until time.Time, days bool) []span {
	hFrom, hTo := since, until
	if !since.IsZero() {
		hFrom = ceilTo(since, grainHour)
	}
	if !until.IsZero() {
		hTo = floorTo(until, grainHour)
	}
	if !hFrom.IsZero() && !hTo.IsZero() && !hFrom.Before(hTo) {
		return []span{{"", since, until}}
	}
	var out []span
	if !since.IsZero() && since.Before(hFrom) {
		out = append(out, span{"", since, hFrom})
	}
	dFrom, dTo := hFrom, hTo
	if !hFrom.IsZero() {
		dFrom = ceilTo(hFrom, grainDay)
	}
	if !hTo.IsZero() {
		dTo = floorTo(hTo, grainDay)
	}
	if days && (dFrom.IsZero() || dTo.IsZero() || dFrom.Before(dTo)) {
		if !hFrom.IsZero() && hFrom.Before(dFrom) {
			out = append(out, span{grainHour, hFrom, dFrom})
		}
		out = append(out, span{grainDay, dFrom, dTo})
		if !hTo.IsZero() && dTo.Before(hTo) {
			out = append(out, span{grainHour, dTo, hTo})
		}
	} else {
		out = append(out, span{grainHour, hFrom, hTo})
	}
	if !until.IsZero() && hTo.Before(until) {
		out = append(out, span{"", hTo, until})
	}
	return out
}

// usageSource is the FROM of a report over f: rows with the columns time,
// key_id, key_name, model, channel_id, channel_name and the measures,
// from the rollups where they can answer and the raw rows elsewhere.
func (s *Store) usageSource(f gateway.LedgerFilter, byHour bool) (string, []any, error) {
	if f.StatusMin > 0 || f.StatusMax > 0 || f.RequestID != "" {
		// The rollups do not keep statuses or request ids.
		return s.rawSource(f)
	}
	var (
		parts []string
		args  []any
	)
	for _, sp := range spans(f.Since, f.Until, !byHour) {
		g := f
		g.Since, g.Until = sp.from, sp.to
		var (
			q   string
			as  []any
			err error
		)
		if sp.grain == "" {
			q, as, err = s.rawSource(g)
		} else {
			q, as = s.rollupSource(g, sp.grain)
		}
		if err != nil {
			return "", nil, err
		}
		parts, args = append(parts, q), append(args, as...)
	}
	return strings.Join(parts, " UNION ALL "), args, nil
}

func (s *Store) rawSource(f gateway.LedgerFilter) (string, []any, error) {
	where, args, err := s.usageWhere(f)
	if err != nil {
		return "", nil, err
	}
	cols := make([]string, len(measures))
	for i, m := range measures {
		cols[i] = rawMeasures[i] + " AS " + m
	}
	return "SELECT time, key_id, key_name, model, channel_id, channel_name, " + strings.Join(cols, ", ") +
		" FROM usage" + where, args, nil
}

func (s *Store) rollupSource(f gateway.LedgerFilter, grain string) (string, []any) {
	where, args := []string{"grain = ?"}, []any{grain}
	if !f.Since.IsZero() {
		where, args = append(where, "bucket >= ?"), append(args, s.ts(f.Since))
	}
	if !f.Until.IsZero() {
		where, args = append(where, "bucket < ?"), append(args, s.ts(f.Until))
	}
	if f.KeyID != 0 {
		where, args = append(where, "key_id = ?"), append(args, f.KeyID)
	}
	if f.Model != "" {
		where, args = append(where, "model = ?"), append(args, f.Model)
	}
	if f.ChannelID != 0 {
		where, args = append(where, "channel_id = ?"), append(args, f.ChannelID)
	}
	return "SELECT bucket AS time, key_id, key_name, model, channel_id, channel_name, " + strings.Join(measures, ", ") +
		" FROM usage_rollups WHERE " + strings.Join(where, " AND "), args
}

// PruneUsage deletes up to limit raw usage rows written before t, oldest
// first, and returns how many it deleted. Each call is one short statement,
// so a caller that loops with pauses never holds the writer for long; the
// rollups keep the totals of what it deletes.
func (s *Store) PruneUsage(ctx context.Context, t time.Time, limit int) (int64, error) {
	res, err := s.w.ExecContext(ctx, s.q(`DELETE FROM usage WHERE id IN
		(SELECT id FROM usage WHERE time < ? ORDER BY time LIMIT ?)`), s.ts(t), limit)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: prune usage: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// PruneRollups deletes up to limit buckets (every row of each) of the
// hourly (gateway.GroupByHour) or daily (gateway.GroupByDay) totals that
// start before t, oldest first, and returns how many rows it deleted.
func (s *Store) PruneRollups(ctx context.Context, grain gateway.UsageGroupBy, t time.Time, limit int) (int64, error) {
	g := grainHour
	switch grain {
	case gateway.GroupByHour:
	case gateway.GroupByDay:
		g = grainDay
	default:
		return 0, fmt.Errorf("sqlstore: prune rollups: grain %q is neither hour nor day", grain)
	}
	res, err := s.w.ExecContext(ctx, s.q(`DELETE FROM usage_rollups WHERE grain = ? AND bucket IN
		(SELECT DISTINCT bucket FROM usage_rollups WHERE grain = ? AND bucket < ? ORDER BY bucket LIMIT ?)`),
		g, g, s.ts(t), limit)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: prune rollups: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}
