"""byosms routing service: delivers inbound messages to queues or discards them, sends outbound messages."""
