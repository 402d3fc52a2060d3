-- The queue (or inbound flow) id a number's inbound messages go to; NULL: its integration's default.
-- Reset when the address is imported again (a new import is a new number).
ALTER TABLE numbers ADD COLUMN routing_target text;

-- Commands on numbers (remove, routing target, compliance blocks) carried out, with the Kafka record
-- that carried them out (source) and the records they published (outputs: topic, key, value or NULL
-- for a tombstone), so a redelivery of that record publishes the same result again and a repeated
-- command (another record, same id) publishes nothing and changes nothing.
CREATE TABLE number_commands (
    command_id   text PRIMARY KEY,
    source       text NOT NULL,
    outputs      jsonb NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);
