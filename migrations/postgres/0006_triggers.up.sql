-- Triggers: inbound webhooks and cron schedules, two more ways to request
-- an execution of a bot's active version.

-- A webhook is a secret URL, /hooks/<token>, that runs its bot with the
-- request body as input. Only the SHA-256 of the token is stored (the URL
-- is shown once, like an API key). The optional HMAC-SHA256 signing secret
-- is encrypted like a secret (AES-256-GCM; the AAD names the webhook).
CREATE TABLE bot_webhooks (
    id                    uuid        PRIMARY KEY,
    bot_id                uuid        NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    description           text        NOT NULL DEFAULT '' CHECK (length(description) <= 200),
    token_hash            text        NOT NULL,
    token_prefix          text        NOT NULL,
    signing_ciphertext    bytea,
    signing_nonce         bytea,
    signing_key_id        text        NOT NULL DEFAULT '',
    enabled               boolean     NOT NULL DEFAULT true,
    -- 0: answer 202 at once; 1–30: wait that long for the output.
    sync_timeout_seconds  integer     NOT NULL DEFAULT 0 CHECK (sync_timeout_seconds BETWEEN 0 AND 30),
    last_called_at        timestamptz,
    -- Calls refused for a bad or missing signature: counted always, audited
    -- at most once a minute per webhook (rejected_audited_at).
    rejected_count        bigint      NOT NULL DEFAULT 0 CHECK (rejected_count >= 0),
    last_rejected_at      timestamptz,
    rejected_audited_at   timestamptz,
    created_by            uuid,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT bot_webhooks_token_hash_key UNIQUE (token_hash),
    CONSTRAINT bot_webhooks_signing_check CHECK ((signing_ciphertext IS NULL) = (signing_nonce IS NULL))
);
CREATE INDEX bot_webhooks_bot_idx ON bot_webhooks (bot_id, created_at);

-- A schedule runs its bot with a fixed input at the times of a 5-field cron
-- expression read in a time zone. next_run_at is the next due time (UTC);
-- NULL while disabled.
CREATE TABLE bot_schedules (
    id                 uuid        PRIMARY KEY,
    bot_id             uuid        NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
    description        text        NOT NULL DEFAULT '' CHECK (length(description) <= 200),
    cron_expr          text        NOT NULL CHECK (cron_expr <> '' AND length(cron_expr) <= 100),
    time_zone          text        NOT NULL DEFAULT 'UTC' CHECK (time_zone <> ''),
    input              jsonb       NOT NULL DEFAULT '{}',
    enabled            boolean     NOT NULL DEFAULT true,
    next_run_at        timestamptz,
    last_run_at        timestamptz,
    last_execution_id  uuid,
    last_error         text        NOT NULL DEFAULT '',
    created_by         uuid,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT bot_schedules_next_run_check CHECK (NOT enabled OR next_run_at IS NOT NULL)
);
CREATE INDEX bot_schedules_bot_idx ON bot_schedules (bot_id, created_at);
-- The tick's query: enabled schedules that are due.
CREATE INDEX bot_schedules_due_idx ON bot_schedules (next_run_at) WHERE enabled;

-- One row per (schedule, tick) that ran: inserted in the transaction that
-- queues the execution, so two workers cannot both run one tick. No foreign
-- key to the execution: executions are pruned, the guard is not.
CREATE TABLE schedule_runs (
    schedule_id   uuid        NOT NULL REFERENCES bot_schedules (id) ON DELETE CASCADE,
    tick_time     timestamptz NOT NULL,
    execution_id  uuid,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (schedule_id, tick_time)
);
CREATE INDEX schedule_runs_created_idx ON schedule_runs (created_at);
