-- +goose Up
-- Asynchronous tasks (Midjourney, video), owned by the key that created
-- them. id is the gateway's own; upstream_id never reaches clients.
CREATE TABLE tasks (
    id             TEXT    PRIMARY KEY,
    kind           TEXT    NOT NULL,
    key_id         INTEGER NOT NULL,
    key_name       TEXT    NOT NULL DEFAULT '',
    channel_id     INTEGER NOT NULL DEFAULT 0,
    upstream_id    TEXT    NOT NULL DEFAULT '',
    action         TEXT    NOT NULL DEFAULT '',
    model          TEXT    NOT NULL DEFAULT '',
    upstream_model TEXT    NOT NULL DEFAULT '',
    parent_id      TEXT    NOT NULL DEFAULT '',
    status         TEXT    NOT NULL,
    progress       INTEGER NOT NULL DEFAULT 0,
    request        TEXT    NOT NULL DEFAULT '',
    result         TEXT    NOT NULL DEFAULT '',
    fail_reason    TEXT    NOT NULL DEFAULT '',
    hold_id        TEXT    NOT NULL DEFAULT '',
    held_nano      INTEGER NOT NULL DEFAULT 0,
    units          TEXT    NOT NULL DEFAULT '',
    billed         INTEGER NOT NULL DEFAULT 0,
    price_nano     INTEGER NOT NULL DEFAULT 0,
    hook_url       TEXT    NOT NULL DEFAULT '',
    hook_state     TEXT    NOT NULL DEFAULT '',
    created_at     TEXT    NOT NULL,
    updated_at     TEXT    NOT NULL,
    started_at     TEXT,
    finished_at    TEXT,
    next_poll_at   TEXT,
    polls          INTEGER NOT NULL DEFAULT 0,
    version        INTEGER NOT NULL DEFAULT 1
);
-- Listings are per owner, newest first; ids are time-ordered within a kind.
CREATE INDEX tasks_owner ON tasks (key_id, kind, created_at, id);
-- The poller's scan: unfinished tasks by due time, finished ones owing
-- their bill or hook.
CREATE INDEX tasks_due ON tasks (next_poll_at) WHERE next_poll_at IS NOT NULL;
CREATE INDEX tasks_owed ON tasks (updated_at) WHERE billed = 0 OR hook_state = 'pending';
CREATE UNIQUE INDEX tasks_upstream ON tasks (channel_id, upstream_id) WHERE upstream_id <> '';

-- leases let one node at a time run a job (the task poller).
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at TEXT NOT NULL
);

-- +goose Down
DROP TABLE leases;
DROP TABLE tasks;
