package sqlstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"switchboard/internal/gateway"
)

func TestResponsesSQLite(t *testing.T)   { testResponses(t, openSQLite) }
func TestResponsesPostgres(t *testing.T) { testResponses(t, openPostgres) }

func testResponses(t *testing.T, open opener) {
	ctx := context.Background()
	s := open(t)
	now := time.Now().UTC().Truncate(time.Microsecond)
	rec := func(key int64, id string, age time.Duration) gateway.StoredResponse {
		return gateway.StoredResponse{ID: id, KeyID: key, Model: "m", CreatedAt: now.Add(-age), ExpiresAt: now.Add(time.Hour),
			Input: []byte(`[{"role":"user","content":"secret words"}]`), Response: []byte(`{"id":"` + id + `","output":[]}`)}
	}
	if err := s.PutResponse(ctx, rec(1, "resp_a", 0), 10); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetResponse(ctx, 1, "resp_a")
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Input) != `[{"role":"user","content":"secret words"}]` || got.Model != "m" || !got.CreatedAt.Equal(now) {
		t.Errorf("got %+v", got)
	}
	t.Run("another key sees nothing", func(t *testing.T) {
		if _, err := s.GetResponse(ctx, 2, "resp_a"); !errors.Is(err, gateway.ErrNotFound) {
			t.Errorf("err %v", err)
		}
		if err := s.DeleteResponse(ctx, 2, "resp_a"); !errors.Is(err, gateway.ErrNotFound) {
			t.Errorf("delete err %v", err)
		}
	})
	t.Run("sealed at rest and bound to its row", func(t *testing.T) {
		var payload string
		if err := s.r.QueryRowContext(ctx, s.q(`SELECT payload FROM responses WHERE key_id = ? AND id = ?`), 1, "resp_a").Scan(&payload); err != nil {
			t.Fatal(err)
		}
		if bytes.Contains([]byte(payload), []byte("secret words")) {
			t.Fatal("payload stored in plain text")
		}
		// The same sealed payload under another key's row does not open.
		if _, err := s.w.ExecContext(ctx, s.q(`INSERT INTO responses (key_id, id, model, created_at, expires_at, payload) VALUES (?, ?, ?, ?, ?, ?)`),
			3, "resp_a", "m", s.ts(now), s.ts(now.Add(time.Hour)), payload); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetResponse(ctx, 3, "resp_a"); err == nil {
			t.Error("a payload moved to another key's row opened")
		}
	})
	t.Run("expired responses are gone", func(t *testing.T) {
		r := rec(1, "resp_old", 0)
		r.ExpiresAt = now.Add(-time.Second)
		if err := s.PutResponse(ctx, r, 10); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetResponse(ctx, 1, "resp_old"); !errors.Is(err, gateway.ErrNotFound) {
			t.Errorf("err %v", err)
		}
	})
	t.Run("bounded per key, oldest first", func(t *testing.T) {
		for i := range 5 {
			if err := s.PutResponse(ctx, rec(4, fmt.Sprintf("resp_%d", i), time.Duration(5-i)*time.Minute), 3); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 5 {
			_, err := s.GetResponse(ctx, 4, fmt.Sprintf("resp_%d", i))
			if kept := i >= 2; kept != (err == nil) {
				t.Errorf("resp_%d: err %v", i, err)
			}
		}
		if _, err := s.GetResponse(ctx, 1, "resp_a"); err != nil {
			t.Errorf("another key's response was trimmed: %v", err)
		}
	})
	t.Run("delete", func(t *testing.T) {
		if err := s.DeleteResponse(ctx, 1, "resp_a"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetResponse(ctx, 1, "resp_a"); !errors.Is(err, gateway.ErrNotFound) {
			t.Errorf("err %v", err)
		}
	})
}

// FuzzResponsePayload: whatever JSON a conversation holds comes back as
// stored, through sealing and the database.
func FuzzResponsePayload(f *testing.F) {
	f.Add([]byte(`[{"role":"user","content":"hi"}]`), []byte(`{"id":"resp_1","output":[{"type":"message"}]}`))
	f.Add([]byte(`[]`), []byte(`{"s":"\u0000\ud800"}`))
	s := openSQLite(f)
	f.Fuzz(func(t *testing.T, input, response []byte) {
		r := gateway.StoredResponse{ID: "resp_f", KeyID: 9, Model: "m", CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour), Input: input, Response: response}
		err := s.PutResponse(context.Background(), r, 0)
		if !json.Valid(input) || !json.Valid(response) {
			if err == nil {
				t.Fatal("invalid JSON stored")
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.GetResponse(context.Background(), 9, "resp_f")
		if err != nil {
			t.Fatal(err)
		}
		var a, b bytes.Buffer
		_ = json.Compact(&a, input)
		_ = json.Compact(&b, got.Input)
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Fatalf("input %s came back as %s", input, got.Input)
		}
	})
}
