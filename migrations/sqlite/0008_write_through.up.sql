-- Postgres only (GIN index options); kept so both dialects share versions.
SELECT 1;
