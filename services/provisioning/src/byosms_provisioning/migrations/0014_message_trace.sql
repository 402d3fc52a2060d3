-- What happened to each message, step by step, from routing's events on sms.message-events.v1: an
-- inbound message's acceptance (region, time, spool) and routing decision (target or reason); an
-- outbound message's send checks and Twilio's answer and every delivery status change. No bodies.
-- message_id: the MessageSid of an inbound message, the platform's message id of an outbound one.
-- Deleted after BYOSMS_PROVISIONING_MESSAGE_TRACE_DAYS (30).
CREATE TABLE message_trace (
    event_id         text PRIMARY KEY,
    organization_id  text NOT NULL,
    message_id       text NOT NULL,
    message_sid      text,
    direction        text NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    step             text NOT NULL,
    at               timestamptz NOT NULL,
    details          jsonb NOT NULL,
    recorded_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX message_trace_by_id ON message_trace (organization_id, message_id);
CREATE INDEX message_trace_by_sid ON message_trace (organization_id, message_sid);
CREATE INDEX message_trace_by_time ON message_trace (at);
