-- +goose Up
-- Budget periods: spent_nano counts from period_start (NULL for total
-- budgets); the store resets it in the statement that first touches the
-- key in a new period.
ALTER TABLE keys ADD COLUMN budget_period TEXT NOT NULL DEFAULT 'total';
ALTER TABLE keys ADD COLUMN period_start TIMESTAMPTZ;

-- Reservations name the node that made them (released when it starts
-- again), their kind (call holds are node-owned, task holds are not) and
-- an optional explicit expiry for the stale sweep.
ALTER TABLE reservations ADD COLUMN node_id TEXT NOT NULL DEFAULT '';
ALTER TABLE reservations ADD COLUMN kind TEXT NOT NULL DEFAULT 'call';
ALTER TABLE reservations ADD COLUMN expires_at TIMESTAMPTZ;
CREATE INDEX reservations_node ON reservations (node_id, kind);

-- Cost (what the upstream charges) and price (what the key pays) are
-- apart; rows written before were charged their cost.
ALTER TABLE usage ADD COLUMN price_nano BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage ADD COLUMN unpriced BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE usage ADD COLUMN cost_unknown BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE usage ADD COLUMN cache_write_1h_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage ADD COLUMN web_search_requests BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage ADD COLUMN grounded_prompts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage ADD COLUMN units TEXT NOT NULL DEFAULT '';
UPDATE usage SET price_nano = cost_nano;
UPDATE usage SET unpriced = TRUE, cost_unknown = TRUE WHERE error_message LIKE '%no price known for model%';

-- Usage reports filter by time range and one of key, model or channel,
-- and page by (time, id).
DROP INDEX usage_time;
CREATE INDEX usage_time_id ON usage (time, id);
CREATE INDEX usage_model_time ON usage (model, time);
CREATE INDEX usage_channel_time ON usage (channel_id, time);

-- +goose Down
DROP INDEX usage_channel_time;
DROP INDEX usage_model_time;
DROP INDEX usage_time_id;
CREATE INDEX usage_time ON usage (time);
ALTER TABLE usage DROP COLUMN units;
ALTER TABLE usage DROP COLUMN grounded_prompts;
ALTER TABLE usage DROP COLUMN web_search_requests;
ALTER TABLE usage DROP COLUMN cache_write_1h_tokens;
ALTER TABLE usage DROP COLUMN cost_unknown;
ALTER TABLE usage DROP COLUMN unpriced;
ALTER TABLE usage DROP COLUMN price_nano;
DROP INDEX reservations_node;
ALTER TABLE reservations DROP COLUMN expires_at;
ALTER TABLE reservations DROP COLUMN kind;
ALTER TABLE reservations DROP COLUMN node_id;
ALTER TABLE keys DROP COLUMN period_start;
ALTER TABLE keys DROP COLUMN budget_period;
