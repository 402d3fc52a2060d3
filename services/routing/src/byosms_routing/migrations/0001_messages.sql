-- Inbound messages routing has decided on, so a redelivered event is not routed twice.
CREATE TABLE inbound_decisions (
    message_sid      text PRIMARY KEY,
    organization_id  text NOT NULL,
    integration_id   text,
    decision         text NOT NULL CHECK (decision IN ('routed', 'discarded')),
    reason           text NOT NULL,
    decided_at       timestamptz NOT NULL DEFAULT now()
);
