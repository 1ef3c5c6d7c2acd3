-- +goose Up
-- usage_rollups holds the ledger's totals per hour (grain 'h') and per day
-- (grain 'd') for each key, model and channel, written in the same
-- transaction as the raw rows, so reports over long ranges read a few
-- thousand rows instead of millions, and survive the raw rows' retention.
-- lat_i / ttft_i count calls whose latency / time to first token fell in
-- bucket i (gateway.LatencyBucket: 5ms doubling, the last one open).
-- The store fills it from existing rows on first open (setting
-- usage_rollups_version).
CREATE TABLE usage_rollups (
    grain               TEXT    NOT NULL,
    bucket              TEXT NOT NULL,
    key_id              INTEGER NOT NULL,
    model               TEXT    NOT NULL,
    channel_id          INTEGER NOT NULL,
    key_name            TEXT    NOT NULL DEFAULT '',
    channel_name        TEXT    NOT NULL DEFAULT '',
    requests            INTEGER NOT NULL DEFAULT 0,
    errors              INTEGER NOT NULL DEFAULT 0,
    input_tokens        INTEGER NOT NULL DEFAULT 0,
    cached_input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens       INTEGER NOT NULL DEFAULT 0,
    reasoning_tokens    INTEGER NOT NULL DEFAULT 0,
    cost_nano           INTEGER NOT NULL DEFAULT 0,
    price_nano          INTEGER NOT NULL DEFAULT 0,
    estimated           INTEGER NOT NULL DEFAULT 0,
    unpriced            INTEGER NOT NULL DEFAULT 0,
    cost_unknown        INTEGER NOT NULL DEFAULT 0,
    lat_0               INTEGER NOT NULL DEFAULT 0,
    lat_1               INTEGER NOT NULL DEFAULT 0,
    lat_2               INTEGER NOT NULL DEFAULT 0,
    lat_3               INTEGER NOT NULL DEFAULT 0,
    lat_4               INTEGER NOT NULL DEFAULT 0,
    lat_5               INTEGER NOT NULL DEFAULT 0,
    lat_6               INTEGER NOT NULL DEFAULT 0,
    lat_7               INTEGER NOT NULL DEFAULT 0,
    lat_8               INTEGER NOT NULL DEFAULT 0,
    lat_9               INTEGER NOT NULL DEFAULT 0,
    lat_10              INTEGER NOT NULL DEFAULT 0,
    lat_11              INTEGER NOT NULL DEFAULT 0,
    lat_12              INTEGER NOT NULL DEFAULT 0,
    lat_13              INTEGER NOT NULL DEFAULT 0,
    lat_14              INTEGER NOT NULL DEFAULT 0,
    lat_15              INTEGER NOT NULL DEFAULT 0,
    lat_16              INTEGER NOT NULL DEFAULT 0,
    lat_17              INTEGER NOT NULL DEFAULT 0,
    ttft_0              INTEGER NOT NULL DEFAULT 0,
    ttft_1              INTEGER NOT NULL DEFAULT 0,
    ttft_2              INTEGER NOT NULL DEFAULT 0,
    ttft_3              INTEGER NOT NULL DEFAULT 0,
    ttft_4              INTEGER NOT NULL DEFAULT 0,
    ttft_5              INTEGER NOT NULL DEFAULT 0,
    ttft_6              INTEGER NOT NULL DEFAULT 0,
    ttft_7              INTEGER NOT NULL DEFAULT 0,
    ttft_8              INTEGER NOT NULL DEFAULT 0,
    ttft_9              INTEGER NOT NULL DEFAULT 0,
    ttft_10             INTEGER NOT NULL DEFAULT 0,
    ttft_11             INTEGER NOT NULL DEFAULT 0,
    ttft_12             INTEGER NOT NULL DEFAULT 0,
    ttft_13             INTEGER NOT NULL DEFAULT 0,
    ttft_14             INTEGER NOT NULL DEFAULT 0,
    ttft_15             INTEGER NOT NULL DEFAULT 0,
    ttft_16             INTEGER NOT NULL DEFAULT 0,
    ttft_17             INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (grain, bucket, key_id, model, channel_id)
);

-- +goose Down
DROP TABLE usage_rollups;
