-- When an integration's credentials were last set: failure reports about webhooks signed before then
-- (still on their way from an ingress) say nothing about the new credentials and are ignored.
CREATE TABLE integration_webhook_health_resets (
    integration_id  text PRIMARY KEY REFERENCES integrations (id) ON DELETE CASCADE,
    reset_at        timestamptz NOT NULL
);
