-- Indexes for the bot list at scale: partial indexes over live (not
-- archived) bots for each sort and the common filters. (Substring search
-- has no index on SQLite.)

CREATE INDEX bots_live_updated_idx ON bots (updated_at DESC, id DESC) WHERE archived_at IS NULL;
CREATE INDEX bots_live_name_idx ON bots (lower(name), id) WHERE archived_at IS NULL;
CREATE INDEX bots_live_last_run_idx ON bots (last_executed_at DESC, id DESC) WHERE archived_at IS NULL;
CREATE INDEX bots_live_status_kind_idx ON bots (status, kind) WHERE archived_at IS NULL;
CREATE INDEX bots_live_kind_updated_idx ON bots (kind, updated_at DESC, id DESC) WHERE archived_at IS NULL;
