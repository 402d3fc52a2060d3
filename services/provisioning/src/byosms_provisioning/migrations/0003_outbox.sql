-- Transactional outbox: events and state records waiting to be published to Kafka, in id order.
-- value NULL is a tombstone for a compacted topic.
CREATE TABLE outbox (
    id            bigserial PRIMARY KEY,
    topic         text NOT NULL,
    record_key    text NOT NULL,
    value         bytea,
    message_type  text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    sent_at       timestamptz
);

CREATE INDEX outbox_unsent ON outbox (id) WHERE sent_at IS NULL;
