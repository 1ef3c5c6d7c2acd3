package main

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
)

func TestSummarise(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sb.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	// The columns ledgerstat reads, as in the gateway's migration.
	for _, q := range []string{
		`CREATE TABLE usage (id INTEGER PRIMARY KEY, request_id TEXT NOT NULL, channel_name TEXT NOT NULL DEFAULT '',
			status INTEGER NOT NULL DEFAULT 0, stream INTEGER NOT NULL DEFAULT 0, input_tokens INTEGER NOT NULL DEFAULT 0,
			output_tokens INTEGER NOT NULL DEFAULT 0, usage_source TEXT NOT NULL DEFAULT '', cost_nano INTEGER NOT NULL DEFAULT 0,
			attempts INTEGER NOT NULL DEFAULT 0, error_message TEXT NOT NULL DEFAULT '')`,
		`INSERT INTO usage (request_id, channel_name, status, input_tokens, output_tokens, usage_source, cost_nano, attempts) VALUES
			('r1', 'A', 200, 12, 20, 'upstream', 52000, 1),
			('r2', 'A', 200, 12, 20, 'upstream', 52000, 2)`,
		`INSERT INTO usage (request_id, channel_name, status, attempts, error_message) VALUES ('r3', 'B', 502, 3, 'upstream answered 500')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	tests := []struct {
		expect    int64
		wantMatch bool
		want      []string
	}{
		{3, true, []string{"| records | 3 |", "| client calls made | 3 (match) |", "| total cost | 104000 nano-USD", "| 2 | 1 | 33.33% | 52000 |", "| 502 | upstream answered 500 | 3 | 1 |"}},
		{4, false, []string{"MISMATCH (-1)"}},
		{-1, true, []string{"| records | 3 |"}},
	}
	for _, tt := range tests {
		var out strings.Builder
		match, err := summarise(context.Background(), path, tt.expect, &out)
		if err != nil {
			t.Fatal(err)
		}
		if match != tt.wantMatch {
			t.Errorf("expect %d: match = %v, want %v", tt.expect, match, tt.wantMatch)
		}
		for _, w := range tt.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("expect %d: output lacks %q:\n%s", tt.expect, w, out.String())
			}
		}
	}
}
