DROP INDEX IF EXISTS bots_live_kind_updated_idx;
DROP INDEX IF EXISTS bots_live_status_kind_idx;
DROP INDEX IF EXISTS bots_live_last_run_idx;
DROP INDEX IF EXISTS bots_live_name_idx;
DROP INDEX IF EXISTS bots_live_updated_idx;
