-- Sign-in support: login attempts (throttling and the record of every
-- attempt) and instance settings (first-run setup).

CREATE TABLE login_attempts (
    id          TEXT      PRIMARY KEY,
    email       TEXT      NOT NULL,
    user_id     TEXT      REFERENCES users (id) ON DELETE SET NULL,
    ip          TEXT      NOT NULL DEFAULT '',
    user_agent  TEXT      NOT NULL DEFAULT '',
    method      TEXT      NOT NULL DEFAULT 'password',
    success     BOOLEAN   NOT NULL,
    reason      TEXT      NOT NULL DEFAULT '',
    created_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX login_attempts_email_idx ON login_attempts (email, created_at DESC);
CREATE INDEX login_attempts_ip_idx ON login_attempts (ip, created_at DESC);
CREATE INDEX login_attempts_created_idx ON login_attempts (created_at);

CREATE TABLE instance_settings (
    key         TEXT      PRIMARY KEY,
    value       TEXT      NOT NULL,
    updated_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
