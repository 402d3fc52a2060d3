-- What was sent, without its text, so a send whose outcome is unknown can be found in Twilio's Messages
-- list (unknown_sends): content_digest is SHA-256 over the message id and the body (never the body
-- itself), media_count the number of media URLs. NULL on rows from before: those stay outcome_unknown.
ALTER TABLE outbound_messages ADD COLUMN content_digest text;
ALTER TABLE outbound_messages ADD COLUMN media_count integer;
-- When Twilio's list is asked next about an outcome_unknown send, and how often it was asked.
ALTER TABLE outbound_messages ADD COLUMN resolve_attempts integer NOT NULL DEFAULT 0;
ALTER TABLE outbound_messages ADD COLUMN resolve_next_at timestamptz;
CREATE INDEX outbound_messages_unknown_due ON outbound_messages (resolve_next_at)
    WHERE state = 'failed' AND code = 'outcome_unknown';

-- Recipients whose messages keep failing with 30003/30005/30006 (unreachable, unknown or landline),
-- per organization and conversation (sender, recipient): consecutive failures since the last
-- delivery, and since when the conversation is flagged (NULL: not flagged). See address_health.
CREATE TABLE failing_addresses (
    organization_id  text NOT NULL,
    sender           text NOT NULL,
    recipient        text NOT NULL,
    failures         integer NOT NULL,
    last_error_code  integer,
    flagged_since    timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, sender, recipient)
);
