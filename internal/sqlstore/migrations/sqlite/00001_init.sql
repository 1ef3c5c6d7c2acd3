-- +goose Up
-- Timestamps are TEXT in one fixed-width UTC format (2006-01-02T15:04:05.000000Z)
-- so that string comparison is time comparison; money is INTEGER nano-USD.

CREATE TABLE keys (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    name           TEXT    NOT NULL UNIQUE,
    hash           TEXT    NOT NULL UNIQUE,
    prefix         TEXT    NOT NULL DEFAULT '',
    models         TEXT    NOT NULL DEFAULT '[]',
    budget_nano    INTEGER NOT NULL DEFAULT 0,
    spent_nano     INTEGER NOT NULL DEFAULT 0,
    reserved_nano  INTEGER NOT NULL DEFAULT 0,
    rpm            INTEGER NOT NULL DEFAULT 0,
    tpm            INTEGER NOT NULL DEFAULT 0,
    max_concurrent INTEGER NOT NULL DEFAULT 0,
    enabled        INTEGER NOT NULL DEFAULT 1,
    created_at     TEXT    NOT NULL,
    updated_at     TEXT    NOT NULL
);

CREATE TABLE channels (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL UNIQUE,
    type       TEXT    NOT NULL,
    base_url   TEXT    NOT NULL DEFAULT '',
    api_keys   TEXT    NOT NULL, -- secret.Box sealed JSON array
    models     TEXT    NOT NULL DEFAULT '[]',
    model_map  TEXT    NOT NULL DEFAULT '{}',
    priority   INTEGER NOT NULL DEFAULT 0,
    weight     INTEGER NOT NULL DEFAULT 0,
    headers    TEXT    NOT NULL DEFAULT '{}',
    timeout_ms INTEGER NOT NULL DEFAULT 0,
    enabled    INTEGER NOT NULL DEFAULT 1,
    settings   TEXT    NOT NULL DEFAULT '{}',
    source     TEXT    NOT NULL DEFAULT '',
    updated_at TEXT    NOT NULL
);

CREATE TABLE reservations (
    request_id TEXT    PRIMARY KEY,
    key_id     INTEGER NOT NULL REFERENCES keys(id) ON DELETE CASCADE,
    amount     INTEGER NOT NULL,
    created_at TEXT    NOT NULL
);
CREATE INDEX reservations_created_at ON reservations (created_at);

-- settled_requests makes Settle idempotent: a replayed Settle finds its
-- request here and charges nothing.
CREATE TABLE settled_requests (
    request_id TEXT    PRIMARY KEY,
    key_id     INTEGER NOT NULL,
    amount     INTEGER NOT NULL,
    settled_at TEXT    NOT NULL
);
CREATE INDEX settled_requests_settled_at ON settled_requests (settled_at);

-- usage is the ledger. key_id and channel_id carry no foreign keys: the
-- ledger outlives deleted keys and channels.
CREATE TABLE usage (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id          TEXT    NOT NULL UNIQUE,
    time                TEXT    NOT NULL,
    key_id              INTEGER NOT NULL DEFAULT 0,
    key_name            TEXT    NOT NULL DEFAULT '',
    endpoint            TEXT    NOT NULL DEFAULT '',
    model               TEXT    NOT NULL DEFAULT '',
    channel_id          INTEGER NOT NULL DEFAULT 0,
    channel_name        TEXT    NOT NULL DEFAULT '',
    upstream_model      TEXT    NOT NULL DEFAULT '',
    status              INTEGER NOT NULL DEFAULT 0,
    stream              INTEGER NOT NULL DEFAULT 0,
    latency_us          INTEGER NOT NULL DEFAULT 0,
    ttft_us             INTEGER NOT NULL DEFAULT 0,
    input_tokens        INTEGER NOT NULL DEFAULT 0,
    cached_input_tokens INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens  INTEGER NOT NULL DEFAULT 0,
    audio_input_tokens  INTEGER NOT NULL DEFAULT 0,
    image_input_tokens  INTEGER NOT NULL DEFAULT 0,
    output_tokens       INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens    INTEGER NOT NULL DEFAULT 0,
    audio_output_tokens INTEGER NOT NULL DEFAULT 0,
    image_output_tokens INTEGER NOT NULL DEFAULT 0,
    usage_source        TEXT    NOT NULL DEFAULT '',
    cost_nano           INTEGER NOT NULL DEFAULT 0,
    attempts            INTEGER NOT NULL DEFAULT 0,
    error_message       TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX usage_time ON usage (time);
CREATE INDEX usage_key_time ON usage (key_id, time);

CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- +goose Down
DROP TABLE settings;
DROP TABLE usage;
DROP TABLE settled_requests;
DROP TABLE reservations;
DROP TABLE channels;
DROP TABLE keys;
