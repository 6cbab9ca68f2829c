-- Secrets say which bots may use them (grants: chosen bots, tags, owners)
-- and where they may be sent (hosts). Existing secrets get no grants and no
-- hosts, so no bot can use them until an admin chooses (fail closed);
-- scoped_at stays NULL until then, which the secrets page shows as a notice.
ALTER TABLE secrets ADD COLUMN grants TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(grants) AND json_type(grants) = 'object');
ALTER TABLE secrets ADD COLUMN hosts TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(hosts) AND json_type(hosts) = 'array');
ALTER TABLE secrets ADD COLUMN scoped_at TIMESTAMP;
