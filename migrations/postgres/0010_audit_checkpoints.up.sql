-- Signed checkpoints of the audit chain. A checkpoint is (seq, hash,
-- signed_at) signed with an Ed25519 key that lives outside the database
-- (CODEX32_AUDIT_SIGNING_KEY): whoever holds the database can recompute the
-- unkeyed hash chain, but cannot sign the recomputed head. Rows are written
-- once; the least-privilege runtime role (codex32 db grants) may only
-- SELECT and INSERT here, and the triggers refuse changes from the owner too.
CREATE TABLE audit_checkpoints (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    seq         bigint      NOT NULL CHECK (seq > 0),
    hash        text        NOT NULL CHECK (hash <> ''),
    signed_at   timestamptz NOT NULL,
    key_id      text        NOT NULL,
    public_key  text        NOT NULL,
    signature   text        NOT NULL,
    created_by  text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
-- The signer reads the newest checkpoint of its key.
CREATE INDEX audit_checkpoints_key_idx ON audit_checkpoints (key_id, id DESC);

CREATE TRIGGER audit_checkpoints_immutable BEFORE UPDATE OR DELETE ON audit_checkpoints
    FOR EACH ROW EXECUTE FUNCTION codex32_refuse_change();
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION codex32_refuse_change();
