-- Codex-32 schema, version 1 (Postgres).

CREATE TABLE users (
    id             uuid        PRIMARY KEY,
    email          text        NOT NULL CHECK (email <> '' AND length(email) <= 254),
    username       text        NOT NULL CHECK (username <> '' AND length(username) <= 64),
    name           text        NOT NULL DEFAULT '',
    password_hash  text,
    role           text        NOT NULL DEFAULT 'user' CHECK (role IN ('admin', 'user', 'viewer', 'api_user')),
    is_active      boolean     NOT NULL DEFAULT true,
    last_login_at  timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username));
CREATE INDEX users_created_at_idx ON users (created_at DESC, id DESC);

CREATE TABLE identities (
    id              uuid        PRIMARY KEY,
    user_id         uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider        text        NOT NULL CHECK (provider <> ''),
    subject         text        NOT NULL CHECK (subject <> ''),
    email           text        NOT NULL DEFAULT '',
    email_verified  boolean     NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT identities_provider_subject_key UNIQUE (provider, subject)
);
CREATE INDEX identities_user_id_idx ON identities (user_id);

CREATE TABLE sessions (
    id_hash       text        PRIMARY KEY,
    user_id       uuid        REFERENCES users (id) ON DELETE CASCADE,
    data          bytea,
    ip            text        NOT NULL DEFAULT '',
    user_agent    text        NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

CREATE TABLE api_keys (
    id            uuid        PRIMARY KEY,
    user_id       uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          text        NOT NULL CHECK (name <> ''),
    prefix        text        NOT NULL,
    key_hash      text        NOT NULL,
    scopes        jsonb       NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(scopes) = 'array'),
    expires_at    timestamptz,
    last_used_at  timestamptz,
    revoked_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash)
);
CREATE INDEX api_keys_user_id_idx ON api_keys (user_id, created_at DESC);

CREATE TABLE bots (
    id                     uuid             PRIMARY KEY,
    owner_id               uuid             NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name                   text             NOT NULL CHECK (name <> '' AND length(name) <= 100),
    description            text             NOT NULL DEFAULT '',
    kind                   text             NOT NULL CHECK (kind IN ('http', 'llm', 'script')),
    status                 text             NOT NULL DEFAULT 'inactive' CHECK (status IN ('active', 'inactive', 'error', 'maintenance')),
    tags                   jsonb            NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(tags) = 'array'),
    active_version_id      uuid,
    total_executions       bigint           NOT NULL DEFAULT 0 CHECK (total_executions >= 0),
    successful_executions  bigint           NOT NULL DEFAULT 0 CHECK (successful_executions >= 0),
    failed_executions      bigint           NOT NULL DEFAULT 0 CHECK (failed_executions >= 0),
    avg_duration_ms        double precision NOT NULL DEFAULT 0,
    last_executed_at       timestamptz,
    created_at             timestamptz      NOT NULL DEFAULT now(),
    updated_at             timestamptz      NOT NULL DEFAULT now(),
    archived_at            timestamptz
);
CREATE INDEX bots_owner_updated_idx ON bots (owner_id, updated_at DESC, id DESC);
CREATE INDEX bots_status_updated_idx ON bots (status, updated_at DESC, id DESC);
CREATE INDEX bots_updated_idx ON bots (updated_at DESC, id DESC);

CREATE TABLE bot_tags (
    bot_id  uuid NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    tag     text NOT NULL CHECK (tag <> ''),
    PRIMARY KEY (bot_id, tag)
);
CREATE INDEX bot_tags_tag_idx ON bot_tags (tag, bot_id);

CREATE TABLE bot_versions (
    id            uuid        PRIMARY KEY,
    bot_id        uuid        NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    number        integer     NOT NULL CHECK (number > 0),
    kind          text        NOT NULL CHECK (kind IN ('http', 'llm', 'script')),
    -- json, not jsonb: the stored text is exactly the canonical text that
    -- content_hash covers (jsonb would rewrite numbers such as 1e1).
    config        json        NOT NULL CHECK (json_typeof(config) = 'object'),
    content_hash  text        NOT NULL,
    changelog     text        NOT NULL DEFAULT '',
    author_id     uuid,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT bot_versions_bot_number_key UNIQUE (bot_id, number)
);

ALTER TABLE bots ADD CONSTRAINT bots_active_version_fkey
    FOREIGN KEY (active_version_id) REFERENCES bot_versions (id) ON DELETE SET NULL
    -- Deferred: a bot and its first version are inserted in one transaction.
    DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX bots_active_version_idx ON bots (active_version_id);

CREATE TABLE bot_executions (
    id            uuid             PRIMARY KEY,
    bot_id        uuid             NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    version_id    uuid             REFERENCES bot_versions (id) ON DELETE SET NULL,
    status        text             NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'success', 'failed', 'cancelled', 'timed_out')),
    trigger_kind  text             NOT NULL DEFAULT 'manual' CHECK (trigger_kind IN ('manual', 'api', 'webhook', 'schedule', 'replay')),
    input         jsonb,
    output        jsonb,
    error         text             NOT NULL DEFAULT '',
    logs          text             NOT NULL DEFAULT '',
    attempt       integer          NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    queued_at     timestamptz      NOT NULL DEFAULT now(),
    started_at    timestamptz,
    ended_at      timestamptz,
    duration_ms   double precision CHECK (duration_ms >= 0),
    requested_by  uuid             REFERENCES users (id) ON DELETE SET NULL,
    job_id        bigint
);
CREATE INDEX bot_executions_bot_queued_idx ON bot_executions (bot_id, queued_at DESC, id DESC);
CREATE INDEX bot_executions_status_queued_idx ON bot_executions (status, queued_at DESC, id DESC);
CREATE INDEX bot_executions_queued_idx ON bot_executions (queued_at DESC, id DESC);
CREATE INDEX bot_executions_version_idx ON bot_executions (version_id);
CREATE INDEX bot_executions_requested_by_idx ON bot_executions (requested_by);

-- No foreign keys: audit rows outlive the users, keys and bots they name.
CREATE TABLE audit_logs (
    id                uuid        PRIMARY KEY,
    seq               bigint      NOT NULL CHECK (seq > 0),
    actor_user_id     uuid,
    actor_api_key_id  uuid,
    actor_label       text        NOT NULL DEFAULT '',
    action            text        NOT NULL CHECK (action <> ''),
    resource_type     text        NOT NULL,
    resource_id       text        NOT NULL,
    bot_id            uuid,
    -- json, not jsonb: the hash chain covers these bytes exactly.
    old_values        json,
    new_values        json,
    ip                text        NOT NULL DEFAULT '',
    user_agent        text        NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL DEFAULT now(),
    prev_hash         text        NOT NULL,
    hash              text        NOT NULL,
    CONSTRAINT audit_logs_seq_key UNIQUE (seq)
);
-- Pages are ordered by seq (which follows time), so filters index (x, seq).
CREATE INDEX audit_logs_created_idx ON audit_logs (created_at);
CREATE INDEX audit_logs_actor_idx ON audit_logs (actor_user_id, seq DESC);
CREATE INDEX audit_logs_actor_label_idx ON audit_logs (lower(actor_label) text_pattern_ops, seq DESC);
CREATE INDEX audit_logs_resource_idx ON audit_logs (resource_type, resource_id, seq DESC);
CREATE INDEX audit_logs_bot_idx ON audit_logs (bot_id, seq DESC);
CREATE INDEX audit_logs_action_idx ON audit_logs (action text_pattern_ops, seq DESC);

-- The audit chain's head, read under a transaction-scoped advisory lock so
-- concurrent writers cannot fork the chain. In PL/pgSQL each statement takes
-- a fresh snapshot, so the head is read after the lock is granted; one round
-- trip instead of two.
CREATE FUNCTION codex32_audit_head(OUT head_seq bigint, OUT head_hash text) LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(27988911124918066);
    SELECT a.seq, a.hash INTO head_seq, head_hash FROM audit_logs AS a ORDER BY a.seq DESC LIMIT 1;
END;
$$;

-- Versions and audit rows are immutable; the database enforces it.
CREATE FUNCTION codex32_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are immutable (% refused)', TG_TABLE_NAME, TG_OP USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER bot_versions_immutable BEFORE UPDATE ON bot_versions
    FOR EACH ROW EXECUTE FUNCTION codex32_refuse_change();
CREATE TRIGGER audit_logs_immutable BEFORE UPDATE OR DELETE ON audit_logs
    FOR EACH ROW EXECUTE FUNCTION codex32_refuse_change();
CREATE TRIGGER audit_logs_no_truncate BEFORE TRUNCATE ON audit_logs
    FOR EACH STATEMENT EXECUTE FUNCTION codex32_refuse_change();
