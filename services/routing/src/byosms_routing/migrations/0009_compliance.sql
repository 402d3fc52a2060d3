-- Compliance keywords (see docs/compliance.md). keyword: which one an inbound message was (help,
-- opt_out, opt_in; NULL: none), so a redelivery publishes the recorded one on the routed event.
ALTER TABLE inbound_decisions ADD COLUMN keyword text;
-- The replies routing sends to a short code's keywords, recorded with the inbound message that asked
-- for them (one per inbound MessageSid: message_id is derived from it). A send whose id, sender,
-- recipient and content digest match is a compliance reply: it goes out even to a customer who just
-- opted out (the STOP confirmation). opt_outs.sender is a scope: a sender as Twilio writes it, or a
-- Messaging Service SID (MG...), whose opt-out covers all the service's senders.
CREATE TABLE compliance_replies (
    organization_id  text NOT NULL,
    message_id       text NOT NULL,
    inbound_sid      text NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('help', 'opt_out', 'opt_in')),
    sender           text NOT NULL,
    recipient        text NOT NULL,
    content_digest   text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, message_id)
);
-- The Messaging Service each sender's inbound messages last came through (the webhook's
-- MessagingServiceSid; NULL: none), per organization: a number put in a service after its import is
-- still covered by the service's opt-outs. sender as Twilio writes it.
CREATE TABLE sender_services (
    organization_id        text NOT NULL,
    sender                 text NOT NULL,
    messaging_service_sid  text,
    seen_at                timestamptz NOT NULL,
    PRIMARY KEY (organization_id, sender)
);
