-- Auth Token rotation without loss and the signature mode (issue 14, docs/recovery-and-rotation.md).
--
-- next_auth_token: the tenant's next Auth Token (Twilio's secondary token, about to be promoted), sealed
-- like auth_token (its own associated-data field "auth_token_next"). While it is set and
-- next_auth_token_expires_at has not passed, the ingress accepts webhooks signed with either token. The
-- window closes when the tenant confirms the new token (it becomes auth_token) or when it expires (it is
-- dropped). signature_mode: enforce (a bad signature is refused) or observe (counted, reported and
-- accepted; for the first hours behind a new proxy). Additive: every existing row is valid as it is.
ALTER TABLE integrations
    ADD COLUMN next_auth_token            jsonb,
    ADD COLUMN next_auth_token_started_at timestamptz,
    ADD COLUMN next_auth_token_expires_at timestamptz,
    ADD COLUMN signature_mode             text NOT NULL DEFAULT 'enforce',
    ADD CONSTRAINT integrations_signature_mode CHECK (signature_mode IN ('enforce', 'observe')),
    ADD CONSTRAINT integrations_next_auth_token_whole
        CHECK ((next_auth_token IS NULL) = (next_auth_token_expires_at IS NULL)
               AND (next_auth_token IS NULL) = (next_auth_token_started_at IS NULL));
CREATE INDEX integrations_rotation_expiry ON integrations (next_auth_token_expires_at)
    WHERE next_auth_token IS NOT NULL;
