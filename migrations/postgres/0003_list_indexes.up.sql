-- Indexes for the bot list at scale: partial indexes over live (not
-- archived) bots for each sort and the common filters, and a trigram index
-- for substring search (pg_trgm; skipped with a notice where the extension
-- cannot be installed — search then scans).

CREATE INDEX bots_live_updated_idx ON bots (updated_at DESC, id DESC) WHERE archived_at IS NULL;
CREATE INDEX bots_live_name_idx ON bots (lower(name), id) WHERE archived_at IS NULL;
CREATE INDEX bots_live_last_run_idx ON bots (last_executed_at DESC NULLS LAST, id DESC) WHERE archived_at IS NULL;
CREATE INDEX bots_live_status_kind_idx ON bots (status, kind) WHERE archived_at IS NULL;
CREATE INDEX bots_live_kind_updated_idx ON bots (kind, updated_at DESC, id DESC) WHERE archived_at IS NULL;

DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
EXCEPTION WHEN insufficient_privilege OR undefined_file OR feature_not_supported THEN
    RAISE NOTICE 'pg_trgm unavailable (%): bot search will not be indexed', SQLERRM;
END;
$$;

DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        EXECUTE 'CREATE INDEX bots_search_trgm_idx ON bots USING gin ((lower(name) || '' '' || lower(description)) public.gin_trgm_ops)';
    END IF;
END;
$$;
