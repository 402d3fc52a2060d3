-- An integration's numbers with their last webhook check (GET /api/v2/integrations/{id}/number-webhooks)
-- are read by integration; additive.
CREATE INDEX inventory_numbers_by_integration ON inventory_numbers (organization_id, integration_id);
