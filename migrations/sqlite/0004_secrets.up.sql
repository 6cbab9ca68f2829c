-- Named secrets, encrypted at rest (AES-256-GCM). Bot configs reference
-- them as {{secret.NAME}}; the value is never shown again after saving.
CREATE TABLE secrets (
    id           TEXT      PRIMARY KEY,
    name         TEXT      NOT NULL CHECK (length(name) BETWEEN 1 AND 64 AND name GLOB '[A-Z]*' AND name NOT GLOB '*[^A-Z0-9_]*'),
    description  TEXT      NOT NULL DEFAULT '',
    ciphertext   BLOB      NOT NULL,
    nonce        BLOB      NOT NULL,
    key_id       TEXT      NOT NULL,
    created_by   TEXT,
    updated_by   TEXT,
    created_at   TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at   TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT secrets_name_key UNIQUE (name)
);
