"""Migration 0005: leave_record.rejected_by / rejected_at, and the rejections recorded before it moved there
(the old web page kept the rejecter in approved_by)."""

from __future__ import annotations

import pytest
from alembic import command
from sqlalchemy import create_engine, text

from dashboard.db.engine import normalise_url
from dashboard.db.migrate import alembic_config, upgrade

pytestmark = pytest.mark.db


def test_old_rejections_move_from_approved_by_to_rejected_by(db_url: str) -> None:
    upgrade(db_url, "0002")
    engine = create_engine(normalise_url(db_url))
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO site (id, name, timezone, created_at) "
                              "VALUES ('hall1', 'Hall', 'Asia/Shanghai', '2026-11-01 00:00:00')"))
            conn.execute(text("INSERT INTO staff (id, site_id, employee_no, name, active, created_at) "
                              "VALUES (1, 'hall1', 'E1', 'x', true, '2026-11-01 00:00:00')"))
            conn.execute(text("INSERT INTO app_user (id, username, password_hash, role, active, session_version, "
                              "created_at) VALUES (7, 'chief', 'x', 'supervisor', true, 0, '2026-11-01 00:00:00')"))
            for leave_id, status in ((1, "rejected"), (2, "approved")):
                conn.execute(text(
                    "INSERT INTO leave_record (id, staff_id, type, start, \"end\", status, approval_level, "
                    "approved_by, approved_at, created_at, updated_at) VALUES (:id, 1, 'sick', '2026-11-02 01:00:00', "
                    "'2026-11-02 05:00:00', :status, 'hall_head', 7, '2026-11-01 02:00:00', '2026-11-01 00:00:00', "
                    "'2026-11-01 00:00:00')"), {"id": leave_id, "status": status})
        upgrade(db_url)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT id, approved_by, rejected_by, rejected_at IS NOT NULL FROM leave_record "
                                     "ORDER BY id")).all()
        assert [tuple(r) for r in rows] == [(1, None, 7, True), (2, 7, None, False)]
        command.downgrade(alembic_config(db_url), "0002")  # and back: the columns go again
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM leave_record")).scalar() == 2
    finally:
        engine.dispose()
