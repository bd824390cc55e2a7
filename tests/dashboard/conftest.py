"""Dashboard fixtures: a real database (SQLite by default, PostgreSQL with CW_TEST_DATABASE=postgresql).

On PostgreSQL a unique database is created per test session (on 127.0.0.1:5432 when a server answers
there, else on a server started for the session) and dropped afterwards; each test gets an empty
``public`` schema. If no PostgreSQL can be had the run FAILS: a skipped PostgreSQL run must not pass CI."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from dashboard.app import create_app
from dashboard.db.engine import Database
from dashboard.db.migrate import upgrade
from dashboard.db.scratch import scratch_database
from dashboard.settings import DashboardSettings
from tests.dashboard.helpers import ApiUsers
from tests.support.postgres import PgCluster, postgres_bindir

WANT_POSTGRES = os.environ.get("CW_TEST_DATABASE", "sqlite").lower() in ("postgresql", "postgres")


def _answers(dsn: str) -> bool:
    try:
        with psycopg.connect(dsn, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str | None]:
    """Base DSN of a PostgreSQL server (no database), or None on the SQLite run."""
    if not WANT_POSTGRES:
        yield None
        return
    default = "postgresql://postgres@127.0.0.1:5432"
    if _answers(default + "/postgres"):
        yield default
        return
    workdir = Path(tempfile.mkdtemp(prefix="cw-pg-"))
    if postgres_bindir() is None:
        pytest.fail("CW_TEST_DATABASE=postgresql but no server on 127.0.0.1:5432 and no initdb installed")
    try:
        cluster = PgCluster(workdir).init().start()
    except (subprocess.CalledProcessError, OSError, TimeoutError) as exc:
        pytest.fail(f"CW_TEST_DATABASE=postgresql but PostgreSQL could not be started: {exc}")
    try:
        yield cluster.dsn
    finally:
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_database(postgres_server: str | None) -> Iterator[str | None]:
    """A database of this test session's own, dropped at the end."""
    if postgres_server is None:
        yield None
        return
    with scratch_database(postgres_server, "cw_test") as url:
        yield url


@pytest.fixture
def db_url(tmp_path: Path, postgres_database: str | None) -> str:
    """An empty database for one test: a SQLite file, or the session's PostgreSQL database, emptied."""
    if postgres_database is None:
        return f"sqlite:///{tmp_path / 'dashboard.db'}"
    with psycopg.connect(postgres_database, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
    return postgres_database


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    """The dashboard database, migrated to head."""
    upgrade(db_url)
    database = Database(db_url)
    try:
        yield database
    finally:
        database.dispose()


# -- the application ----------------------------------------------------------------------------------
ADMIN_PASSWORD = "admin-password-1"


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> DashboardSettings:
    return DashboardSettings(
        database_url=db_url, evidence_dir=tmp_path / "evidence", state_dir=tmp_path / "state",
        session_secret="test-secret-" + "x" * 32, admin_password=ADMIN_PASSWORD,  # type: ignore[arg-type]
    )


@pytest.fixture
def app(settings: DashboardSettings) -> Iterator[FastAPI]:
    application = create_app(settings)
    yield application
    application.state.ctx.db.dispose()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture
def api(app: FastAPI) -> ApiUsers:
    return ApiUsers(app)
