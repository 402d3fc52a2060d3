-- Ids of Kafka commands already handled, written in the same transaction as their effect, so a
-- redelivered command is not applied twice.
CREATE TABLE processed_commands (
    command_id    text PRIMARY KEY,
    command_type  text NOT NULL,
    handled_at    timestamptz NOT NULL DEFAULT now()
);
