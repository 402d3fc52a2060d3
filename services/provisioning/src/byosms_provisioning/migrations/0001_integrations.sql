-- Tenants' Twilio integrations. Secrets are stored only sealed (envelope encryption, see
-- byosms_common.crypto): kek_id + wrapped data key + nonce + ciphertext, never in clear.
CREATE TABLE integrations (
    id               text PRIMARY KEY,
    organization_id  text NOT NULL,
    name             text NOT NULL,
    notes            text NOT NULL DEFAULT '',
    region           text NOT NULL,
    account_sid      text,
    auth_token       jsonb,
    shared_key       jsonb,
    status           text NOT NULL CHECK (status IN ('active', 'inactive')),
    version          integer NOT NULL CHECK (version >= 1),
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    CONSTRAINT integrations_credentials_whole CHECK ((account_sid IS NULL) = (auth_token IS NULL))
);

CREATE INDEX integrations_org_created ON integrations (organization_id, created_at, id);
