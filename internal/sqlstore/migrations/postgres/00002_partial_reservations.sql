-- +goose Up
-- A partial reservation holds less than its call's worst case (only what
-- remained of the budget). At most one may be in flight per key, which is
-- what bounds a budget's overdraw to one call.
ALTER TABLE reservations ADD COLUMN partial BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX reservations_key_partial ON reservations (key_id, partial);

-- +goose Down
DROP INDEX reservations_key_partial;
ALTER TABLE reservations DROP COLUMN partial;
