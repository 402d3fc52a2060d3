-- The Twilio Messaging Service (MG...) a number belonged to when it was imported (NULL: none, or
-- imported before this was recorded). Routing enforces a customer's opt-out across the service.
ALTER TABLE numbers ADD COLUMN messaging_service_sid text;
