"""byosms provisioning: tenants' Twilio integrations and their number imports."""
