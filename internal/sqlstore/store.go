package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	// PostgreSQL goes through pgx's database/sql adapter rather than
	// pgxpool: goose needs a *sql.DB anyway, and one database/sql code path
	// serves both engines, so every query and transaction is written once.
	// pgx still caches prepared statements per connection underneath.
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"switchboard/internal/gateway"
	"switchboard/internal/secret"
)

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrations embed.FS

// migrationTable is goose's version table; named for us so a PostgreSQL
// database shared with another goose-managed app does not mix histories.
const migrationTable = "switchboard_migrations"

// Options configures Open.
type Options struct {
	// Secret seals upstream channel keys. Required: the store refuses to
	// write provider credentials in plaintext.
	Secret *secret.Box
	// MaxOpenConns caps the PostgreSQL pool and the SQLite read pool.
	// 0 picks a default (16 for PostgreSQL, 4 for SQLite reads).
	MaxOpenConns int
	// NodeID names the node this store serves, stable across its restarts
	// (ledger.NodeID): budget holds carry it, so the node releases its own
	// at its next start (ReleaseNode). Empty for tools that hold nothing.
	NodeID string
}

type dialect int

const (
	dialectSQLite dialect = iota
	dialectPostgres
)

func (d dialect) String() string {
	if d == dialectPostgres {
		return "postgres"
	}
	return "sqlite"
}

// Store is the SQL gateway.Store. It is safe for concurrent use.
type Store struct {
	d dialect
	// w takes every write and every transaction; r serves plain reads. They
	// are the same pool except for SQLite files (see the package doc).
	w, r *sql.DB
	box  *secret.Box
	now  func() time.Time
	// nodeID stamps budget holds; nodeClock makes budget periods follow
	// now even on PostgreSQL (tests that move the clock).
	nodeID    string
	nodeClock bool

	rebound sync.Map // query with ? placeholders -> PostgreSQL $n form

	usageStmtMu sync.Mutex
	usageStmt   *sql.Stmt // see usageInsertStmt
}

var _ gateway.Store = (*Store)(nil)

// Open connects to dsn, applies pending migrations, checks that the
// database's sealed values open with opts.Secret (failing with
// ErrWrongSecret otherwise), seals again what an older release sealed the
// old way, and returns the store.
// dsn is sqlite://path/to/file.db (relative to the working directory;
// parent directories are created), sqlite://:memory:, or a
// postgres:// / postgresql:// URL as pgx accepts it.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	if opts.Secret == nil {
		return nil, errors.New("sqlstore: Options.Secret is required to encrypt upstream keys")
	}
	scheme, rest, ok := strings.Cut(dsn, "://")
	if !ok {
		return nil, fmt.Errorf("sqlstore: database %q: want sqlite://PATH or postgres://URL", redactDSN(dsn))
	}
	s := &Store{box: opts.Secret, now: time.Now, nodeID: opts.NodeID}
	var err error
	switch strings.ToLower(scheme) {
	case "sqlite", "sqlite3":
		s.d = dialectSQLite
		err = s.openSQLite(ctx, rest, opts)
	case "postgres", "postgresql":
		s.d = dialectPostgres
		err = s.openPostgres(ctx, dsn, opts)
	default:
		return nil, fmt.Errorf("sqlstore: unsupported database scheme %q (want sqlite or postgres)", scheme)
	}
	if err != nil {
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.checkSecret(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if _, err := s.resealLegacy(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.ensureRollups(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// sqliteTarget is a parsed sqlite:// DSN.
type sqliteTarget struct {
	path   string     // file path, ":memory:" or a file: URI
	query  url.Values // caller's extra driver parameters
	memory bool
}

func parseSQLiteDSN(rest string) (sqliteTarget, error) {
	path, rawQuery, _ := strings.Cut(rest, "?")
	if path == "" {
		return sqliteTarget{}, errors.New("sqlstore: sqlite DSN has no path")
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return sqliteTarget{}, fmt.Errorf("sqlstore: sqlite DSN query: %w", err)
	}
	memory := path == ":memory:" || strings.HasPrefix(path, "file::memory:") || q.Get("mode") == "memory"
	return sqliteTarget{path: path, query: q, memory: memory}, nil
}

// driverDSN is the modernc DSN for one pool.
func (t sqliteTarget) driverDSN(readOnly bool) string {
	q := url.Values{}
	for k, v := range t.query {
		q[k] = append([]string(nil), v...)
	}
	add := func(k, v string) {
		if _, set := q[k]; !set {
			q.Set(k, v)
		}
	}
	// A writer that began deferred and later upgrades can fail at once with
	// SQLITE_BUSY when another connection wrote in between (busy_timeout
	// does not apply to upgrades); beginning IMMEDIATE takes the write lock
	// up front, where busy_timeout does apply.
	add("_txlock", "immediate")
	pragmas := []string{"busy_timeout(5000)", "foreign_keys(1)"}
	if !t.memory {
		// synchronous=NORMAL in WAL mode survives a process crash and never
		// corrupts; a power cut may lose the last commits. Full fsync per
		// Reserve/Settle would cap throughput at the disk's fsync rate.
		pragmas = append(pragmas, "journal_mode(WAL)", "synchronous(NORMAL)")
	}
	if readOnly {
		pragmas = append(pragmas, "query_only(1)")
	}
	q["_pragma"] = append(q["_pragma"], pragmas...)
	return t.path + "?" + q.Encode()
}

func (s *Store) openSQLite(ctx context.Context, rest string, opts Options) error {
	t, err := parseSQLiteDSN(rest)
	if err != nil {
		return err
	}
	if !t.memory && !strings.HasPrefix(t.path, "file:") {
		if dir := filepath.Dir(t.path); dir != "." {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return fmt.Errorf("sqlstore: create database directory: %w", err)
			}
		}
	}
	w, err := sql.Open("sqlite", t.driverDSN(false))
	if err != nil {
		return fmt.Errorf("sqlstore: open sqlite: %w", err)
	}
	// One writer connection: in-process writers queue on the pool instead
	// of contending for SQLite's lock. It also keeps a :memory: database
	// alive, since each connection to :memory: is a database of its own.
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return fmt.Errorf("sqlstore: open sqlite %s: %w", t.path, err)
	}
	s.w, s.r = w, w
	if t.memory {
		return nil
	}
	r, err := sql.Open("sqlite", t.driverDSN(true))
	if err != nil {
		w.Close()
		return fmt.Errorf("sqlstore: open sqlite: %w", err)
	}
	n := opts.MaxOpenConns
	if n <= 0 {
		n = 4
	}
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	if err := r.PingContext(ctx); err != nil {
		w.Close()
		r.Close()
		return fmt.Errorf("sqlstore: open sqlite %s for reading: %w", t.path, err)
	}
	s.r = r
	return nil
}

func (s *Store) openPostgres(ctx context.Context, dsn string, opts Options) error {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return fmt.Errorf("sqlstore: open postgres %s: %w", redactDSN(dsn), err)
	}
	n := opts.MaxOpenConns
	if n <= 0 {
		n = 16
	}
	db.SetMaxOpenConns(n)
	db.SetMaxIdleConns(n)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return fmt.Errorf("sqlstore: connect postgres %s: %w", redactDSN(dsn), err)
	}
	s.w, s.r = db, db
	return nil
}

// redactDSN drops a password from a URL-shaped DSN for error messages.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	return u.Redacted()
}

func (s *Store) migrate(ctx context.Context) error {
	fsys, err := fs.Sub(migrations, "migrations/"+s.d.String())
	if err != nil {
		return fmt.Errorf("sqlstore: migrations: %w", err)
	}
	popts := []goose.ProviderOption{
		goose.WithTableName(migrationTable),
		goose.WithDisableGlobalRegistry(true),
	}
	gd := goose.DialectSQLite3
	if s.d == dialectPostgres {
		gd = goose.DialectPostgres
		// Nodes starting together against one database take turns; the
		// advisory lock id is ours so other goose users do not block us.
		locker, err := lock.NewPostgresSessionLocker(
			lock.WithLockID(0x5377_6974_6368), // "Switch"
			lock.WithLockTimeout(1, 300),
		)
		if err != nil {
			return fmt.Errorf("sqlstore: migration lock: %w", err)
		}
		popts = append(popts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(gd, s.w, fsys, popts...)
	if err != nil {
		return fmt.Errorf("sqlstore: migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("sqlstore: migrate %s: %w", s.d, err)
	}
	return nil
}

// Close closes the connection pools.
func (s *Store) Close() error {
	s.usageStmtMu.Lock()
	if s.usageStmt != nil {
		_ = s.usageStmt.Close()
		s.usageStmt = nil
	}
	s.usageStmtMu.Unlock()
	err := s.w.Close()
	if s.r != s.w {
		err = errors.Join(err, s.r.Close())
	}
	return err
}

// q returns query in the dialect's placeholder style. Queries are written
// with ? and must not contain ? anywhere but as placeholders.
func (s *Store) q(query string) string {
	if s.d != dialectPostgres {
		return query
	}
	if v, ok := s.rebound.Load(query); ok {
		return v.(string)
	}
	out := s.rebind(query)
	s.rebound.Store(query, out)
	return out
}

// rebind converts ? placeholders to PostgreSQL's $n, uncached.
func (s *Store) rebind(query string) string {
	if s.d != dialectPostgres {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 8)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// forUpdate locks the selected rows until the transaction ends. SQLite has
// no row locks and needs none: an IMMEDIATE transaction already holds the
// database write lock.
func (s *Store) forUpdate() string {
	if s.d == dialectPostgres {
		return " FOR UPDATE"
	}
	return ""
}

// sqliteTimeLayout is fixed-width so that TEXT comparison orders by time.
const sqliteTimeLayout = "2006-01-02T15:04:05.000000Z"

// ts encodes t for the dialect, in UTC at microsecond precision (what
// PostgreSQL keeps), so that a value read back equals the value written.
func (s *Store) ts(t time.Time) any {
	t = t.UTC().Truncate(time.Microsecond)
	if s.d == dialectSQLite {
		return t.Format(sqliteTimeLayout)
	}
	return t
}

// nowUTC is the store clock, at stored precision.
func (s *Store) nowUTC() time.Time {
	return s.now().UTC().Truncate(time.Microsecond)
}

// dbTime scans a timestamp from either dialect.
type dbTime struct{ t time.Time }

func (d *dbTime) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		d.t = time.Time{}
	case time.Time:
		d.t = v.UTC()
	case string:
		return d.parse(v)
	case []byte:
		return d.parse(string(v))
	default:
		return fmt.Errorf("sqlstore: cannot scan %T as a timestamp", src)
	}
	return nil
}

func (d *dbTime) parse(v string) error {
	if v == "" {
		d.t = time.Time{}
		return nil
	}
	t, err := time.Parse(sqliteTimeLayout, v)
	if err != nil {
		if t, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return fmt.Errorf("sqlstore: bad timestamp %q", v)
		}
	}
	d.t = t.UTC()
	return nil
}

// isUniqueViolation reports whether err is a unique or primary key
// constraint failure on either engine.
func isUniqueViolation(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		c := se.Code()
		return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	return false
}

// inTx runs fn in a write transaction, committing when fn returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// rowScanner is *sql.Row or *sql.Rows.
type rowScanner interface {
	Scan(dest ...any) error
}
