-- +goose Up
-- Responses API state (issue 10): per key, each answer's conversation up to
-- it and the Response object, sealed (payload), expiring.
CREATE TABLE responses (
    key_id     INTEGER NOT NULL,
    id         TEXT NOT NULL,
    model      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    payload    TEXT NOT NULL,
    PRIMARY KEY (key_id, id)
);
CREATE INDEX responses_key_created ON responses (key_id, created_at);
CREATE INDEX responses_expires ON responses (expires_at);

-- +goose Down
DROP TABLE responses;
