-- Codex-32 schema, version 1 (SQLite). Same tables, columns and indexes as the
-- Postgres schema: uuid -> TEXT, jsonb -> TEXT checked with json_valid,
-- timestamptz -> TIMESTAMP (UTC text written by Bun), boolean -> BOOLEAN.

CREATE TABLE users (
    id             TEXT      PRIMARY KEY,
    email          TEXT      NOT NULL CHECK (email <> '' AND length(email) <= 254),
    username       TEXT      NOT NULL CHECK (username <> '' AND length(username) <= 64),
    name           TEXT      NOT NULL DEFAULT '',
    password_hash  TEXT,
    role           TEXT      NOT NULL DEFAULT 'user' CHECK (role IN ('admin', 'user', 'viewer', 'api_user')),
    is_active      BOOLEAN   NOT NULL DEFAULT 1,
    last_login_at  TIMESTAMP,
    created_at     TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at     TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));
CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username));
CREATE INDEX users_created_at_idx ON users (created_at DESC, id DESC);

CREATE TABLE identities (
    id              TEXT      PRIMARY KEY,
    user_id         TEXT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider        TEXT      NOT NULL CHECK (provider <> ''),
    subject         TEXT      NOT NULL CHECK (subject <> ''),
    email           TEXT      NOT NULL DEFAULT '',
    email_verified  BOOLEAN   NOT NULL DEFAULT 0,
    created_at      TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at      TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT identities_provider_subject_key UNIQUE (provider, subject)
);
CREATE INDEX identities_user_id_idx ON identities (user_id);

CREATE TABLE sessions (
    id_hash       TEXT      PRIMARY KEY,
    user_id       TEXT      REFERENCES users (id) ON DELETE CASCADE,
    data          BLOB,
    ip            TEXT      NOT NULL DEFAULT '',
    user_agent    TEXT      NOT NULL DEFAULT '',
    created_at    TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    last_seen_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    expires_at    TIMESTAMP NOT NULL
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

CREATE TABLE api_keys (
    id            TEXT      PRIMARY KEY,
    user_id       TEXT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          TEXT      NOT NULL CHECK (name <> ''),
    prefix        TEXT      NOT NULL,
    key_hash      TEXT      NOT NULL,
    scopes        TEXT      NOT NULL DEFAULT '[]' CHECK (json_valid(scopes) AND json_type(scopes) = 'array'),
    expires_at    TIMESTAMP,
    last_used_at  TIMESTAMP,
    revoked_at    TIMESTAMP,
    created_at    TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT api_keys_key_hash_key UNIQUE (key_hash)
);
CREATE INDEX api_keys_user_id_idx ON api_keys (user_id, created_at DESC);

CREATE TABLE bots (
    id                     TEXT      PRIMARY KEY,
    owner_id               TEXT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name                   TEXT      NOT NULL CHECK (name <> '' AND length(name) <= 100),
    description            TEXT      NOT NULL DEFAULT '',
    kind                   TEXT      NOT NULL CHECK (kind IN ('http', 'llm', 'script')),
    status                 TEXT      NOT NULL DEFAULT 'inactive' CHECK (status IN ('active', 'inactive', 'error', 'maintenance')),
    tags                   TEXT      NOT NULL DEFAULT '[]' CHECK (json_valid(tags) AND json_type(tags) = 'array'),
    active_version_id      TEXT      REFERENCES bot_versions (id) ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED,
    total_executions       INTEGER   NOT NULL DEFAULT 0 CHECK (total_executions >= 0),
    successful_executions  INTEGER   NOT NULL DEFAULT 0 CHECK (successful_executions >= 0),
    failed_executions      INTEGER   NOT NULL DEFAULT 0 CHECK (failed_executions >= 0),
    avg_duration_ms        REAL      NOT NULL DEFAULT 0,
    last_executed_at       TIMESTAMP,
    created_at             TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at             TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    archived_at            TIMESTAMP
);
CREATE INDEX bots_owner_updated_idx ON bots (owner_id, updated_at DESC, id DESC);
CREATE INDEX bots_status_updated_idx ON bots (status, updated_at DESC, id DESC);
CREATE INDEX bots_updated_idx ON bots (updated_at DESC, id DESC);
CREATE INDEX bots_active_version_idx ON bots (active_version_id);

CREATE TABLE bot_tags (
    bot_id  TEXT NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    tag     TEXT NOT NULL CHECK (tag <> ''),
    PRIMARY KEY (bot_id, tag)
) WITHOUT ROWID;
CREATE INDEX bot_tags_tag_idx ON bot_tags (tag, bot_id);

CREATE TABLE bot_versions (
    id            TEXT      PRIMARY KEY,
    bot_id        TEXT      NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    number        INTEGER   NOT NULL CHECK (number > 0),
    kind          TEXT      NOT NULL CHECK (kind IN ('http', 'llm', 'script')),
    config        TEXT      NOT NULL CHECK (json_valid(config) AND json_type(config) = 'object'),
    content_hash  TEXT      NOT NULL,
    changelog     TEXT      NOT NULL DEFAULT '',
    author_id     TEXT,
    created_at    TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT bot_versions_bot_number_key UNIQUE (bot_id, number)
);

CREATE TABLE bot_executions (
    id            TEXT      PRIMARY KEY,
    bot_id        TEXT      NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    version_id    TEXT      REFERENCES bot_versions (id) ON DELETE SET NULL,
    status        TEXT      NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'success', 'failed', 'cancelled', 'timed_out')),
    trigger_kind  TEXT      NOT NULL DEFAULT 'manual' CHECK (trigger_kind IN ('manual', 'api', 'webhook', 'schedule', 'replay')),
    input         TEXT      CHECK (input IS NULL OR json_valid(input)),
    output        TEXT      CHECK (output IS NULL OR json_valid(output)),
    error         TEXT      NOT NULL DEFAULT '',
    logs          TEXT      NOT NULL DEFAULT '',
    attempt       INTEGER   NOT NULL DEFAULT 0 CHECK (attempt >= 0),
    queued_at     TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    started_at    TIMESTAMP,
    ended_at      TIMESTAMP,
    duration_ms   REAL      CHECK (duration_ms >= 0),
    requested_by  TEXT      REFERENCES users (id) ON DELETE SET NULL,
    job_id        INTEGER
);
CREATE INDEX bot_executions_bot_queued_idx ON bot_executions (bot_id, queued_at DESC, id DESC);
CREATE INDEX bot_executions_status_queued_idx ON bot_executions (status, queued_at DESC, id DESC);
CREATE INDEX bot_executions_queued_idx ON bot_executions (queued_at DESC, id DESC);
CREATE INDEX bot_executions_version_idx ON bot_executions (version_id);
CREATE INDEX bot_executions_requested_by_idx ON bot_executions (requested_by);

-- No foreign keys: audit rows outlive the users, keys and bots they name.
CREATE TABLE audit_logs (
    id                TEXT      PRIMARY KEY,
    seq               INTEGER   NOT NULL CHECK (seq > 0),
    actor_user_id     TEXT,
    actor_api_key_id  TEXT,
    actor_label       TEXT      NOT NULL DEFAULT '',
    action            TEXT      NOT NULL CHECK (action <> ''),
    resource_type     TEXT      NOT NULL,
    resource_id       TEXT      NOT NULL,
    bot_id            TEXT,
    old_values        TEXT      CHECK (old_values IS NULL OR json_valid(old_values)),
    new_values        TEXT      CHECK (new_values IS NULL OR json_valid(new_values)),
    ip                TEXT      NOT NULL DEFAULT '',
    user_agent        TEXT      NOT NULL DEFAULT '',
    created_at        TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    prev_hash         TEXT      NOT NULL,
    hash              TEXT      NOT NULL,
    CONSTRAINT audit_logs_seq_key UNIQUE (seq)
);
-- Pages are ordered by seq (which follows time), so filters index (x, seq).
CREATE INDEX audit_logs_created_idx ON audit_logs (created_at);
CREATE INDEX audit_logs_actor_idx ON audit_logs (actor_user_id, seq DESC);
CREATE INDEX audit_logs_actor_label_idx ON audit_logs (lower(actor_label), seq DESC);
CREATE INDEX audit_logs_resource_idx ON audit_logs (resource_type, resource_id, seq DESC);
CREATE INDEX audit_logs_bot_idx ON audit_logs (bot_id, seq DESC);
CREATE INDEX audit_logs_action_idx ON audit_logs (action, seq DESC);

-- Versions and audit rows are immutable; the database enforces it.
CREATE TRIGGER bot_versions_immutable BEFORE UPDATE ON bot_versions
BEGIN
    SELECT RAISE(ABORT, 'bot_versions rows are immutable (UPDATE refused)');
END;
CREATE TRIGGER audit_logs_no_update BEFORE UPDATE ON audit_logs
BEGIN
    SELECT RAISE(ABORT, 'audit_logs rows are immutable (UPDATE refused)');
END;
CREATE TRIGGER audit_logs_no_delete BEFORE DELETE ON audit_logs
BEGIN
    SELECT RAISE(ABORT, 'audit_logs rows are immutable (DELETE refused)');
END;
