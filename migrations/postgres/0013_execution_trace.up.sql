-- The trace id (32 hex digits) of the request that queued an execution, so
-- its page can link to the trace. Looked up by execution, never by trace id.
ALTER TABLE bot_executions ADD COLUMN trace_id text CHECK (trace_id ~ '^[0-9a-f]{32}$');
