-- Secrets say which bots may use them (grants: chosen bots, tags, owners)
-- and where they may be sent (hosts). Existing secrets get no grants and no
-- hosts, so no bot can use them until an admin chooses (fail closed);
-- scoped_at stays NULL until then, which the secrets page shows as a notice.
ALTER TABLE secrets ADD COLUMN grants jsonb NOT NULL DEFAULT '{}';
ALTER TABLE secrets ADD COLUMN hosts jsonb NOT NULL DEFAULT '[]';
ALTER TABLE secrets ADD COLUMN scoped_at timestamptz;
ALTER TABLE secrets ADD CONSTRAINT secrets_grants_object CHECK (jsonb_typeof(grants) = 'object');
ALTER TABLE secrets ADD CONSTRAINT secrets_hosts_array CHECK (jsonb_typeof(hosts) = 'array');
