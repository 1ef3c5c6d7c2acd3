package sqlstore

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"switchboard/internal/gateway"
)

func TestOpenRejects(t *testing.T) {
	ctx := context.Background()
	box := testBox(t)
	tests := []struct {
		name, dsn string
		opts      Options
	}{
		{"no secret", "sqlite://:memory:", Options{}},
		{"no scheme", "data/switchboard.db", Options{Secret: box}},
		{"unknown scheme", "mysql://root@localhost/db", Options{Secret: box}},
		{"empty sqlite path", "sqlite://", Options{Secret: box}},
		{"bad driver parameter", "sqlite://:memory:?_txlock=sometimes", Options{Secret: box}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(ctx, tt.dsn, tt.opts)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded", tt.dsn)
			}
		})
	}
}

func TestOpenMemory(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, "sqlite://:memory:", Options{Secret: testBox(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.SetSetting(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	// The single connection must keep the in-memory database alive
	// between calls.
	if v, err := s.GetSetting(ctx, "k"); err != nil || v != "v" {
		t.Fatalf("GetSetting = %q, %v", v, err)
	}
}

func TestOpenRelativePathAndReopen(t *testing.T) {
	t.Chdir(t.TempDir())
	ctx := context.Background()
	dsn := "sqlite://data/nested/switchboard.db"
	s, err := Open(ctx, dsn, Options{Secret: testBox(t)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateKey(ctx, gateway.Key{Name: "k", Hash: "h", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	var mode string
	if err := s.w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v; want wal", mode, err)
	}
	// Reads go to the read pool, which must refuse writes.
	if _, err := s.r.ExecContext(ctx, "INSERT INTO settings (name, value) VALUES ('x', 'y')"); err == nil {
		t.Fatal("read pool accepted a write")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join("data", "nested", "switchboard.db")); err != nil {
		t.Fatalf("database not created relative to the working directory: %v", err)
	}
	// Reopening runs migrations again as a no-op and keeps the data.
	s, err = Open(ctx, dsn, Options{Secret: testBox(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.KeyByHash(ctx, "h"); err != nil {
		t.Fatalf("key lost across reopen: %v", err)
	}
}

func TestParseSQLiteDSN(t *testing.T) {
	tests := []struct {
		in       string
		path     string
		memory   bool
		contains []string // in the writer's driver DSN
		wantErr  bool
	}{
		{in: "data/switchboard.db", path: "data/switchboard.db",
			contains: []string{"_txlock=immediate", "journal_mode%28WAL%29", "busy_timeout%285000%29", "foreign_keys%281%29"}},
		{in: "/var/lib/sb.db?_txlock=exclusive", path: "/var/lib/sb.db", contains: []string{"_txlock=exclusive"}},
		{in: ":memory:", path: ":memory:", memory: true, contains: []string{"_txlock=immediate"}},
		{in: "file::memory:?cache=shared", path: "file::memory:", memory: true, contains: []string{"cache=shared"}},
		{in: "x.db?mode=memory", path: "x.db", memory: true},
		{in: "", wantErr: true},
		{in: "?a=b", wantErr: true},
		{in: "x.db?a=%zz", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseSQLiteDSN(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("parseSQLiteDSN(%q) succeeded", tt.in)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseSQLiteDSN(%q): %v", tt.in, err)
			continue
		}
		if got.path != tt.path || got.memory != tt.memory {
			t.Errorf("parseSQLiteDSN(%q) = path %q memory %v; want %q %v", tt.in, got.path, got.memory, tt.path, tt.memory)
		}
		dsn := got.driverDSN(false)
		for _, c := range tt.contains {
			if !strings.Contains(dsn, c) {
				t.Errorf("driverDSN(%q) = %q, lacks %q", tt.in, dsn, c)
			}
		}
		if tt.memory && strings.Contains(dsn, "WAL") {
			t.Errorf("memory database asks for WAL: %q", dsn)
		}
		if !strings.Contains(got.driverDSN(true), "query_only%281%29") {
			t.Errorf("read DSN of %q is not query_only", tt.in)
		}
	}
}

// FuzzParseSQLiteDSN checks that any accepted DSN yields a driver DSN that
// keeps the path and parses back as a query.
func FuzzParseSQLiteDSN(f *testing.F) {
	for _, s := range []string{"data/sb.db", ":memory:", "file::memory:?cache=shared", "a.db?_pragma=x&_txlock=deferred", "?", "%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := parseSQLiteDSN(in)
		if err != nil {
			return
		}
		dsn := got.driverDSN(false)
		path, query, ok := strings.Cut(dsn, "?")
		if !ok || path != got.path {
			t.Fatalf("driver DSN %q lost path %q", dsn, got.path)
		}
		if _, err := url.ParseQuery(query); err != nil {
			t.Fatalf("driver DSN query %q does not parse: %v", query, err)
		}
	})
}

func TestRebind(t *testing.T) {
	pg := &Store{d: dialectPostgres}
	lite := &Store{d: dialectSQLite}
	q := "SELECT a FROM t WHERE b = ? AND c IN (?, ?)"
	if got := pg.q(q); got != "SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)" {
		t.Fatalf("postgres rebind = %q", got)
	}
	if got := pg.q(q); got != "SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)" {
		t.Fatalf("cached rebind = %q", got)
	}
	if got := lite.q(q); got != q {
		t.Fatalf("sqlite rebind changed the query: %q", got)
	}
}

func TestTimeEncoding(t *testing.T) {
	s := &Store{d: dialectSQLite}
	zone := time.FixedZone("X", 3*3600)
	in := time.Date(2026, 1, 2, 15, 4, 5, 123456789, zone)
	enc, ok := s.ts(in).(string)
	if !ok || enc != "2026-01-02T12:04:05.123456Z" {
		t.Fatalf("ts = %v", s.ts(in))
	}
	// Fixed width: text order is time order across whole seconds.
	if a, b := s.ts(in.Truncate(time.Second)).(string), enc; !(a < b) {
		t.Fatalf("%q !< %q", a, b)
	}
	var d dbTime
	if err := d.Scan(enc); err != nil || !d.t.Equal(in.Truncate(time.Microsecond)) || d.t.Location() != time.UTC {
		t.Fatalf("Scan(%q) = %v, %v", enc, d.t, err)
	}
	if err := d.Scan([]byte("2026-01-02T12:04:05Z")); err != nil || d.t.Second() != 5 {
		t.Fatalf("Scan(RFC3339) = %v, %v", d.t, err)
	}
	if err := d.Scan(in); err != nil || d.t.Location() != time.UTC {
		t.Fatalf("Scan(time.Time) = %v, %v", d.t, err)
	}
	for _, bad := range []any{"yesterday", 42} {
		if err := d.Scan(bad); err == nil {
			t.Errorf("Scan(%v) succeeded", bad)
		}
	}
	if err := d.Scan(nil); err != nil || !d.t.IsZero() {
		t.Fatalf("Scan(nil) = %v, %v", d.t, err)
	}
}

func TestIsUniqueViolation(t *testing.T) {
	if isUniqueViolation(errors.New("UNIQUE constraint failed")) {
		t.Fatal("a plain error with the words is not a driver violation")
	}
	if isUniqueViolation(nil) {
		t.Fatal("nil is not a violation")
	}
}
