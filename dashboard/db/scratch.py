"""A throw-away PostgreSQL database on a given server (tests, benchmarks, soak runs)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator


@contextlib.contextmanager
def scratch_database(server_url: str, prefix: str) -> Iterator[str]:
    """Create a uniquely named database on ``server_url`` (``postgresql://user@host:port``), yield its URL,
    and drop it afterwards, also when the caller failed (``WITH (FORCE)`` ends lingering sessions)."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url + "/postgres", autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server_url}/{name}"
    finally:
        with psycopg.connect(server_url + "/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
