-- Webhook signature failures reported by the ingresses, shown on the integration until a later
-- accepted webhook is reported or the credentials are set again. Gone with its integration.
CREATE TABLE integration_webhook_health (
    integration_id   text PRIMARY KEY REFERENCES integrations (id) ON DELETE CASCADE,
    organization_id  text NOT NULL,
    failures         bigint NOT NULL CHECK (failures >= 1),
    since            timestamptz NOT NULL,
    last_at          timestamptz NOT NULL,
    last_reason      text NOT NULL,
    region           text NOT NULL
);
