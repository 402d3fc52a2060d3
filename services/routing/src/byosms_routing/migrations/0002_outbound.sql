-- Outbound messages, recorded before Twilio is asked, so a redelivered SendMessage never texts twice.
-- state: sending (Twilio asked, answer not recorded yet), accepted (Twilio has it: message_sid set),
-- failed (refused by our checks or by Twilio, or outcome unknown). twilio_status follows the delivery
-- reports (queued, sent, delivered, ...); bodies are not stored.
CREATE TABLE outbound_messages (
    organization_id  text NOT NULL,
    message_id       text NOT NULL,
    command_id       text NOT NULL,
    sender           text NOT NULL,
    recipient        text NOT NULL,
    integration_id   text,
    state            text NOT NULL CHECK (state IN ('sending', 'accepted', 'failed')),
    message_sid      text UNIQUE,
    twilio_status    text,
    code             text,
    params           jsonb NOT NULL DEFAULT '{}',
    error_code       integer,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, message_id),
    CHECK (state <> 'accepted' OR message_sid IS NOT NULL)
);

-- Every delivery report received (also for MessageSids routing does not know, or not yet: a report
-- may arrive before the answer to the create is recorded; it is applied then).
CREATE TABLE delivery_reports (
    report_id    text PRIMARY KEY,
    message_sid  text NOT NULL,
    status       text NOT NULL,
    error_code   integer,
    received_at  timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX delivery_reports_by_sid ON delivery_reports (message_sid);

-- Who opted out of messages from which sender (STOP ... / START ..., or Twilio's 21610). The latest
-- signal wins: changed_at is when the customer's keyword arrived (or when Twilio refused).
CREATE TABLE opt_outs (
    sender           text NOT NULL,
    recipient        text NOT NULL,
    organization_id  text NOT NULL,
    opted_out        boolean NOT NULL,
    keyword          text NOT NULL,
    source_id        text NOT NULL,
    changed_at       timestamptz NOT NULL,
    PRIMARY KEY (sender, recipient)
);
