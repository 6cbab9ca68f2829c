ALTER TABLE secrets DROP COLUMN scoped_at;
ALTER TABLE secrets DROP COLUMN hosts;
ALTER TABLE secrets DROP COLUMN grants;
