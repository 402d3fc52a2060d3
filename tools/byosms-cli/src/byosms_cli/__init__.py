"""byosms command line: development tokens and an admin API client."""
