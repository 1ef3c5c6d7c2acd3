// Command ledgerstat summarises Switchboard's usage ledger in a SQLite
// database after a benchmark: record count (checked against the number of
// calls the load driver made), statuses, attempts per call, channels
// served, usage sources and total cost. It prints markdown and exits
// non-zero when -expect is set and the record count differs.
//
// Run it only after the gateway has shut down cleanly: the ledger drains
// its queue into the database on SIGTERM.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"

	_ "modernc.org/sqlite"
)

func main() {
	db := flag.String("db", "", "path of the SQLite database file")
	expect := flag.Int64("expect", -1, "expected number of records (-1: do not check)")
	flag.Parse()
	if *db == "" {
		fmt.Fprintln(os.Stderr, "ledgerstat: -db is required")
		os.Exit(2)
	}
	ok, err := summarise(context.Background(), *db, *expect, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ledgerstat:", err)
		os.Exit(1)
	}
	if !ok {
		os.Exit(3)
	}
}

func summarise(ctx context.Context, path string, expect int64, w io.Writer) (bool, error) {
	// Read-only: the file belongs to the gateway.
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return false, fmt.Errorf("open %s: %w", path, err)
	}
	defer db.Close()

	var n, cost, in, out, dup int64
	err = db.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(cost_nano),0), COALESCE(SUM(input_tokens),0),
		COALESCE(SUM(output_tokens),0), COUNT(*) - COUNT(DISTINCT request_id) FROM usage`).Scan(&n, &cost, &in, &out, &dup)
	if err != nil {
		return false, fmt.Errorf("count usage: %w", err)
	}
	match := expect < 0 || n == expect
	fmt.Fprintf(w, "| ledger | value |\n| --- | ---: |\n")
	fmt.Fprintf(w, "| records | %d |\n", n)
	if expect >= 0 {
		verdict := "match"
		if !match {
			verdict = fmt.Sprintf("MISMATCH (%+d)", n-expect)
		}
		fmt.Fprintf(w, "| client calls made | %d (%s) |\n", expect, verdict)
	}
	fmt.Fprintf(w, "| duplicate request ids | %d |\n", dup)
	fmt.Fprintf(w, "| input / output tokens | %d / %d |\n", in, out)
	fmt.Fprintf(w, "| total cost | %d nano-USD ($%.6f) |\n\n", cost, float64(cost)/1e9)

	groups := []struct{ title, col string }{
		{"status", "status"},
		{"attempts", "attempts"},
		{"channel (last tried)", "channel_name"},
		{"usage source", "usage_source"},
		{"stream", "stream"},
	}
	for _, g := range groups {
		if err := groupBy(ctx, db, g.title, g.col, n, w); err != nil {
			return false, err
		}
	}
	if err := errorMessages(ctx, db, w); err != nil {
		return false, err
	}
	return match, nil
}

// groupBy prints the record count per value of col.
func groupBy(ctx context.Context, db *sql.DB, title, col string, total int64, w io.Writer) error {
	// col comes from the fixed list above, never from input.
	rows, err := db.QueryContext(ctx, `SELECT CAST(`+col+` AS TEXT), COUNT(*), COALESCE(SUM(cost_nano),0) FROM usage GROUP BY 1 ORDER BY 1`)
	if err != nil {
		return fmt.Errorf("group by %s: %w", col, err)
	}
	defer rows.Close()
	fmt.Fprintf(w, "| %s | records | share | cost (nano-USD) |\n| --- | ---: | ---: | ---: |\n", title)
	for rows.Next() {
		var v string
		var c, cost int64
		if err := rows.Scan(&v, &c, &cost); err != nil {
			return fmt.Errorf("scan %s: %w", col, err)
		}
		if v == "" {
			v = "(none)"
		}
		fmt.Fprintf(w, "| %s | %d | %s | %d |\n", v, c, pct(c, total), cost)
	}
	fmt.Fprintln(w)
	if err := rows.Err(); err != nil {
		return fmt.Errorf("group by %s: %w", col, err)
	}
	return nil
}

// errorMessages lists what failed calls were told, most frequent first.
func errorMessages(ctx context.Context, db *sql.DB, w io.Writer) error {
	rows, err := db.QueryContext(ctx, `SELECT status, error_message, attempts, COUNT(*) FROM usage
		WHERE error_message <> '' GROUP BY 1, 2, 3 ORDER BY 4 DESC LIMIT 10`)
	if err != nil {
		return fmt.Errorf("error messages: %w", err)
	}
	defer rows.Close()
	header := false
	for rows.Next() {
		var status, attempts, c int64
		var msg string
		if err := rows.Scan(&status, &msg, &attempts, &c); err != nil {
			return fmt.Errorf("scan error message: %w", err)
		}
		if !header {
			fmt.Fprintf(w, "| failed calls: status | error message | attempts | records |\n| ---: | --- | ---: | ---: |\n")
			header = true
		}
		fmt.Fprintf(w, "| %d | %.120s | %d | %d |\n", status, msg, attempts, c)
	}
	if header {
		fmt.Fprintln(w)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("error messages: %w", err)
	}
	return nil
}

func pct(a, b int64) string {
	if b == 0 {
		return "—"
	}
	return strconv.FormatFloat(100*float64(a)/float64(b), 'f', 2, 64) + "%"
}
