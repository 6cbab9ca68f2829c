-- Named secrets, encrypted at rest (AES-256-GCM). Bot configs reference
-- them as {{secret.NAME}}; the value is never shown again after saving.
CREATE TABLE secrets (
    id           uuid        PRIMARY KEY,
    name         text        NOT NULL CHECK (name ~ '^[A-Z][A-Z0-9_]{0,63}$'),
    description  text        NOT NULL DEFAULT '',
    ciphertext   bytea       NOT NULL,
    nonce        bytea       NOT NULL,
    key_id       text        NOT NULL,
    created_by   uuid,
    updated_by   uuid,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT secrets_name_key UNIQUE (name)
);
