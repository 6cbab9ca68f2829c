-- Sign-in support: login attempts (throttling and the record of every
-- attempt) and instance settings (first-run setup).

CREATE TABLE login_attempts (
    id          uuid        PRIMARY KEY,
    email       text        NOT NULL,
    user_id     uuid        REFERENCES users (id) ON DELETE SET NULL,
    ip          text        NOT NULL DEFAULT '',
    user_agent  text        NOT NULL DEFAULT '',
    method      text        NOT NULL DEFAULT 'password',
    success     boolean     NOT NULL,
    reason      text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX login_attempts_email_idx ON login_attempts (email, created_at DESC);
CREATE INDEX login_attempts_ip_idx ON login_attempts (ip, created_at DESC);
CREATE INDEX login_attempts_created_idx ON login_attempts (created_at);

CREATE TABLE instance_settings (
    key         text        PRIMARY KEY,
    value       text        NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
