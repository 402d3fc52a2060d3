-- An integration's webhook summary (GET /api/v2/integrations/{id}/number-webhooks) reads its numbers by
-- integration, and its recovered inbound messages from the trace (rare: a small partial index). Additive.
CREATE INDEX inventory_numbers_by_integration ON inventory_numbers (organization_id, integration_id);
CREATE INDEX message_trace_recovered_inbound ON message_trace (organization_id, at)
    WHERE direction = 'inbound' AND details->>'recovered' = 'true';
