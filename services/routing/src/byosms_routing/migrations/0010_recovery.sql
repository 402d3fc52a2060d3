-- Recovery of missed messages (issue 14, docs/recovery-and-rotation.md): per active number, when its
-- recovery job runs next and which routing process holds it now (claimed_until), so replicas share the
-- numbers and a tenant's thousands of numbers are spread over the interval. last_*: what the last run
-- compared and recovered (counts only, never message content).
CREATE TABLE recovery_checks (
    address             text PRIMARY KEY,
    organization_id     text NOT NULL,
    integration_id      text NOT NULL,
    next_at             timestamptz NOT NULL DEFAULT now(),
    claimed_until       timestamptz,
    last_checked_at     timestamptz,
    last_inbound        integer NOT NULL DEFAULT 0,
    last_reports        integer NOT NULL DEFAULT 0,
    failures            integer NOT NULL DEFAULT 0
);
CREATE INDEX recovery_checks_due ON recovery_checks (next_at);

-- Accepted outbound messages by sender and age: the recovery job's look for final statuses never reported.
CREATE INDEX outbound_messages_accepted_by_sender ON outbound_messages (sender, created_at)
    WHERE state = 'accepted';
