-- The routing target (queue or inbound flow id) a routed message was sent to, so a redelivery of the
-- deciding record publishes the recorded target, not one looked up again. NULL for discarded messages
-- and rows from before.
ALTER TABLE inbound_decisions ADD COLUMN target text;
