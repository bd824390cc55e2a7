"""The dashboard's database and application fixtures (SQLite, or PostgreSQL with CW_TEST_DATABASE=postgresql)."""

from tests.dashboard.conftest import (  # noqa: F401  (fixtures, used by name)
    api,
    app,
    client,
    db,
    db_url,
    postgres_database,
    postgres_server,
    settings,
)
