"""The regions an integration can be created in: their routes and OpenAPI part."""
