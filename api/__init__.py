"""FastAPI management API and stats API."""
