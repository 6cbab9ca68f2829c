-- Idempotency-Key for the JSON API (draft-ietf-httpapi-idempotency-key-header):
-- the first request with a key runs and its response is kept for 24 hours;
-- a retry with the same key and the same request gets that response again.
-- Keys are scoped to the API key that sent them.
CREATE TABLE api_idempotency_keys (
    id               TEXT      PRIMARY KEY,
    api_key_id       TEXT      NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    key              TEXT      NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    fingerprint      TEXT      NOT NULL,
    state            TEXT      NOT NULL CHECK (state IN ('in_flight', 'done')),
    response_status  INTEGER   CHECK (response_status IS NULL OR response_status BETWEEN 100 AND 499),
    response_headers TEXT      NOT NULL DEFAULT '{}' CHECK (json_valid(response_headers) AND json_type(response_headers) = 'object'),
    response_body    BLOB,
    created_at       TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    expires_at       TIMESTAMP NOT NULL,
    CONSTRAINT api_idempotency_keys_api_key_id_key_key UNIQUE (api_key_id, key),
    CHECK ((state = 'done') = (response_status IS NOT NULL))
);
-- The prune deletes by expiry.
CREATE INDEX api_idempotency_keys_expires_at_idx ON api_idempotency_keys (expires_at);
