-- +goose Up
-- Which of its channel's keys a task was submitted with: polls and
-- downloads use the same key (an OpenAI video belongs to its key's project).
ALTER TABLE tasks ADD COLUMN key_index BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE tasks DROP COLUMN key_index;
