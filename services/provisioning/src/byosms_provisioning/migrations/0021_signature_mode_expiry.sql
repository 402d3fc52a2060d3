-- Observe mode ends by itself (docs/recovery-and-rotation.md): signature_mode_expires_at is when an
-- integration in signature_mode 'observe' returns to 'enforce'. The ingress honours observe only before
-- it (observe without it counts as enforce), and provisioning's expiry job sets the mode back and
-- publishes the change. Existing observe rows get the default 24 hours from now. Additive.
ALTER TABLE integrations ADD COLUMN signature_mode_expires_at timestamptz;
UPDATE integrations SET signature_mode_expires_at = now() + interval '24 hours'
    WHERE signature_mode = 'observe' AND signature_mode_expires_at IS NULL;
CREATE INDEX integrations_signature_mode_expiry ON integrations (signature_mode_expires_at)
    WHERE signature_mode = 'observe';
