-- Who changed what and when; before/after never contain secrets (only whether they are set).
CREATE TABLE integration_audit (
    id               bigserial PRIMARY KEY,
    organization_id  text NOT NULL,
    integration_id   text NOT NULL,
    action           text NOT NULL,
    actor            text NOT NULL,
    at               timestamptz NOT NULL,
    before           jsonb,
    after            jsonb
);

CREATE INDEX integration_audit_integration ON integration_audit (organization_id, integration_id, id);
