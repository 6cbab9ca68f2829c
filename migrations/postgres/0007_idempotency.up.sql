-- Idempotency-Key for the JSON API (draft-ietf-httpapi-idempotency-key-header):
-- the first request with a key runs and its response is kept for 24 hours;
-- a retry with the same key and the same request gets that response again.
-- Keys are scoped to the API key that sent them.
CREATE TABLE api_idempotency_keys (
    id               uuid        PRIMARY KEY,
    api_key_id       uuid        NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    key              text        NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    fingerprint      text        NOT NULL,
    state            text        NOT NULL CHECK (state IN ('in_flight', 'done')),
    response_status  integer     CHECK (response_status IS NULL OR response_status BETWEEN 100 AND 499),
    response_headers jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(response_headers) = 'object'),
    response_body    bytea,
    created_at       timestamptz NOT NULL DEFAULT now(),
    expires_at       timestamptz NOT NULL,
    CONSTRAINT api_idempotency_keys_api_key_id_key_key UNIQUE (api_key_id, key),
    CHECK ((state = 'done') = (response_status IS NOT NULL))
);
-- The prune deletes by expiry.
CREATE INDEX api_idempotency_keys_expires_at_idx ON api_idempotency_keys (expires_at);
