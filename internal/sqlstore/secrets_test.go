package sqlstore

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"switchboard/internal/gateway"
	"switchboard/internal/secret"
)

// legacyKeys is ["sk-legacy-1","sk-legacy-2"] as the previous release
// sealed it under testBox's key: "v1:", no binding to the row.
const legacyKeys = "v1:+ARNQBgPc3Y5jRXEM7UmTf05Edan/kZ1NxVulxpb0zhebkpmDNZoVW57CPEHdkxAqVEb6asDfHWL"

func TestSecretsSQLite(t *testing.T)   { runSecrets(t, sqliteDSN) }
func TestSecretsPostgres(t *testing.T) { runSecrets(t, postgresDSN) }

func runSecrets(t *testing.T, dsn func(testing.TB) string) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, dsn string)
	}{
		{"BoundToRow", testSecretsBoundToRow},
		{"WrongSecretRefused", testWrongSecretRefused},
		{"LegacyDatabaseOpensAndIsResealed", testLegacyDatabase},
		{"LegacyDatabaseUnderAnotherKeyRefused", testLegacyWrongKey},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, dsn(t)) })
	}
}

func openWith(t *testing.T, dsn string, box *secret.Box) (*Store, error) {
	t.Helper()
	s, err := Open(context.Background(), dsn, Options{Secret: box})
	if err == nil {
		t.Cleanup(func() { s.Close() })
	}
	return s, err
}

func mustOpen(t *testing.T, dsn string) *Store {
	t.Helper()
	s, err := openWith(t, dsn, testBox(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func otherBox(t *testing.T) *secret.Box {
	b, err := secret.New(bytes.Repeat([]byte{0x43}, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A sealed key copied into another channel's row does not open there.
func testSecretsBoundToRow(t *testing.T, dsn string) {
	ctx := context.Background()
	s := mustOpen(t, dsn)
	a, err := s.UpsertChannel(ctx, gateway.Channel{Name: "a", Type: gateway.ChannelOpenAI, APIKeys: []string{"sk-a"}, Headers: map[string]string{"X-Token": "tok-a"}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.UpsertChannel(ctx, gateway.Channel{Name: "b", Type: gateway.ChannelOpenAI, APIKeys: []string{"sk-b"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, col := range []string{"api_keys", "headers"} {
		if _, err := s.w.ExecContext(ctx, s.q(`UPDATE channels SET `+col+` = (SELECT `+col+` FROM channels WHERE id = ?) WHERE id = ?`), a.ID, b.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ChannelByID(ctx, b.ID); !errors.Is(err, secret.ErrWrongKey) {
			t.Fatalf("%s moved from channel a opens in channel b: %v", col, err)
		}
		if _, err := s.UpdateChannel(ctx, gateway.Channel{ID: b.ID, Name: "b", Type: gateway.ChannelOpenAI, APIKeys: []string{"sk-b"}}); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.ChannelByID(ctx, a.ID); err != nil || got.APIKeys[0] != "sk-a" || got.Headers["X-Token"] != "tok-a" {
		t.Fatalf("channel a: %+v, %v", got, err)
	}
}

// A node with another SWITCHBOARD_SECRET is refused at Open, naming the
// variable, before it reads or re-seals anything.
func testWrongSecretRefused(t *testing.T, dsn string) {
	ctx := context.Background()
	s := mustOpen(t, dsn)
	// Even with no channel stored yet, the check value refuses it.
	if _, err := openWith(t, dsn, otherBox(t)); !errors.Is(err, ErrWrongSecret) {
		t.Fatalf("Open of an empty database with another secret: %v", err)
	}
	ch, err := s.UpsertChannel(ctx, gateway.Channel{Name: "a", Type: gateway.ChannelOpenAI, APIKeys: []string{"sk-a"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = openWith(t, dsn, otherBox(t))
	if !errors.Is(err, ErrWrongSecret) || !errors.Is(err, secret.ErrWrongKey) || !strings.Contains(err.Error(), "SWITCHBOARD_SECRET") {
		t.Fatalf("Open with another secret: %v", err)
	}
	if got, err := s.ChannelByID(ctx, ch.ID); err != nil || got.APIKeys[0] != "sk-a" {
		t.Fatalf("the refused node changed the channel: %+v, %v", got, err)
	}
}

// oldDatabase turns s's channel into what the previous release stored:
// API keys sealed without a row binding, headers in plain JSON, no check
// value.
func oldDatabase(t *testing.T, s *Store, id int64) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.w.ExecContext(ctx, s.q(`UPDATE channels SET api_keys = ?, headers = ? WHERE id = ?`), legacyKeys, `{"X-Org":"acme"}`, id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.ExecContext(ctx, s.q(`DELETE FROM settings WHERE name = ?`), secretCheckSetting); err != nil {
		t.Fatal(err)
	}
}

func testLegacyDatabase(t *testing.T, dsn string) {
	ctx := context.Background()
	s := mustOpen(t, dsn)
	ch, err := s.UpsertChannel(ctx, gateway.Channel{Name: "old", Type: gateway.ChannelAnthropic, APIKeys: []string{"x"}, Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	oldDatabase(t, s, ch.ID)
	s.Close()

	s = mustOpen(t, dsn)
	got, err := s.ChannelByID(ctx, ch.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.APIKeys, []string{"sk-legacy-1", "sk-legacy-2"}) || got.Headers["X-Org"] != "acme" {
		t.Fatalf("legacy channel read as %+v", got)
	}
	var keys, hdr string
	if err := s.r.QueryRowContext(ctx, s.q(`SELECT api_keys, headers FROM channels WHERE id = ?`), ch.ID).Scan(&keys, &hdr); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(keys, "v2:") || !strings.HasPrefix(hdr, "v2:") {
		t.Fatalf("not resealed at open: api_keys %q, headers %q", keys, hdr)
	}
	if _, err := s.GetSetting(ctx, secretCheckSetting); err != nil {
		t.Fatalf("no check value after opening a legacy database: %v", err)
	}
	// Once resealed and checked, another key is refused.
	s.Close()
	if _, err := openWith(t, dsn, otherBox(t)); !errors.Is(err, ErrWrongSecret) {
		t.Fatalf("another key after the upgrade: %v", err)
	}
}

// A legacy database (no check value) whose channels another key sealed
// is refused rather than adopted.
func testLegacyWrongKey(t *testing.T, dsn string) {
	ctx := context.Background()
	s := mustOpen(t, dsn)
	ch, err := s.UpsertChannel(ctx, gateway.Channel{Name: "old", Type: gateway.ChannelOpenAI, APIKeys: []string{"x"}})
	if err != nil {
		t.Fatal(err)
	}
	oldDatabase(t, s, ch.ID)
	s.Close()
	if _, err := openWith(t, dsn, otherBox(t)); !errors.Is(err, ErrWrongSecret) || !strings.Contains(err.Error(), "SWITCHBOARD_SECRET") {
		t.Fatalf("Open of a legacy database sealed under another key: %v", err)
	}
	// Nothing was written by the refused node: the right key still opens it.
	s = mustOpen(t, dsn)
	if got, err := s.ChannelByID(ctx, ch.ID); err != nil || got.APIKeys[0] != "sk-legacy-1" {
		t.Fatalf("after the refusal: %+v, %v", got, err)
	}
}
