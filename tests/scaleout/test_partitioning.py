"""deploy/postgres/event-partitioning.sql on a real PostgreSQL: the dashboard's migrated schema with data
in it becomes a monthly-partitioned ``event`` table with nothing lost and every reference kept."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from dashboard.db.migrate import upgrade

SQL = Path(__file__).resolve().parents[2] / "deploy/postgres/event-partitioning.sql"
SERVER = os.environ.get("CW_TEST_POSTGRES_SERVER", "postgresql://postgres@127.0.0.1:5432")

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


@pytest.fixture
def database() -> Iterator[str]:
    name = f"cw_partition_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(f"{SERVER}/postgres", autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"no PostgreSQL at {SERVER} (set CW_TEST_POSTGRES_SERVER): {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{SERVER}/{name}"
    finally:
        with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


EVENT_COLUMNS = ("event_id, site_id, device_id, camera_id, window_id, rule, severity, phase, seq, started_at, "
                 "sent_at, confidence, evidence, details, received_at, updated_at")


def insert_event(conn: psycopg.Connection, event_id: str, started_at: str) -> int:
    row = conn.execute(
        f"INSERT INTO event ({EVENT_COLUMNS}) VALUES (%s, 'hall1', 'edge-a', 1, 1, 'eating', 'low', 'start', 0, "
        "%s, %s, 0.9, '[]', '{}', now(), now()) RETURNING id",
        (event_id, started_at, started_at),
    ).fetchone()
    assert row is not None
    return int(row[0])


def seed(conn: psycopg.Connection) -> dict[str, int]:
    conn.execute("INSERT INTO site (id, name, timezone, created_at) VALUES ('hall1', 'Hall 1', 'Asia/Shanghai', now())")
    conn.execute("INSERT INTO device (id, site_id, status, active, created_at) "
                 "VALUES ('edge-a', 'hall1', 'online', true, now())")
    conn.execute("INSERT INTO camera (id, device_id, code) VALUES (1, 'edge-a', 'cam1')")
    conn.execute('INSERT INTO "window" (id, site_id, code, camera_id, active) VALUES (1, \'hall1\', \'w01\', 1, true)')
    conn.execute("INSERT INTO staff (id, site_id, employee_no, name, active, created_at) "
                 "VALUES (1, 'hall1', 'E001', '张三', true, now())")
    ids = {
        "jan": insert_event(conn, "evt-jan-0001", "2026-01-31T23:59:59+00:00"),
        "feb": insert_event(conn, "evt-feb-0001", "2026-02-01T00:00:00+00:00"),
        "feb2": insert_event(conn, "evt-feb-0002", "2026-02-14T09:30:00+08:00"),
    }
    for pk in ids.values():
        conn.execute("INSERT INTO event_attribution (event_pk, staff_id) VALUES (%s, 1)", (pk,))
    return ids


def partition_of(conn: psycopg.Connection, event_id: str) -> str:
    row = conn.execute("SELECT tableoid::regclass::text FROM event WHERE event_id = %s", (event_id,)).fetchone()
    assert row is not None, event_id
    return str(row[0])


def test_event_table_becomes_monthly_partitions_with_nothing_lost(database: str) -> None:
    upgrade(database)
    with psycopg.connect(database) as conn:
        ids = seed(conn)
        conn.commit()
        before = conn.execute("SELECT id, event_id, started_at FROM event ORDER BY id").fetchall()

        conn.execute(SQL.read_text())
        conn.commit()

        # Same rows, same ids, each in the partition of its UTC month.
        assert conn.execute("SELECT id, event_id, started_at FROM event ORDER BY id").fetchall() == before
        assert conn.execute("SELECT partstrat FROM pg_partitioned_table WHERE partrelid = 'event'::regclass"
                            ).fetchone() == ("r",)
        assert partition_of(conn, "evt-jan-0001") == "event_2026_01"
        assert partition_of(conn, "evt-feb-0001") == "event_2026_02"
        assert partition_of(conn, "evt-feb-0002") == "event_2026_02"
        # References kept, now on (event_pk, event_started_at).
        assert conn.execute("SELECT count(*) FROM event_attribution a JOIN event e "
                            "ON (e.id, e.started_at) = (a.event_pk, a.event_started_at)").fetchone() == (3,)

        # The id sequence carries on; the idempotent upsert works on (event_id, started_at).
        new_pk = insert_event(conn, "evt-now-0001", "2026-02-20T10:00:00+00:00")
        assert new_pk > max(ids.values())
        conn.execute(
            f"INSERT INTO event ({EVENT_COLUMNS}) VALUES ('evt-now-0001', 'hall1', 'edge-a', 1, 1, 'eating', 'low', "
            "'end', 2, '2026-02-20T10:00:00+00:00', now(), 0.9, '[]', '{}', now(), now()) "
            "ON CONFLICT (event_id, started_at) DO UPDATE SET seq = excluded.seq, phase = excluded.phase"
        )
        assert conn.execute("SELECT count(*), max(seq) FROM event WHERE event_id = 'evt-now-0001'").fetchone() == (1, 2)

        # A month without a partition yet (an edge clock far off) lands in the default partition, not an error.
        insert_event(conn, "evt-far-0001", "2031-07-01T00:00:00+00:00")
        assert partition_of(conn, "evt-far-0001") == "event_default"

        # The monthly job is idempotent; a query for one month reads one partition.
        assert conn.execute("SELECT cw_ensure_event_partitions(now(), 3)").fetchone() == (0,)
        plan = "\n".join(r[0] for r in conn.execute(
            "EXPLAIN SELECT * FROM event WHERE started_at >= '2026-02-01Z' AND started_at < '2026-03-01Z'"))
        assert "event_2026_02" in plan and "event_2026_01" not in plan

        # Deleting an event still cascades to what references it; a dangling reference is refused.
        conn.execute("DELETE FROM event WHERE id = %s", (ids["jan"],))
        assert conn.execute("SELECT count(*) FROM event_attribution WHERE event_pk = %s", (ids["jan"],)
                            ).fetchone() == (0,)
        conn.commit()
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute("INSERT INTO event_attribution (event_pk, event_started_at, staff_id) "
                         "VALUES (%s, '2026-02-01Z', 1)", (ids["jan"],))
