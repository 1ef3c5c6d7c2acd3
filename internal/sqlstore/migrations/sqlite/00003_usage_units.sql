-- +goose Up
-- Units are what a call consumed besides tokens (images, seconds of audio
-- or video, characters), as JSON: [{"kind":"image","variant":"1024x1024","quantity":2}].
ALTER TABLE usage ADD COLUMN units TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE usage DROP COLUMN units;
