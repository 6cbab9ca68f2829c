-- Inbound webhooks sign the Standard Webhooks way (id.timestamp.body, with
-- a replay window and remembered ids). Webhooks signed before keep the
-- legacy body-only X-Codex32-Signature until their owner switches.
ALTER TABLE bot_webhooks ADD COLUMN signature_scheme text NOT NULL DEFAULT 'legacy'
    CHECK (signature_scheme IN ('standard', 'legacy'));
ALTER TABLE bot_webhooks ALTER COLUMN signature_scheme SET DEFAULT 'standard';

-- The webhook-ids a webhook accepted within the replay window.
CREATE TABLE webhook_messages (
    webhook_id  uuid        NOT NULL REFERENCES bot_webhooks (id) ON DELETE CASCADE,
    message_id  text        NOT NULL CHECK (length(message_id) BETWEEN 1 AND 255),
    received_at timestamptz NOT NULL,
    PRIMARY KEY (webhook_id, message_id)
);
CREATE INDEX webhook_messages_received_idx ON webhook_messages (webhook_id, received_at);
