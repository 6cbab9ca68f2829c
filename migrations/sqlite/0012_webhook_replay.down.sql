DROP TABLE IF EXISTS webhook_messages;
ALTER TABLE bot_webhooks DROP COLUMN signature_scheme;
