-- The execution engine: attempts, cancellation, worker ownership, and the
-- failure streak that turns a bot's status to "error".
ALTER TABLE bot_executions
    ADD COLUMN max_attempts        integer     NOT NULL DEFAULT 1 CHECK (max_attempts >= 1),
    ADD COLUMN attempts            jsonb,
    ADD COLUMN cancel_requested_at timestamptz,
    ADD COLUMN worker_id           text,
    ADD COLUMN retry_at            timestamptz;

-- Keyset pages of the history filtered by trigger or requester.
DROP INDEX IF EXISTS bot_executions_requested_by_idx;
CREATE INDEX bot_executions_requested_by_idx ON bot_executions (requested_by, queued_at DESC, id DESC);
CREATE INDEX bot_executions_trigger_idx ON bot_executions (trigger_kind, queued_at DESC, id DESC);
-- The reaper looks for running executions of lost workers.
CREATE INDEX bot_executions_running_idx ON bot_executions (worker_id) WHERE status = 'running';

ALTER TABLE bots ADD COLUMN consecutive_failures integer NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0);

-- Every worker process announces itself and beats; executions held by a
-- worker that stopped beating are recovered.
CREATE TABLE codex32_workers (
    id           text        PRIMARY KEY,
    hostname     text        NOT NULL DEFAULT '',
    pid          integer     NOT NULL DEFAULT 0,
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now()
);

-- Exact statistics: durations are summed in whole microseconds.
ALTER TABLE bots
    ADD COLUMN total_duration_us bigint NOT NULL DEFAULT 0 CHECK (total_duration_us >= 0),
    ADD COLUMN timed_executions  bigint NOT NULL DEFAULT 0 CHECK (timed_executions >= 0);
