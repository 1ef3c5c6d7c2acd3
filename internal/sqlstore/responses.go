package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"switchboard/internal/gateway"
)

var _ gateway.ResponseStore = (*Store)(nil)

// responseAAD binds a sealed payload to its row: a payload copied to
// another key's row, or another id, does not open.
func responseAAD(keyID int64, id string) string {
	return "response/" + strconv.FormatInt(keyID, 10) + "/" + id
}

// responsePayload is what a row seals.
type responsePayload struct {
	Input    json.RawMessage `json:"input"`
	Response json.RawMessage `json:"response"`
}

// PutResponse stores r sealed, then trims the key to maxPerKey responses
// and drops every expired one.
func (s *Store) PutResponse(ctx context.Context, r gateway.StoredResponse, maxPerKey int) error {
	if r.ID == "" || r.KeyID == 0 {
		return errors.New("sqlstore: put response: id and key are required")
	}
	if !json.Valid(r.Input) || !json.Valid(r.Response) {
		return errors.New("sqlstore: put response: input and response must be JSON")
	}
	plain, err := json.Marshal(responsePayload{Input: r.Input, Response: r.Response})
	if err != nil {
		return err
	}
	sealed, err := s.box.Seal(plain, responseAAD(r.KeyID, r.ID))
	if err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO responses (key_id, id, model, created_at, expires_at, payload) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (key_id, id) DO UPDATE SET model = excluded.model, created_at = excluded.created_at, expires_at = excluded.expires_at, payload = excluded.payload`),
			r.KeyID, r.ID, r.Model, s.ts(r.CreatedAt), s.ts(r.ExpiresAt), sealed); err != nil {
			return fmt.Errorf("sqlstore: put response: %w", err)
		}
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM responses WHERE expires_at <= ?`), s.ts(s.nowUTC())); err != nil {
			return fmt.Errorf("sqlstore: expire responses: %w", err)
		}
		if maxPerKey > 0 {
			if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM responses WHERE key_id = ? AND id NOT IN
				(SELECT id FROM responses WHERE key_id = ? ORDER BY created_at DESC, id DESC LIMIT ?)`), r.KeyID, r.KeyID, maxPerKey); err != nil {
				return fmt.Errorf("sqlstore: trim responses: %w", err)
			}
		}
		return nil
	})
}

// GetResponse reads and opens one of the key's unexpired responses.
func (s *Store) GetResponse(ctx context.Context, keyID int64, id string) (gateway.StoredResponse, error) {
	r := gateway.StoredResponse{ID: id, KeyID: keyID}
	var created, expires dbTime
	var sealed string
	err := s.r.QueryRowContext(ctx, s.q(`SELECT model, created_at, expires_at, payload FROM responses WHERE key_id = ? AND id = ? AND expires_at > ?`),
		keyID, id, s.ts(s.nowUTC())).Scan(&r.Model, &created, &expires, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("sqlstore: response %w", gateway.ErrNotFound)
	}
	if err != nil {
		return r, fmt.Errorf("sqlstore: get response: %w", err)
	}
	plain, err := s.box.Open(sealed, responseAAD(keyID, id))
	if err != nil {
		return r, fmt.Errorf("sqlstore: open response: %w", err)
	}
	var p responsePayload
	if err := json.Unmarshal(plain, &p); err != nil {
		return r, fmt.Errorf("sqlstore: response payload: %w", err)
	}
	r.CreatedAt, r.ExpiresAt, r.Input, r.Response = created.t, expires.t, p.Input, p.Response
	return r, nil
}

// DeleteResponse removes one of the key's responses.
func (s *Store) DeleteResponse(ctx context.Context, keyID int64, id string) error {
	res, err := s.w.ExecContext(ctx, s.q(`DELETE FROM responses WHERE key_id = ? AND id = ?`), keyID, id)
	if err != nil {
		return fmt.Errorf("sqlstore: delete response: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("sqlstore: response %w", gateway.ErrNotFound)
	}
	return nil
}
