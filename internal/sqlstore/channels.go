package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"switchboard/internal/gateway"
	"switchboard/internal/secret"
)

const channelCols = `id, name, type, base_url, api_keys, models, model_map, priority, weight,
	headers, timeout_ms, enabled, settings, source, updated_at`

func (s *Store) scanChannel(sc rowScanner) (gateway.Channel, error) {
	var (
		c                                            gateway.Channel
		typ, sealed, models, modelMap, hdr, settings string
		timeoutMS                                    int64
		updated                                      dbTime
	)
	err := sc.Scan(&c.ID, &c.Name, &typ, &c.BaseURL, &sealed, &models, &modelMap, &c.Priority, &c.Weight,
		&hdr, &timeoutMS, &c.Enabled, &settings, &c.Source, &updated)
	if err != nil {
		return gateway.Channel{}, err
	}
	c.Type = gateway.ChannelType(typ)
	c.Timeout = time.Duration(timeoutMS) * time.Millisecond
	c.UpdatedAt = updated.t
	if c.APIKeys, c.Headers, err = s.openSecrets(c.ID, sealed, hdr); err != nil {
		return gateway.Channel{}, fmt.Errorf("channel %q: %w", c.Name, err)
	}
	if c.Models, err = decodeList(models); err != nil {
		return gateway.Channel{}, fmt.Errorf("channel %q models: %w", c.Name, err)
	}
	if c.ModelMap, err = decodeMap(modelMap); err != nil {
		return gateway.Channel{}, fmt.Errorf("channel %q model map: %w", c.Name, err)
	}
	if c.Settings, err = decodeMap(settings); err != nil {
		return gateway.Channel{}, fmt.Errorf("channel %q settings: %w", c.Name, err)
	}
	return c, nil
}

// A channel's credentials are its API keys and its header values (which
// often hold a token): both columns are sealed, each bound to its row and
// column by the seal's associated data, so a sealed value copied to another
// channel does not open there.
const (
	fieldAPIKeys = "api_keys"
	fieldHeaders = "headers"
)

func channelAAD(id int64, field string) string {
	return "channel/" + strconv.FormatInt(id, 10) + "/" + field
}

// openSecrets opens a channel's sealed columns. Rows written by releases
// before headers were sealed hold them as plain JSON; they still read.
func (s *Store) openSecrets(id int64, sealedKeys, sealedHeaders string) (keys []string, headers map[string]string, err error) {
	plain, err := s.box.Open(sealedKeys, channelAAD(id, fieldAPIKeys))
	if err != nil {
		return nil, nil, fmt.Errorf("api keys: %w", err)
	}
	if err := json.Unmarshal(plain, &keys); err != nil {
		return nil, nil, fmt.Errorf("api keys: %w", err)
	}
	if len(keys) == 0 {
		keys = nil
	}
	hdr := sealedHeaders
	if secret.IsSealed(hdr) {
		b, err := s.box.Open(hdr, channelAAD(id, fieldHeaders))
		if err != nil {
			return nil, nil, fmt.Errorf("headers: %w", err)
		}
		hdr = string(b)
	}
	if headers, err = decodeMap(hdr); err != nil {
		return nil, nil, fmt.Errorf("headers: %w", err)
	}
	return keys, headers, nil
}

// sealSecrets seals a channel's keys and headers for row id.
func (s *Store) sealSecrets(id int64, keys []string, headers map[string]string) (sealedKeys, sealedHeaders string, err error) {
	if keys == nil {
		keys = []string{}
	}
	plain, err := json.Marshal(keys)
	if err != nil {
		return "", "", err
	}
	if sealedKeys, err = s.box.Seal(plain, channelAAD(id, fieldAPIKeys)); err != nil {
		return "", "", err
	}
	hdr, err := encodeMap(headers)
	if err != nil {
		return "", "", err
	}
	if sealedHeaders, err = s.box.Seal([]byte(hdr), channelAAD(id, fieldHeaders)); err != nil {
		return "", "", err
	}
	return sealedKeys, sealedHeaders, nil
}

func channelErr(op string, err error) error {
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("sqlstore: %s: channel %w", op, gateway.ErrNotFound)
	case isUniqueViolation(err):
		return fmt.Errorf("sqlstore: %s: channel name already exists: %w", op, gateway.ErrConflict)
	}
	return fmt.Errorf("sqlstore: %s: %w", op, err)
}

// channelArgs are a channel's column values in channelCols order, without
// id and updated_at; the sealed columns are left empty (sealSecrets fills
// them once the row's id is known).
func (s *Store) channelArgs(c gateway.Channel) ([]any, error) {
	if c.Name == "" {
		return nil, errors.New("channel has no name")
	}
	if c.Type == "" {
		return nil, fmt.Errorf("channel %q has no type", c.Name)
	}
	models, err := encodeList(c.Models)
	if err != nil {
		return nil, err
	}
	modelMap, err := encodeMap(c.ModelMap)
	if err != nil {
		return nil, err
	}
	settings, err := encodeMap(c.Settings)
	if err != nil {
		return nil, err
	}
	return []any{c.Name, string(c.Type), c.BaseURL, "", models, modelMap, c.Priority, c.Weight,
		"", c.Timeout.Milliseconds(), c.Enabled, settings, c.Source}, nil
}

// Positions of the sealed columns in channelArgs.
const (
	argAPIKeys = 3
	argHeaders = 8
)

// writeSecrets seals c's credentials for row id inside tx.
func (s *Store) writeSecrets(ctx context.Context, tx *sql.Tx, id int64, c gateway.Channel) error {
	keys, hdr, err := s.sealSecrets(id, c.APIKeys, c.Headers)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, s.q(`UPDATE channels SET api_keys = ?, headers = ? WHERE id = ?`), keys, hdr, id)
	return err
}

// ListChannels returns every channel, oldest first.
func (s *Store) ListChannels(ctx context.Context) ([]gateway.Channel, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+channelCols+` FROM channels ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: list channels: %w", err)
	}
	defer rows.Close()
	var out []gateway.Channel
	for rows.Next() {
		c, err := s.scanChannel(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: list channels: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: list channels: %w", err)
	}
	return out, nil
}

// ChannelByID returns one channel.
func (s *Store) ChannelByID(ctx context.Context, id int64) (gateway.Channel, error) {
	c, err := s.scanChannel(s.r.QueryRowContext(ctx, s.q(`SELECT `+channelCols+` FROM channels WHERE id = ?`), id))
	if err != nil {
		return gateway.Channel{}, channelErr(fmt.Sprintf("channel %d", id), err)
	}
	return c, nil
}

// UpsertChannel inserts or replaces the channel named c.Name. The row is
// written and its credentials sealed for its id in one transaction, so no
// reader sees the row without them.
func (s *Store) UpsertChannel(ctx context.Context, c gateway.Channel) (gateway.Channel, error) {
	args, err := s.channelArgs(c)
	if err != nil {
		return gateway.Channel{}, fmt.Errorf("sqlstore: upsert channel: %w", err)
	}
	now := s.nowUTC()
	args = append(args, s.ts(now))
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, s.q(`INSERT INTO channels
		(name, type, base_url, api_keys, models, model_map, priority, weight, headers, timeout_ms, enabled, settings, source, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET
			type = excluded.type, base_url = excluded.base_url,
			models = excluded.models, model_map = excluded.model_map, priority = excluded.priority,
			weight = excluded.weight, timeout_ms = excluded.timeout_ms,
			enabled = excluded.enabled, settings = excluded.settings, source = excluded.source,
			updated_at = excluded.updated_at
		RETURNING id`), args...).Scan(&c.ID)
		if err != nil {
			return err
		}
		return s.writeSecrets(ctx, tx, c.ID, c)
	})
	if err != nil {
		return gateway.Channel{}, channelErr("upsert channel "+c.Name, err)
	}
	return normalChannel(c, now), nil
}

// UpdateChannel replaces channel c.ID.
func (s *Store) UpdateChannel(ctx context.Context, c gateway.Channel) (gateway.Channel, error) {
	args, err := s.channelArgs(c)
	if err != nil {
		return gateway.Channel{}, fmt.Errorf("sqlstore: update channel: %w", err)
	}
	if args[argAPIKeys], args[argHeaders], err = s.sealSecrets(c.ID, c.APIKeys, c.Headers); err != nil {
		return gateway.Channel{}, fmt.Errorf("sqlstore: update channel: %w", err)
	}
	now := s.nowUTC()
	args = append(args, s.ts(now), c.ID)
	res, err := s.w.ExecContext(ctx, s.q(`UPDATE channels SET
		name = ?, type = ?, base_url = ?, api_keys = ?, models = ?, model_map = ?, priority = ?, weight = ?,
		headers = ?, timeout_ms = ?, enabled = ?, settings = ?, source = ?, updated_at = ?
		WHERE id = ?`), args...)
	if err == nil {
		var n int64
		if n, err = res.RowsAffected(); err == nil && n == 0 {
			err = sql.ErrNoRows
		}
	}
	if err != nil {
		return gateway.Channel{}, channelErr(fmt.Sprintf("update channel %d", c.ID), err)
	}
	return normalChannel(c, now), nil
}

// normalChannel is c as it reads back: empty collections as nil, the
// timeout at stored precision.
func normalChannel(c gateway.Channel, updated time.Time) gateway.Channel {
	if len(c.APIKeys) == 0 {
		c.APIKeys = nil
	}
	if len(c.Models) == 0 {
		c.Models = nil
	}
	if len(c.ModelMap) == 0 {
		c.ModelMap = nil
	}
	if len(c.Headers) == 0 {
		c.Headers = nil
	}
	if len(c.Settings) == 0 {
		c.Settings = nil
	}
	c.Timeout = c.Timeout.Truncate(time.Millisecond)
	c.UpdatedAt = updated
	return c
}

// DeleteChannel removes a channel. Its ledger rows stay.
func (s *Store) DeleteChannel(ctx context.Context, id int64) error {
	res, err := s.w.ExecContext(ctx, s.q(`DELETE FROM channels WHERE id = ?`), id)
	if err == nil {
		var n int64
		if n, err = res.RowsAffected(); err == nil && n == 0 {
			err = sql.ErrNoRows
		}
	}
	if err != nil {
		return channelErr(fmt.Sprintf("delete channel %d", id), err)
	}
	return nil
}
