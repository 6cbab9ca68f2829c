-- Inbound webhooks sign the Standard Webhooks way (id.timestamp.body, with
-- a replay window and remembered ids). Webhooks signed before keep the
-- legacy body-only X-Codex32-Signature until their owner switches. (SQLite
-- cannot change a column default: new webhooks always set the scheme.)
ALTER TABLE bot_webhooks ADD COLUMN signature_scheme TEXT NOT NULL DEFAULT 'legacy'
    CHECK (signature_scheme IN ('standard', 'legacy'));

-- The webhook-ids a webhook accepted within the replay window.
CREATE TABLE webhook_messages (
    webhook_id  TEXT      NOT NULL REFERENCES bot_webhooks (id) ON DELETE CASCADE,
    message_id  TEXT      NOT NULL CHECK (length(message_id) BETWEEN 1 AND 255),
    received_at TIMESTAMP NOT NULL,
    PRIMARY KEY (webhook_id, message_id)
);
CREATE INDEX webhook_messages_received_idx ON webhook_messages (webhook_id, received_at);
