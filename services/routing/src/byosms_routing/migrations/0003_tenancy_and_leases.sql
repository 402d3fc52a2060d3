-- Consent is kept per organization: one tenant's keyword never changes another tenant's opt-out.
ALTER TABLE opt_outs DROP CONSTRAINT opt_outs_pkey;
ALTER TABLE opt_outs ADD PRIMARY KEY (organization_id, sender, recipient);

-- Delivery reports carry the tenant the ingress attributed them to (the integration whose token
-- signed the callback); they are applied only to that tenant's messages. Reports for a MessageSid
-- routing does not know are deleted after BYOSMS_ROUTING_UNMATCHED_REPORT_HOURS.
ALTER TABLE delivery_reports ADD COLUMN organization_id text NOT NULL DEFAULT '';
ALTER TABLE delivery_reports ADD COLUMN integration_id text NOT NULL DEFAULT '';
ALTER TABLE delivery_reports DROP CONSTRAINT delivery_reports_pkey;
ALTER TABLE delivery_reports ADD PRIMARY KEY (organization_id, integration_id, report_id);
CREATE INDEX delivery_reports_by_recorded_at ON delivery_reports (recorded_at);

-- 'sending' is a lease: who is asking Twilio (lease_owner) since when (lease_started_at). A redelivery
-- finding a fresh lease waits; only an expired one (or none: rows from before) ends as outcome_unknown.
ALTER TABLE outbound_messages ADD COLUMN lease_owner text;
ALTER TABLE outbound_messages ADD COLUMN lease_started_at timestamptz;
