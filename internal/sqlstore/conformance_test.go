package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"switchboard/internal/gateway"
	"switchboard/internal/llm"
	"switchboard/internal/secret"
)

func TestConformanceSQLite(t *testing.T)   { runConformance(t, openSQLite) }
func TestConformancePostgres(t *testing.T) { runConformance(t, openPostgres) }

// runConformance is the one behavioural suite every engine must pass.
func runConformance(t *testing.T, open opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s *Store)
	}{
		{"Keys", testKeys},
		{"KeyUpsert", testKeyUpsert},
		{"Channels", testChannels},
		{"Ledger", testLedger},
		{"Settings", testSettings},
		{"BudgetSequential", testBudgetSequential},
		{"BudgetUnlimited", testBudgetUnlimited},
		{"BudgetStale", testBudgetStale},
		{"BudgetConcurrent", testBudgetConcurrent},
		{"BudgetOnePartialHold", testBudgetOnePartialHold},
		{"HoldSequential", testHoldSequential},
		{"HoldNeverOverdraws", testHoldNeverOverdraws},
		{"BudgetPeriods", testBudgetPeriods},
		{"BudgetPeriodDatabaseClock", testBudgetPeriodDatabaseClock},
		{"ReleaseNode", testReleaseNode},
		{"StaleSweepSparesTasks", testStaleSweepSparesTasks},
		{"UsageReports", testUsageReports},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open(t)) })
	}
}

func mustKey(t *testing.T, s *Store, id int64) gateway.Key {
	t.Helper()
	k, err := s.KeyByID(context.Background(), id)
	if err != nil {
		t.Fatalf("KeyByID(%d): %v", id, err)
	}
	return k
}

func createKey(t *testing.T, s *Store, name string, budget int64) gateway.Key {
	t.Helper()
	k, err := s.CreateKey(context.Background(), gateway.Key{
		Name: name, Hash: "hash-" + name, Prefix: "sk-" + name[:1], BudgetNanoUSD: budget, Enabled: true,
	})
	if err != nil {
		t.Fatalf("CreateKey(%s): %v", name, err)
	}
	return k
}

func wantErrIs(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: err = %v, want %v", what, err, target)
	}
}

func testKeys(t *testing.T, s *Store) {
	ctx := context.Background()
	in := gateway.Key{
		Name: "alice", Hash: strings.Repeat("ab", 32), Prefix: "sk-ali",
		Models: []string{"gpt-4o", "claude-*"}, BudgetNanoUSD: 25_000_000_000, BudgetPeriod: gateway.BudgetTotal,
		RPM: 600, TPM: 200000, MaxConcurrent: 4, Enabled: true,
	}
	created, err := s.CreateKey(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if created.ID == 0 || created.CreatedAt.IsZero() || created.UpdatedAt.IsZero() {
		t.Fatalf("CreateKey did not fill ID/timestamps: %+v", created)
	}
	want := in
	want.ID, want.CreatedAt, want.UpdatedAt = created.ID, created.CreatedAt, created.UpdatedAt
	if !reflect.DeepEqual(created, want) {
		t.Fatalf("CreateKey =\n%+v\nwant\n%+v", created, want)
	}
	byHash, err := s.KeyByHash(ctx, in.Hash)
	if err != nil || !reflect.DeepEqual(byHash, want) {
		t.Fatalf("KeyByHash = %+v, %v; want %+v", byHash, err, want)
	}
	if byID := mustKey(t, s, created.ID); !reflect.DeepEqual(byID, want) {
		t.Fatalf("KeyByID = %+v, want %+v", byID, want)
	}

	_, err = s.CreateKey(ctx, gateway.Key{Name: "alice", Hash: "other"})
	wantErrIs(t, "duplicate name", err, gateway.ErrConflict)
	_, err = s.CreateKey(ctx, gateway.Key{Name: "bob", Hash: in.Hash})
	wantErrIs(t, "duplicate hash", err, gateway.ErrConflict)
	if _, err := s.CreateKey(ctx, gateway.Key{Name: "nohash"}); err == nil {
		t.Fatal("CreateKey without hash succeeded")
	}
	_, err = s.KeyByHash(ctx, "missing")
	wantErrIs(t, "KeyByHash(missing)", err, gateway.ErrNotFound)
	_, err = s.KeyByID(ctx, 99999)
	wantErrIs(t, "KeyByID(missing)", err, gateway.ErrNotFound)

	bob := createKey(t, s, "bob", 0)
	keys, err := s.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || keys[0].Name != "alice" || keys[1].Name != "bob" {
		t.Fatalf("ListKeys = %+v, want alice, bob", keys)
	}

	// UpdateKey changes settings, keeps the hash when none is given, and
	// never touches spend.
	if err := s.Settle(ctx, bob.ID, "spend-bob", 123); err != nil {
		t.Fatal(err)
	}
	upd := bob
	upd.Name, upd.Hash, upd.Prefix, upd.Models, upd.BudgetNanoUSD, upd.Enabled = "bobby", "", "", []string{"*"}, 5000, false
	upd.SpentNanoUSD = 0
	got, err := s.UpdateKey(ctx, upd)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "bobby" || got.Hash != bob.Hash || got.Prefix != bob.Prefix || got.BudgetNanoUSD != 5000 ||
		got.Enabled || got.SpentNanoUSD != 123 || !reflect.DeepEqual(got.Models, []string{"*"}) {
		t.Fatalf("UpdateKey = %+v", got)
	}
	upd.Name = "alice"
	_, err = s.UpdateKey(ctx, upd)
	wantErrIs(t, "UpdateKey to a taken name", err, gateway.ErrConflict)
	_, err = s.UpdateKey(ctx, gateway.Key{ID: 99999, Name: "ghost"})
	wantErrIs(t, "UpdateKey(missing)", err, gateway.ErrNotFound)

	if err := s.DeleteKey(ctx, bob.ID); err != nil {
		t.Fatal(err)
	}
	wantErrIs(t, "DeleteKey twice", s.DeleteKey(ctx, bob.ID), gateway.ErrNotFound)
	_, err = s.KeyByID(ctx, bob.ID)
	wantErrIs(t, "KeyByID(deleted)", err, gateway.ErrNotFound)
}

func testKeyUpsert(t *testing.T, s *Store) {
	ctx := context.Background()
	if _, err := s.UpsertKey(ctx, gateway.Key{Name: "seed"}); err == nil {
		t.Fatal("UpsertKey of a new key without hash succeeded")
	}
	first, err := s.UpsertKey(ctx, gateway.Key{Name: "seed", Hash: "h1", Prefix: "sk-1", BudgetNanoUSD: 1000, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Reserve(ctx, first.ID, "r1", 300); err != nil {
		t.Fatal(err)
	}
	if err := s.Settle(ctx, first.ID, "r0", 100); err != nil {
		t.Fatal(err)
	}
	// Re-seeding from config: no key value given, new budget.
	second, err := s.UpsertKey(ctx, gateway.Key{Name: "seed", BudgetNanoUSD: 2000, RPM: 60, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	if second.ID != first.ID || second.Hash != "h1" || second.Prefix != "sk-1" || second.BudgetNanoUSD != 2000 ||
		second.RPM != 60 || second.SpentNanoUSD != 100 || second.ReservedNanoUSD != 300 ||
		!second.CreatedAt.Equal(first.CreatedAt) {
		t.Fatalf("UpsertKey over existing = %+v (first %+v)", second, first)
	}
	third, err := s.UpsertKey(ctx, gateway.Key{Name: "seed", Hash: "h2", Prefix: "sk-2", BudgetNanoUSD: 2000})
	if err != nil {
		t.Fatal(err)
	}
	if third.Hash != "h2" || third.Prefix != "sk-2" || third.Enabled || third.SpentNanoUSD != 100 {
		t.Fatalf("UpsertKey with new hash = %+v", third)
	}
	if _, err := s.KeyByHash(ctx, "h1"); !errors.Is(err, gateway.ErrNotFound) {
		t.Fatalf("old hash still finds the key: %v", err)
	}
	createKey(t, s, "other", 0)
	_, err = s.UpsertKey(ctx, gateway.Key{Name: "seed", Hash: "hash-other"})
	wantErrIs(t, "UpsertKey with another key's hash", err, gateway.ErrConflict)
}

func testChannels(t *testing.T, s *Store) {
	ctx := context.Background()
	in := gateway.Channel{
		Name: "openai-main", Type: gateway.ChannelOpenAI, BaseURL: "https://api.openai.com",
		APIKeys:  []string{"sk-live-PLAINTEXT-1", "sk-live-PLAINTEXT-2"},
		Models:   []string{"gpt-4o", "gpt-4o-mini"},
		ModelMap: map[string]string{"gpt-4o": "gpt-4o-2024-11-20"},
		Priority: 10, Weight: 3,
		Headers: map[string]string{"X-Org": "acme"},
		Timeout: 120 * time.Second, Enabled: true,
		Settings: map[string]string{"api_version": "2024-10-21"},
		Source:   "config",
	}
	got, err := s.UpsertChannel(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID == 0 || got.UpdatedAt.IsZero() {
		t.Fatalf("UpsertChannel did not fill ID/UpdatedAt: %+v", got)
	}
	want := in
	want.ID, want.UpdatedAt = got.ID, got.UpdatedAt
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("UpsertChannel =\n%+v\nwant\n%+v", got, want)
	}
	read, err := s.ChannelByID(ctx, got.ID)
	if err != nil || !reflect.DeepEqual(read, want) {
		t.Fatalf("ChannelByID =\n%+v, %v\nwant\n%+v", read, err, want)
	}

	// Upstream keys are sealed at rest.
	var raw string
	if err := s.r.QueryRowContext(ctx, s.q(`SELECT api_keys FROM channels WHERE id = ?`), got.ID).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(raw, "PLAINTEXT") || !strings.HasPrefix(raw, "v2:") {
		t.Fatalf("api_keys column is not sealed: %q", raw)
	}
	// So are header values, which often hold credentials.
	if err := s.r.QueryRowContext(ctx, s.q(`SELECT headers FROM channels WHERE id = ?`), got.ID).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(raw, "acme") || !strings.HasPrefix(raw, "v2:") {
		t.Fatalf("headers column is not sealed: %q", raw)
	}
	// And unreadable under another secret.
	other, err := secret.New(make([]byte, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	mine := s.box
	s.box = other
	if _, err := s.ChannelByID(ctx, got.ID); err == nil {
		t.Fatal("ChannelByID decrypted with the wrong secret")
	}
	s.box = mine

	// Upsert by name replaces in place.
	in2 := gateway.Channel{Name: "openai-main", Type: gateway.ChannelOpenAICompatible, APIKeys: []string{"k3"}}
	up, err := s.UpsertChannel(ctx, in2)
	if err != nil {
		t.Fatal(err)
	}
	if up.ID != got.ID {
		t.Fatalf("UpsertChannel by name made a new row: %d != %d", up.ID, got.ID)
	}
	read, _ = s.ChannelByID(ctx, got.ID)
	if read.Type != gateway.ChannelOpenAICompatible || !reflect.DeepEqual(read.APIKeys, []string{"k3"}) ||
		read.Models != nil || read.Headers != nil || read.Enabled {
		t.Fatalf("after upsert: %+v", read)
	}

	second, err := s.UpsertChannel(ctx, gateway.Channel{Name: "claude", Type: gateway.ChannelAnthropic, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	list, err := s.ListChannels(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "openai-main" || list[1].Name != "claude" || list[1].APIKeys != nil {
		t.Fatalf("ListChannels = %+v", list)
	}

	second.Name, second.Priority = "openai-main", 5
	_, err = s.UpdateChannel(ctx, second)
	wantErrIs(t, "UpdateChannel to a taken name", err, gateway.ErrConflict)
	second.Name = "claude-2"
	upd, err := s.UpdateChannel(ctx, second)
	if err != nil {
		t.Fatal(err)
	}
	if read, _ := s.ChannelByID(ctx, second.ID); !reflect.DeepEqual(read, upd) {
		t.Fatalf("after UpdateChannel read %+v, returned %+v", read, upd)
	}
	_, err = s.UpdateChannel(ctx, gateway.Channel{ID: 99999, Name: "x", Type: gateway.ChannelOpenAI})
	wantErrIs(t, "UpdateChannel(missing)", err, gateway.ErrNotFound)
	_, err = s.ChannelByID(ctx, 99999)
	wantErrIs(t, "ChannelByID(missing)", err, gateway.ErrNotFound)
	if err := s.DeleteChannel(ctx, second.ID); err != nil {
		t.Fatal(err)
	}
	wantErrIs(t, "DeleteChannel twice", s.DeleteChannel(ctx, second.ID), gateway.ErrNotFound)
}

func usageRec(id string, keyID int64, at time.Time) gateway.UsageRecord {
	return gateway.UsageRecord{
		RequestID: id, Time: at, KeyID: keyID, KeyName: fmt.Sprintf("key%d", keyID),
		Endpoint: "chat.completions", Model: "gpt-4o", ChannelID: 7, ChannelName: "openai-main",
		UpstreamModel: "gpt-4o-2024-11-20", Status: 200, Stream: true,
		Latency: 1234567 * time.Microsecond, TTFT: 89 * time.Millisecond,
		Usage: llm.Usage{
			InputTokens: 1000, CachedInputTokens: 200, CacheWriteTokens: 30, AudioInputTokens: 4, ImageInputTokens: 5,
			OutputTokens: 600, ReasoningTokens: 100, AudioOutputTokens: 6, ImageOutputTokens: 7,
		},
		UsageSource: gateway.UsageFromUpstream, CostNanoUSD: 8_500_000, Attempts: 2, ErrorMessage: "first try: 429",
		Tried: []string{"backup: 429 rate limited", "other: 503 down for maintenance"},
	}
}

func testLedger(t *testing.T, s *Store) {
	ctx := context.Background()
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	recs := []gateway.UsageRecord{
		usageRec("req-1", 1, base),
		usageRec("req-2", 2, base.Add(time.Minute)),
		usageRec("req-3", 1, base.Add(2*time.Minute)),
	}
	if err := s.InsertUsage(ctx, recs); err != nil {
		t.Fatal(err)
	}
	// A replay with one new record, and a duplicate inside the batch.
	if err := s.InsertUsage(ctx, []gateway.UsageRecord{
		usageRec("req-2", 9, base), usageRec("req-4", 2, base.Add(3*time.Minute)), usageRec("req-4", 9, base),
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.InsertUsage(ctx, []gateway.UsageRecord{{Time: base}}); err == nil {
		t.Fatal("InsertUsage accepted a record without request id")
	}

	all, err := s.ListUsage(ctx, gateway.LedgerFilter{})
	if err != nil {
		t.Fatal(err)
	}
	ids := func(rs []gateway.UsageRecord) string {
		var out []string
		for _, r := range rs {
			out = append(out, r.RequestID)
		}
		return strings.Join(out, ",")
	}
	if got := ids(all); got != "req-4,req-3,req-2,req-1" {
		t.Fatalf("ListUsage order = %s", got)
	}
	if !reflect.DeepEqual(all[3], recs[0]) {
		t.Fatalf("round trip:\n%+v\nwant\n%+v", all[3], recs[0])
	}
	if all[0].KeyID != 2 || !all[0].Time.Equal(base.Add(3*time.Minute)) {
		t.Fatalf("duplicate inside a batch overwrote the first: %+v", all[0])
	}

	filters := []struct {
		f    gateway.LedgerFilter
		want string
	}{
		{gateway.LedgerFilter{KeyID: 1}, "req-3,req-1"},
		{gateway.LedgerFilter{KeyID: 3}, ""},
		{gateway.LedgerFilter{Since: base.Add(time.Minute)}, "req-4,req-3,req-2"},
		{gateway.LedgerFilter{Until: base.Add(time.Minute)}, "req-1"},
		{gateway.LedgerFilter{Since: base.Add(time.Minute), Until: base.Add(3 * time.Minute)}, "req-3,req-2"},
		{gateway.LedgerFilter{KeyID: 2, Since: base.Add(2 * time.Minute)}, "req-4"},
		{gateway.LedgerFilter{Limit: 2}, "req-4,req-3"},
		{gateway.LedgerFilter{KeyID: 1, Limit: 1}, "req-3"},
	}
	for _, ft := range filters {
		got, err := s.ListUsage(ctx, ft.f)
		if err != nil {
			t.Fatal(err)
		}
		if ids(got) != ft.want {
			t.Errorf("ListUsage(%+v) = %q, want %q", ft.f, ids(got), ft.want)
		}
	}

	// A batch larger than one INSERT statement holds.
	big := make([]gateway.UsageRecord, 2*usageBatchRows+17)
	for i := range big {
		big[i] = usageRec(fmt.Sprintf("big-%d", i), 5, base.Add(time.Duration(i)*time.Second))
	}
	if err := s.InsertUsage(ctx, big); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListUsage(ctx, gateway.LedgerFilter{KeyID: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(big) {
		t.Fatalf("big batch: stored %d of %d", len(got), len(big))
	}

	// Replays and in-batch duplicates are skipped in the prepared full
	// chunks as in the remainder: the big batch again (every record
	// stored), plus new records of which some repeat inside the batch.
	replay := append([]gateway.UsageRecord(nil), big[:usageStmtRows+3]...)
	for i := range 2 * usageStmtRows {
		id := fmt.Sprintf("dup-%d", i%(usageStmtRows+10))
		replay = append(replay, usageRec(id, 6, base.Add(time.Duration(i)*time.Second)))
	}
	if err := s.InsertUsage(ctx, replay); err != nil {
		t.Fatal(err)
	}
	if got, err = s.ListUsage(ctx, gateway.LedgerFilter{KeyID: 5}); err != nil || len(got) != len(big) {
		t.Fatalf("after a replay: %d records of key 5 (err %v), want %d", len(got), err, len(big))
	}
	if got, err = s.ListUsage(ctx, gateway.LedgerFilter{KeyID: 6}); err != nil || len(got) != usageStmtRows+10 {
		t.Fatalf("in-batch duplicates: %d records of key 6 (err %v), want %d", len(got), err, usageStmtRows+10)
	}
}

func testSettings(t *testing.T, s *Store) {
	ctx := context.Background()
	_, err := s.GetSetting(ctx, "admin_token_hash")
	wantErrIs(t, "GetSetting(unset)", err, gateway.ErrNotFound)
	for _, v := range []string{"one", "", "two"} {
		if err := s.SetSetting(ctx, "admin_token_hash", v); err != nil {
			t.Fatal(err)
		}
		if got, err := s.GetSetting(ctx, "admin_token_hash"); err != nil || got != v {
			t.Fatalf("GetSetting = %q, %v; want %q", got, err, v)
		}
	}
}

// counters returns a key's spent and reserved.
func counters(t *testing.T, s *Store, id int64) (spent, reserved int64) {
	t.Helper()
	k := mustKey(t, s, id)
	return k.SpentNanoUSD, k.ReservedNanoUSD
}

func wantCounters(t *testing.T, s *Store, id, spent, reserved int64) {
	t.Helper()
	gs, gr := counters(t, s, id)
	if gs != spent || gr != reserved {
		t.Fatalf("spent, reserved = %d, %d; want %d, %d", gs, gr, spent, reserved)
	}
}

func testBudgetSequential(t *testing.T, s *Store) {
	ctx := context.Background()
	k := createKey(t, s, "budgeted", 1000)
	id := k.ID
	steps := []struct {
		name            string
		do              func() error
		wantErr         error
		spent, reserved int64
	}{
		{"reserve r1", func() error { return s.Reserve(ctx, id, "r1", 600) }, nil, 0, 600},
		{"reserve r1 again", func() error { return s.Reserve(ctx, id, "r1", 600) }, nil, 0, 600},
		{"reserve r2 clipped", func() error { return s.Reserve(ctx, id, "r2", 600) }, nil, 0, 1000},
		{"reserve r3 exhausted", func() error { return s.Reserve(ctx, id, "r3", 1) }, gateway.ErrBudgetExceeded, 0, 1000},
		{"settle r1", func() error { return s.Settle(ctx, id, "r1", 500) }, nil, 500, 400},
		{"settle r1 again", func() error { return s.Settle(ctx, id, "r1", 500) }, nil, 500, 400},
		{"reserve r1 after settle", func() error { return s.Reserve(ctx, id, "r1", 50) }, nil, 500, 400},
		{"release r2", func() error { return s.Release(ctx, id, "r2") }, nil, 500, 0},
		{"release r2 again", func() error { return s.Release(ctx, id, "r2") }, nil, 500, 0},
		{"release unknown", func() error { return s.Release(ctx, id, "nope") }, nil, 500, 0},
		{"reserve r3", func() error { return s.Reserve(ctx, id, "r3", 100) }, nil, 500, 100},
		{"settle r3 above hold", func() error { return s.Settle(ctx, id, "r3", 150) }, nil, 650, 0},
		{"settle without reservation", func() error { return s.Settle(ctx, id, "r4", 10) }, nil, 660, 0},
		{"settle r4 again", func() error { return s.Settle(ctx, id, "r4", 10) }, nil, 660, 0},
		{"reserve zero", func() error { return s.Reserve(ctx, id, "r5", 0) }, nil, 660, 0},
		{"release zero hold", func() error { return s.Release(ctx, id, "r5") }, nil, 660, 0},
		{"reserve negative", func() error { return s.Reserve(ctx, id, "r6", -1) }, errAny, 660, 0},
		{"settle negative", func() error { return s.Settle(ctx, id, "r6", -1) }, errAny, 660, 0},
		{"reserve other key's request", func() error { return s.Reserve(ctx, id, "r7", 340) }, nil, 660, 340},
		{"settle on wrong key charges nothing of r7", func() error { return s.Release(ctx, 99999, "r7") }, gateway.ErrNotFound, 660, 340},
		{"overdraw one request", func() error { return s.Settle(ctx, id, "r7", 400) }, nil, 1060, 0},
		{"exhausted after overdraw", func() error { return s.Reserve(ctx, id, "r8", 1) }, gateway.ErrBudgetExceeded, 1060, 0},
		{"reserve missing key", func() error { return s.Reserve(ctx, 99999, "r9", 1) }, gateway.ErrNotFound, 1060, 0},
	}
	for _, st := range steps {
		err := st.do()
		switch {
		case st.wantErr == errAny:
			if err == nil {
				t.Fatalf("%s: succeeded, want an error", st.name)
			}
		case st.wantErr != nil:
			wantErrIs(t, st.name, err, st.wantErr)
		case err != nil:
			t.Fatalf("%s: %v", st.name, err)
		}
		gs, gr := counters(t, s, id)
		if gs != st.spent || gr != st.reserved {
			t.Fatalf("%s: spent, reserved = %d, %d; want %d, %d", st.name, gs, gr, st.spent, st.reserved)
		}
	}

	// Deleting a key drops its reservations with it.
	if err := s.Reserve(ctx, createKey(t, s, "doomed", 100).ID, "d1", 10); err != nil {
		t.Fatal(err)
	}
	doomed, _ := s.ListKeys(ctx)
	if err := s.DeleteKey(ctx, doomed[len(doomed)-1].ID); err != nil {
		t.Fatalf("DeleteKey with an open reservation: %v", err)
	}
}

// errAny marks a step that must fail with any error.
var errAny = errors.New("any error")

func testBudgetUnlimited(t *testing.T, s *Store) {
	ctx := context.Background()
	id := createKey(t, s, "unlimited", 0).ID
	for i := range 3 {
		if err := s.Reserve(ctx, id, fmt.Sprintf("u%d", i), 1_000_000); err != nil {
			t.Fatal(err)
		}
	}
	wantCounters(t, s, id, 0, 0)
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM reservations`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("unlimited key left %d reservations (%v)", n, err)
	}
	for range 2 {
		if err := s.Settle(ctx, id, "u0", 700); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Settle(ctx, id, "u1", 300); err != nil {
		t.Fatal(err)
	}
	if err := s.Release(ctx, id, "u2"); err != nil {
		t.Fatal(err)
	}
	wantCounters(t, s, id, 1000, 0)
}

func testBudgetStale(t *testing.T, s *Store) {
	ctx := context.Background()
	a := createKey(t, s, "a", 1000).ID
	b := createKey(t, s, "b", 1000).ID
	for _, r := range []struct {
		key int64
		id  string
	}{{a, "a1"}, {a, "a2"}, {b, "b1"}} {
		if err := s.Reserve(ctx, r.key, r.id, 100); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Settle(ctx, a, "a2", 40); err != nil {
		t.Fatal(err)
	}
	n, err := s.ReleaseStale(ctx, time.Hour)
	if err != nil || n != 0 {
		t.Fatalf("ReleaseStale(1h) on fresh reservations = %d, %v", n, err)
	}
	s.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if err := s.Reserve(ctx, b, "b2", 100); err != nil { // fresh relative to the new clock
		t.Fatal(err)
	}
	n, err = s.ReleaseStale(ctx, time.Hour)
	if err != nil || n != 2 {
		t.Fatalf("ReleaseStale = %d, %v; want 2", n, err)
	}
	wantCounters(t, s, a, 40, 0)
	wantCounters(t, s, b, 0, 100)
	// A late Settle of a released request still charges, once.
	if err := s.Settle(ctx, a, "a1", 70); err != nil {
		t.Fatal(err)
	}
	wantCounters(t, s, a, 110, 0)

	pruned, err := s.PruneSettled(ctx, time.Hour)
	if err != nil || pruned != 1 { // a2, settled under the old clock
		t.Fatalf("PruneSettled = %d, %v; want 1", pruned, err)
	}
}

func testBudgetConcurrent(t *testing.T, s *Store) {
	ctx := context.Background()
	const (
		workers = 200
		x       = int64(1_000_000)
		budget  = 5*x + x/2 // the sixth request gets a clipped hold
	)
	id := createKey(t, s, "contended", budget).ID
	var (
		wg              sync.WaitGroup
		ok, exceeded    atomic.Int64
		mu              sync.Mutex
		firstUnexpected error
	)
	for i := range workers {
		wg.Go(func() {
			req := fmt.Sprintf("c-%d", i)
			err := s.Reserve(ctx, id, req, x)
			if errors.Is(err, gateway.ErrBudgetExceeded) {
				exceeded.Add(1)
				return
			}
			if err == nil {
				ok.Add(1)
				err = s.Settle(ctx, id, req, x)
			}
			if err != nil {
				mu.Lock()
				if firstUnexpected == nil {
					firstUnexpected = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstUnexpected != nil {
		t.Fatalf("unexpected error under contention: %v", firstUnexpected)
	}
	spent, reserved := counters(t, s, id)
	if reserved != 0 {
		t.Fatalf("reserved = %d after every request settled, want 0", reserved)
	}
	if spent > budget+x || spent < budget {
		t.Fatalf("spent = %d, want within [%d, %d]", spent, budget, budget+x)
	}
	if ok.Load() != 6 || ok.Load()+exceeded.Load() != workers {
		t.Fatalf("admitted %d, refused %d; want 6 admitted of %d", ok.Load(), exceeded.Load(), workers)
	}
}

// testBudgetOnePartialHold: reservations are worst cases (3x) and calls
// cost less (x), so settling frees budget that later calls can only partly
// reserve. If several partial holds were in flight at once, each could
// overdraw; one at a time bounds the overdraw to one call.
func testBudgetOnePartialHold(t *testing.T, s *Store) {
	ctx := context.Background()
	const (
		workers = 120
		x       = int64(1_000_000)
		budget  = 4 * x
	)
	id := createKey(t, s, "overestimated", budget).ID
	// Sequentially first: a partial hold blocks a second one until it settles.
	if err := s.Reserve(ctx, id, "p-1", 5*x); err != nil {
		t.Fatal(err)
	}
	if err := s.Release(ctx, id, "p-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Reserve(ctx, id, "p-2", 3*x); err != nil { // full
		t.Fatal(err)
	}
	if err := s.Reserve(ctx, id, "p-3", 3*x); err != nil { // partial: x remains
		t.Fatal(err)
	}
	// p-2 costs less than it held: 2x is free again, but only partly enough.
	if err := s.Settle(ctx, id, "p-2", x); err != nil {
		t.Fatal(err)
	}
	wantErrIs(t, "second partial hold", s.Reserve(ctx, id, "p-4", 3*x), gateway.ErrBudgetExceeded)
	if err := s.Settle(ctx, id, "p-3", 0); err != nil {
		t.Fatal(err)
	}
	// With the partial settled, the next call may take what remains.
	if err := s.Reserve(ctx, id, "p-5", 4*x); err != nil {
		t.Fatal(err)
	}
	if err := s.Release(ctx, id, "p-5"); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			req := fmt.Sprintf("o-%d", i)
			if err := s.Reserve(ctx, id, req, 3*x); err != nil {
				if !errors.Is(err, gateway.ErrBudgetExceeded) {
					t.Error(err)
				}
				return
			}
			time.Sleep(time.Duration(i%5) * time.Millisecond) // keep holds in flight
			if err := s.Settle(ctx, id, req, x); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	spent, reserved := counters(t, s, id)
	if reserved != 0 {
		t.Fatalf("reserved = %d after every request settled", reserved)
	}
	if spent > budget+x {
		t.Fatalf("spent %d overdraws budget %d by more than one call (%d)", spent, budget, x)
	}
}
