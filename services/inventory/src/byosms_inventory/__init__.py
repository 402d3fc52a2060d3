"""byosms inventory service: owns the state of every imported number."""
