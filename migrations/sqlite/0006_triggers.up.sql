-- Triggers: inbound webhooks and cron schedules, two more ways to request
-- an execution of a bot's active version. Same tables as on Postgres.

-- A webhook is a secret URL, /hooks/<token>, that runs its bot with the
-- request body as input. Only the SHA-256 of the token is stored (the URL
-- is shown once, like an API key). The optional HMAC-SHA256 signing secret
-- is encrypted like a secret (AES-256-GCM; the AAD names the webhook).
CREATE TABLE bot_webhooks (
    id                    TEXT      PRIMARY KEY,
    bot_id                TEXT      NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    description           TEXT      NOT NULL DEFAULT '' CHECK (length(description) <= 200),
    token_hash            TEXT      NOT NULL,
    token_prefix          TEXT      NOT NULL,
    signing_ciphertext    BLOB,
    signing_nonce         BLOB,
    signing_key_id        TEXT      NOT NULL DEFAULT '',
    enabled               BOOLEAN   NOT NULL DEFAULT 1,
    -- 0: answer 202 at once; 1–30: wait that long for the output.
    sync_timeout_seconds  INTEGER   NOT NULL DEFAULT 0 CHECK (sync_timeout_seconds BETWEEN 0 AND 30),
    last_called_at        TIMESTAMP,
    -- Calls refused for a bad or missing signature: counted always, audited
    -- at most once a minute per webhook (rejected_audited_at).
    rejected_count        INTEGER   NOT NULL DEFAULT 0 CHECK (rejected_count >= 0),
    last_rejected_at      TIMESTAMP,
    rejected_audited_at   TIMESTAMP,
    created_by            TEXT,
    created_at            TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at            TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT bot_webhooks_token_hash_key UNIQUE (token_hash),
    CONSTRAINT bot_webhooks_signing_check CHECK ((signing_ciphertext IS NULL) = (signing_nonce IS NULL))
);
CREATE INDEX bot_webhooks_bot_idx ON bot_webhooks (bot_id, created_at);

-- A schedule runs its bot with a fixed input at the times of a 5-field cron
-- expression read in a time zone. next_run_at is the next due time (UTC);
-- NULL while disabled.
CREATE TABLE bot_schedules (
    id                 TEXT      PRIMARY KEY,
    bot_id             TEXT      NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    description        TEXT      NOT NULL DEFAULT '' CHECK (length(description) <= 200),
    cron_expr          TEXT      NOT NULL CHECK (cron_expr <> '' AND length(cron_expr) <= 100),
    time_zone          TEXT      NOT NULL DEFAULT 'UTC' CHECK (time_zone <> ''),
    input              TEXT      NOT NULL DEFAULT '{}' CHECK (json_valid(input)),
    enabled            BOOLEAN   NOT NULL DEFAULT 1,
    next_run_at        TIMESTAMP,
    last_run_at        TIMESTAMP,
    last_execution_id  TEXT,
    last_error         TEXT      NOT NULL DEFAULT '',
    created_by         TEXT,
    created_at         TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at         TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT bot_schedules_next_run_check CHECK (NOT enabled OR next_run_at IS NOT NULL)
);
CREATE INDEX bot_schedules_bot_idx ON bot_schedules (bot_id, created_at);
-- The tick's query: enabled schedules that are due.
CREATE INDEX bot_schedules_due_idx ON bot_schedules (next_run_at) WHERE enabled;

-- One row per (schedule, tick) that ran: inserted in the transaction that
-- queues the execution, so two workers cannot both run one tick. No foreign
-- key to the execution: executions are pruned, the guard is not.
CREATE TABLE schedule_runs (
    schedule_id   TEXT      NOT NULL REFERENCES bot_schedules (id) ON DELETE CASCADE,
    tick_time     TIMESTAMP NOT NULL,
    execution_id  TEXT,
    created_at    TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    PRIMARY KEY (schedule_id, tick_time)
) WITHOUT ROWID;
CREATE INDEX schedule_runs_created_idx ON schedule_runs (created_at);
