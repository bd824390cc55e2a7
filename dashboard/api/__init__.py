"""The versioned JSON API (/api/v1), documented by FastAPI's OpenAPI."""
