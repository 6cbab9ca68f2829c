-- Signed checkpoints of the audit chain: (seq, hash, signed_at) signed with
-- an Ed25519 key that lives outside the database (CODEX32_AUDIT_SIGNING_KEY),
-- so a recomputed chain cannot carry a valid signature. Written once.
CREATE TABLE audit_checkpoints (
    id          INTEGER   PRIMARY KEY AUTOINCREMENT,
    seq         INTEGER   NOT NULL CHECK (seq > 0),
    hash        TEXT      NOT NULL CHECK (hash <> ''),
    signed_at   TIMESTAMP NOT NULL,
    key_id      TEXT      NOT NULL,
    public_key  TEXT      NOT NULL,
    signature   TEXT      NOT NULL,
    created_by  TEXT      NOT NULL DEFAULT '',
    created_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
-- The signer reads the newest checkpoint of its key.
CREATE INDEX audit_checkpoints_key_idx ON audit_checkpoints (key_id, id DESC);

CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit_checkpoints rows are immutable (UPDATE refused)');
END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit_checkpoints rows are immutable (DELETE refused)');
END;
