-- Number imports (issue 6): one row per import command, and one claim per address.
--
-- The claim decides who may import an address. Its primary key makes the decision, not a
-- read-then-write: of two concurrent imports of one address exactly one INSERT wins; the other
-- sees the winner's row (ON CONFLICT DO UPDATE locks and returns it).
CREATE TABLE number_imports (
    import_id        text PRIMARY KEY,
    organization_id  text NOT NULL,
    integration_id   text NOT NULL,
    number_type      text NOT NULL,
    sender_id        text NOT NULL,
    command          jsonb NOT NULL,
    address          text,
    state            text NOT NULL DEFAULT 'in_progress'
                     CHECK (state IN ('in_progress', 'imported', 'rejected')),
    code             text,
    result           jsonb,
    deadline_at      timestamptz NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT number_imports_result_when_done CHECK ((state = 'in_progress') = (result IS NULL))
);

CREATE INDEX number_imports_due ON number_imports (deadline_at) WHERE state = 'in_progress';
CREATE INDEX number_imports_org ON number_imports (organization_id, created_at DESC);

CREATE TABLE number_claims (
    address          text PRIMARY KEY,
    organization_id  text NOT NULL,
    import_id        text NOT NULL,
    state            text NOT NULL CHECK (state IN ('in_progress', 'held')),
    -- An in-progress claim lapses at its import's deadline; a held one lasts until inventory removes it.
    expires_at       timestamptz,
    claimed_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT number_claims_expiry_when_in_progress CHECK ((state = 'in_progress') = (expires_at IS NOT NULL))
);

CREATE INDEX number_claims_import ON number_claims (import_id);
