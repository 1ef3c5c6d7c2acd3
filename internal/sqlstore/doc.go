// Package sqlstore is the SQL implementation of gateway.Store, for SQLite
// (one node, modernc.org/sqlite, pure Go) and PostgreSQL (many nodes, pgx).
//
// Both engines share one code path over database/sql; the differences are
// kept small and explicit in the dialect type: placeholder style, row
// locking, timestamp encoding and constraint-error detection. The schema
// lives in embedded goose migrations, one directory per engine, applied by
// Open.
//
// Budgets follow DESIGN.md §5: Reserve holds the worst case before the
// upstream call, Settle replaces the hold with the actual cost, Release
// drops it. Each runs in one transaction that first locks the key row
// (SELECT ... FOR UPDATE on PostgreSQL; SQLite transactions begin
// IMMEDIATE and so take the database write lock), and each is idempotent
// per request id: reservations are keyed by request id, and settled request
// ids are remembered in settled_requests so a replayed Settle charges
// nothing. A budget is overdrawn by at most one in-flight request, the one
// whose hold was clipped to what remained.
//
// Client keys are stored as their SHA-256 hash only. Upstream channel keys
// are sealed with a secret.Box (AES-256-GCM) before they reach the
// database.
//
// SQLite runs in WAL mode with two pools on file databases: one connection
// for writes, so writers in this process queue in Go instead of spinning on
// SQLITE_BUSY, and several for reads, which WAL lets run beside the writer.
// busy_timeout still covers other processes (the CLI) writing the same file.
package sqlstore
