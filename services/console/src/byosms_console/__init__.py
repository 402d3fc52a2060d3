"""byosms admin console."""
