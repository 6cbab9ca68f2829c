-- The execution engine: attempts, cancellation, worker ownership, and the
-- failure streak that turns a bot's status to "error".
ALTER TABLE bot_executions ADD COLUMN max_attempts INTEGER NOT NULL DEFAULT 1 CHECK (max_attempts >= 1);
ALTER TABLE bot_executions ADD COLUMN attempts TEXT CHECK (attempts IS NULL OR json_valid(attempts));
ALTER TABLE bot_executions ADD COLUMN cancel_requested_at TIMESTAMP;
ALTER TABLE bot_executions ADD COLUMN worker_id TEXT;
ALTER TABLE bot_executions ADD COLUMN retry_at TIMESTAMP;

DROP INDEX IF EXISTS bot_executions_requested_by_idx;
CREATE INDEX bot_executions_requested_by_idx ON bot_executions (requested_by, queued_at DESC, id DESC);
CREATE INDEX bot_executions_trigger_idx ON bot_executions (trigger_kind, queued_at DESC, id DESC);
CREATE INDEX bot_executions_running_idx ON bot_executions (worker_id) WHERE status = 'running';

ALTER TABLE bots ADD COLUMN consecutive_failures INTEGER NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0);

CREATE TABLE codex32_workers (
    id           TEXT      PRIMARY KEY,
    hostname     TEXT      NOT NULL DEFAULT '',
    pid          INTEGER   NOT NULL DEFAULT 0,
    started_at   TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    heartbeat_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- Exact statistics: durations are summed in whole microseconds.
ALTER TABLE bots ADD COLUMN total_duration_us INTEGER NOT NULL DEFAULT 0 CHECK (total_duration_us >= 0);
ALTER TABLE bots ADD COLUMN timed_executions INTEGER NOT NULL DEFAULT 0 CHECK (timed_executions >= 0);
