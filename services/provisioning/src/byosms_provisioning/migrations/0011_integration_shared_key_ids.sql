-- Webhook SharedKeys with their ids, and a rotation window (issue 5, twilio-facts section 11).
--
-- shared_key_id: the id Twilio names in X-Twilio-Webhooks-Signature-Settings (key=<id>) for the key in
-- shared_key. Existing rows keep NULL: a key stored without id goes on signing whatever id a webhook names.
-- previous_shared_key(_id): the key replaced by a rotation to a key with a different id, sealed like the
-- others (its own associated data field "shared_key_previous"), valid until the next credentials change
-- or an explicit retire. Additive and forward-only: every existing row is valid as it is.
ALTER TABLE integrations
    ADD COLUMN shared_key_id          text,
    ADD COLUMN previous_shared_key    jsonb,
    ADD COLUMN previous_shared_key_id text,
    ADD CONSTRAINT integrations_shared_key_id_needs_key CHECK (shared_key_id IS NULL OR shared_key IS NOT NULL),
    ADD CONSTRAINT integrations_previous_shared_key_whole
        CHECK ((previous_shared_key IS NULL) = (previous_shared_key_id IS NULL)),
    ADD CONSTRAINT integrations_previous_shared_key_distinct
        CHECK (previous_shared_key IS NULL OR (shared_key_id IS NOT NULL AND previous_shared_key_id <> shared_key_id));
