ALTER INDEX IF EXISTS bots_search_trgm_idx RESET (fastupdate);
