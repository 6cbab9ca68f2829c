-- Every finished execution updates its bot's statistics, and the new
-- last_executed_at is indexed (the list's "last run" order), so those
-- updates are never HOT: each adds entries to every index of bots,
-- including the trigram search index. With GIN's pending list, whichever
-- statement crossed its limit merged megabytes of entries on the spot (a
-- stall of up to 150 ms under load); without it each write updates the
-- index directly, a small even cost. River's GIN indexes get the same
-- setting at startup (migrations/river.go).
ALTER INDEX IF EXISTS bots_search_trgm_idx SET (fastupdate = off);
