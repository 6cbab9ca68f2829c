ALTER TABLE bot_executions DROP COLUMN trace_id;
