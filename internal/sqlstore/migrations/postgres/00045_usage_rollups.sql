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
    bucket              TIMESTAMPTZ NOT NULL,
    key_id              BIGINT NOT NULL,
    model               TEXT    NOT NULL,
    channel_id          BIGINT NOT NULL,
    key_name            TEXT    NOT NULL DEFAULT '',
    channel_name        TEXT    NOT NULL DEFAULT '',
    requests            BIGINT NOT NULL DEFAULT 0,
    errors              BIGINT NOT NULL DEFAULT 0,
    input_tokens        BIGINT NOT NULL DEFAULT 0,
    cached_input_tokens BIGINT NOT NULL DEFAULT 0,
    output_tokens       BIGINT NOT NULL DEFAULT 0,
    reasoning_tokens    BIGINT NOT NULL DEFAULT 0,
    cost_nano           BIGINT NOT NULL DEFAULT 0,
    price_nano          BIGINT NOT NULL DEFAULT 0,
    estimated           BIGINT NOT NULL DEFAULT 0,
    unpriced            BIGINT NOT NULL DEFAULT 0,
    cost_unknown        BIGINT NOT NULL DEFAULT 0,
    lat_0               BIGINT NOT NULL DEFAULT 0,
    lat_1               BIGINT NOT NULL DEFAULT 0,
    lat_2               BIGINT NOT NULL DEFAULT 0,
    lat_3               BIGINT NOT NULL DEFAULT 0,
    lat_4               BIGINT NOT NULL DEFAULT 0,
    lat_5               BIGINT NOT NULL DEFAULT 0,
    lat_6               BIGINT NOT NULL DEFAULT 0,
    lat_7               BIGINT NOT NULL DEFAULT 0,
    lat_8               BIGINT NOT NULL DEFAULT 0,
    lat_9               BIGINT NOT NULL DEFAULT 0,
    lat_10              BIGINT NOT NULL DEFAULT 0,
    lat_11              BIGINT NOT NULL DEFAULT 0,
    lat_12              BIGINT NOT NULL DEFAULT 0,
    lat_13              BIGINT NOT NULL DEFAULT 0,
    lat_14              BIGINT NOT NULL DEFAULT 0,
    lat_15              BIGINT NOT NULL DEFAULT 0,
    lat_16              BIGINT NOT NULL DEFAULT 0,
    lat_17              BIGINT NOT NULL DEFAULT 0,
    ttft_0              BIGINT NOT NULL DEFAULT 0,
    ttft_1              BIGINT NOT NULL DEFAULT 0,
    ttft_2              BIGINT NOT NULL DEFAULT 0,
    ttft_3              BIGINT NOT NULL DEFAULT 0,
    ttft_4              BIGINT NOT NULL DEFAULT 0,
    ttft_5              BIGINT NOT NULL DEFAULT 0,
    ttft_6              BIGINT NOT NULL DEFAULT 0,
    ttft_7              BIGINT NOT NULL DEFAULT 0,
    ttft_8              BIGINT NOT NULL DEFAULT 0,
    ttft_9              BIGINT NOT NULL DEFAULT 0,
    ttft_10             BIGINT NOT NULL DEFAULT 0,
    ttft_11             BIGINT NOT NULL DEFAULT 0,
    ttft_12             BIGINT NOT NULL DEFAULT 0,
    ttft_13             BIGINT NOT NULL DEFAULT 0,
    ttft_14             BIGINT NOT NULL DEFAULT 0,
    ttft_15             BIGINT NOT NULL DEFAULT 0,
    ttft_16             BIGINT NOT NULL DEFAULT 0,
    ttft_17             BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (grain, bucket, key_id, model, channel_id)
);

-- +goose Down
DROP TABLE usage_rollups;
