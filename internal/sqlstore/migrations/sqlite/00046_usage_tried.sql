-- +goose Up
-- tried lists a call's failed attempts, one "channel: status message" per
-- line (the usage log's "channels tried").
ALTER TABLE usage ADD COLUMN tried TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE usage DROP COLUMN tried;
