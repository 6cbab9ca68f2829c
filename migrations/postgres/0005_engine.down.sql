DROP TABLE IF EXISTS codex32_workers;
ALTER TABLE bots DROP COLUMN IF EXISTS timed_executions;
ALTER TABLE bots DROP COLUMN IF EXISTS total_duration_us;
ALTER TABLE bots DROP COLUMN IF EXISTS consecutive_failures;
DROP INDEX IF EXISTS bot_executions_running_idx;
DROP INDEX IF EXISTS bot_executions_trigger_idx;
DROP INDEX IF EXISTS bot_executions_requested_by_idx;
CREATE INDEX bot_executions_requested_by_idx ON bot_executions (requested_by);
ALTER TABLE bot_executions
    DROP COLUMN IF EXISTS retry_at,
    DROP COLUMN IF EXISTS worker_id,
    DROP COLUMN IF EXISTS cancel_requested_at,
    DROP COLUMN IF EXISTS attempts,
    DROP COLUMN IF EXISTS max_attempts;
