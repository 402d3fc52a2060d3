-- Numbers in the inventory and what inventory knows of their integrations.
-- A removed number keeps its row (state 'removed') until it is imported again, so a change that
-- was committed but not yet published can be published again after a crash (last_event_id).
CREATE TABLE numbers (
    address          text PRIMARY KEY,
    organization_id  text NOT NULL,
    integration_id   text NOT NULL,
    number_type      text NOT NULL,
    country          text NOT NULL,
    twilio_sid       text NOT NULL,
    compliance       jsonb,
    state            text NOT NULL CHECK (state IN ('active', 'inactive', 'removed')),
    previous_state   text CHECK (previous_state IN ('active', 'inactive', 'removed')),
    version          integer NOT NULL DEFAULT 1,
    last_event_id    text NOT NULL,
    imported_at      timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX numbers_by_integration ON numbers (integration_id);
CREATE INDEX numbers_by_organization ON numbers (organization_id);
CREATE INDEX numbers_by_last_event ON numbers (last_event_id);

-- The last lifecycle event seen per integration, so a number imported while its integration is
-- inactive starts inactive, and one imported after a delete is refused.
CREATE TABLE integration_status (
    integration_id   text PRIMARY KEY,
    organization_id  text NOT NULL,
    status           text NOT NULL CHECK (status IN ('active', 'inactive', 'deleted')),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
