-- Provisioning's read model of inventory's numbers, fed by numbers.state.v1 (every record inventory
-- publishes; a tombstone marks the number removed) and the results of number commands. Inventory owns
-- the numbers; this copy serves the public API. number_id is the import that added the number.
-- no_route_at: routing discarded a message to it for want of a routing target (the warning shows
-- while no target resolves). Removed numbers are forgotten after BYOSMS_PROVISIONING_REMOVED_NUMBER_DAYS.
CREATE TABLE inventory_numbers (
    address               text PRIMARY KEY,
    number_id             text NOT NULL,
    organization_id       text NOT NULL,
    integration_id        text NOT NULL,
    number_type           text NOT NULL,
    country               text NOT NULL,
    twilio_sid            text NOT NULL,
    compliance            jsonb,
    routing_target        text,
    state                 text NOT NULL CHECK (state IN ('active', 'inactive', 'removed')),
    version               integer NOT NULL,
    imported_at           timestamptz,
    updated_at            timestamptz NOT NULL DEFAULT now(),
    removed_at            timestamptz,
    no_route_at           timestamptz,
    no_route_message_sid  text
);
CREATE UNIQUE INDEX inventory_numbers_by_id ON inventory_numbers (number_id);
CREATE INDEX inventory_numbers_by_organization ON inventory_numbers (organization_id, address);

-- Changes asked for through the API (or seen as commands' results): removal, routing target,
-- compliance blocks; running until inventory's result arrives.
CREATE TABLE number_actions (
    command_id       text PRIMARY KEY,
    organization_id  text NOT NULL,
    number_id        text NOT NULL,
    address          text NOT NULL,
    kind             text NOT NULL,
    state            text NOT NULL CHECK (state IN ('running', 'completed', 'failed')),
    code             text,
    message          jsonb,
    actor            text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX number_actions_by_number ON number_actions (number_id, created_at);
