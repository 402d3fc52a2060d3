-- Where Twilio delivers each number's inbound SMS, as last checked (webhook_checks.resolver), and the
-- audit of repairs made at Twilio on a tenant's request. No credentials, no message bodies.
-- status: ok | drifted (kind: the finding in effect; kinds: all of them) | unchecked (not yet checked
-- since this table exists). error_code: the last check could not ask Twilio (status kept as it was).
-- next_check_at: when the schedule checks it next (spread over the interval); a check in progress
-- pushes it forward as a lease, so replicas never check one number at the same time.
CREATE TABLE number_webhook_checks (
    address          text PRIMARY KEY,
    organization_id  text NOT NULL,
    number_id        text NOT NULL,
    integration_id   text NOT NULL,
    status           text NOT NULL CHECK (status IN ('ok', 'drifted', 'unchecked')),
    kind             text,
    kinds            text[] NOT NULL DEFAULT '{}',
    details          jsonb NOT NULL DEFAULT '{}',
    trigger          text NOT NULL,
    checked_at       timestamptz,
    changed_at       timestamptz NOT NULL DEFAULT now(),
    error_code       text,
    error_at         timestamptz,
    next_check_at    timestamptz NOT NULL
);
CREATE INDEX number_webhook_checks_due ON number_webhook_checks (next_check_at);

CREATE TABLE number_webhook_repairs (
    id               bigserial PRIMARY KEY,
    organization_id  text NOT NULL,
    number_id        text NOT NULL,
    address          text NOT NULL,
    actor            text NOT NULL,
    at               timestamptz NOT NULL DEFAULT now(),
    target           text NOT NULL,
    target_sid       text NOT NULL,
    parameter        text NOT NULL,
    old_value        text,
    new_value        text NOT NULL,
    outcome          text NOT NULL CHECK (outcome IN ('applied', 'failed')),
    error_code       text
);
CREATE INDEX number_webhook_repairs_by_number ON number_webhook_repairs (organization_id, number_id, at);
