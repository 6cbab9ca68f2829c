-- The trace id (32 hex digits) of the request that queued an execution, so
-- its page can link to the trace. Looked up by execution, never by trace id.
ALTER TABLE bot_executions ADD COLUMN trace_id TEXT CHECK (length(trace_id) = 32 AND trace_id NOT GLOB '*[^0-9a-f]*');
