"""The HTTP API (FastAPI): app factory, schemas, routes and the error-to-problem table."""
