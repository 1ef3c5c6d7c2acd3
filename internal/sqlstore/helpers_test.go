package sqlstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"switchboard/internal/secret"
)

// opener returns a fresh, empty, migrated store for one test.
type opener func(t testing.TB) *Store

func testBox(t testing.TB) *secret.Box {
	t.Helper()
	b, err := secret.New(bytes.Repeat([]byte{0x42}, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func openSQLite(t testing.TB) *Store {
	t.Helper()
	// A nested path checks that Open creates parent directories.
	dsn := "sqlite://" + filepath.Join(t.TempDir(), "data", "switchboard.db")
	s, err := Open(context.Background(), dsn, Options{Secret: testBox(t)})
	if err != nil {
		t.Fatalf("open %s: %v", dsn, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

const defaultTestPostgres = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// pgState is the database this test binary created, shared by all
// PostgreSQL tests; each test gets its own schema in it.
var pgState struct {
	once    sync.Once
	admin   string // DSN of the server's maintenance database
	dbName  string
	err     error
	schemas int
}

func pgAdminDSN() string {
	if v := os.Getenv("SWITCHBOARD_TEST_POSTGRES"); v != "" {
		return v
	}
	return defaultTestPostgres
}

func randomSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func setupPostgres() {
	pgState.admin = pgAdminDSN()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", pgState.admin)
	if err != nil {
		pgState.err = err
		return
	}
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		pgState.err = err
		return
	}
	name := fmt.Sprintf("switchboard_sqlstore_test_%d_%s", os.Getpid(), randomSuffix())
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		pgState.err = err
		return
	}
	pgState.dbName = name
}

// dropPostgres removes the test database; called from TestMain.
func dropPostgres() {
	if pgState.dbName == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", pgState.admin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sqlstore test: drop database:", err)
		return
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pgState.dbName+" WITH (FORCE)"); err != nil {
		fmt.Fprintln(os.Stderr, "sqlstore test: drop database:", err)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	dropPostgres()
	os.Exit(code)
}

// openPostgres opens a store in a new schema of the per-run test database,
// skipping (or failing, under SWITCHBOARD_REQUIRE_INTEGRATION=1) when
// PostgreSQL is unreachable.
func openPostgres(t testing.TB) *Store {
	t.Helper()
	dsn := postgresDSN(t)
	s, err := Open(context.Background(), dsn, Options{Secret: testBox(t)})
	if err != nil {
		t.Fatalf("open postgres: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// postgresDSN creates a new schema in the per-run test database and
// returns the DSN that uses it, skipping (or failing, see openPostgres)
// when PostgreSQL is unreachable.
func postgresDSN(t testing.TB) string {
	t.Helper()
	pgState.once.Do(setupPostgres)
	if pgState.err != nil {
		msg := fmt.Sprintf("PostgreSQL at %s unreachable (set SWITCHBOARD_TEST_POSTGRES): %v",
			redactDSN(pgState.admin), pgState.err)
		if os.Getenv("SWITCHBOARD_REQUIRE_INTEGRATION") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	u, err := url.Parse(pgState.admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + pgState.dbName
	pgState.schemas++
	schema := fmt.Sprintf("t%d_%s", pgState.schemas, strings.ToLower(randomSuffix()))

	ctx := context.Background()
	base := u.String()
	db, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// sqliteDSN is a new SQLite file database's DSN.
func sqliteDSN(t testing.TB) string {
	return "sqlite://" + filepath.Join(t.TempDir(), "data", "switchboard.db")
}

// TestPostgresConcurrentOpen starts two "nodes" against one empty schema at
// once: the migration lock must make one wait for the other.
func TestPostgresConcurrentOpen(t *testing.T) {
	openPostgres(t) // sets up the test database, or skips
	u, _ := url.Parse(pgState.admin)
	u.Path = "/" + pgState.dbName
	schema := "race_" + randomSuffix()
	db, err := sql.Open("pgx", u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			s, err := Open(context.Background(), u.String(), Options{Secret: testBox(t)})
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent Open: %v", err)
		}
	}
}
