"""Migration 0004 (devsec) keeps every existing evidence row and dead letter, and widens the evidence key."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text

from dashboard.db.engine import normalise_url
from dashboard.db.migrate import alembic_config, upgrade

pytestmark = pytest.mark.db


def test_upgrade_keeps_rows_and_keys_evidence_by_device(db_url: str) -> None:
    upgrade(db_url, "0002")
    engine = create_engine(normalise_url(db_url))
    with engine.begin() as c:
        c.execute(text("INSERT INTO site (id, name, timezone, created_at) VALUES ('hall1', 'H', 'UTC', '2026-01-01')"))
        for dev in ("edge-a", "edge-b"):
            c.execute(text("INSERT INTO device (id, site_id, status, active, created_at) "
                           "VALUES (:d, 'hall1', 'unknown', true, '2026-01-01')"), {"d": dev})
        c.execute(text("INSERT INTO evidence (id, device_id, content_type, sha256, size, storage_key, stored_at) "
                       "VALUES ('snap-1', 'edge-a', 'image/jpeg', :h, 3, 'edge-a/snap-1.jpg', '2026-01-01')"),
                  {"h": "0" * 64})
        c.execute(text("INSERT INTO dead_letter (received_at, topic, code, reason, payload) "
                       "VALUES ('2026-01-01', 't', 'malformed_json', 'r', :p)"), {"p": b"x" * 100})
    upgrade(db_url)
    inspector = inspect(engine)
    assert inspector.get_pk_constraint("evidence")["constrained_columns"] == ["device_id", "id"]
    with engine.begin() as c:
        assert c.execute(text("SELECT id, device_id FROM evidence")).all() == [("snap-1", "edge-a")]
        # The same id for another device is now its own row.
        c.execute(text("INSERT INTO evidence (id, device_id, content_type, sha256, size, storage_key, stored_at) "
                       "VALUES ('snap-1', 'edge-b', 'image/jpeg', :h, 3, 'edge-b/snap-1.jpg', '2026-01-01')"),
                  {"h": "1" * 64})
        assert c.execute(text("SELECT payload_size, payload_sha256 FROM dead_letter")).all() == [(None, None)]
        c.execute(text("DELETE FROM evidence WHERE device_id = 'edge-b'"))
    command.downgrade(alembic_config(db_url), "0002")
    assert inspect(create_engine(normalise_url(db_url))).get_pk_constraint("evidence")["constrained_columns"] == ["id"]
    engine.dispose()
