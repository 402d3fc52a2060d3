-- Routing targets (a queue or inbound flow id of the platform): an integration's default for its
-- numbers without one of their own, and an organization's default for its integrations without one.
-- Both travel in each integration's state record, so routing resolves number -> integration ->
-- organization from its cache.
ALTER TABLE integrations ADD COLUMN default_routing_target text;

CREATE TABLE organization_settings (
    organization_id         text PRIMARY KEY,
    default_routing_target  text,
    version                 integer NOT NULL DEFAULT 1,
    updated_at              timestamptz NOT NULL DEFAULT now()
);
