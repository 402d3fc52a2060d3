"""byosms ingress: the HTTP endpoint Twilio posts inbound messages and status callbacks to."""
