"""Fault tests use the dashboard's real database fixtures (SQLite, or PostgreSQL with CW_TEST_DATABASE)."""

from tests.dashboard.conftest import (  # noqa: F401  (pytest fixtures, re-exported)
    app,
    db,
    db_url,
    postgres_database,
    postgres_server,
    settings,
)
from tests.security.conftest import ingest, rig  # noqa: F401  (the broker rig of tests/security)
