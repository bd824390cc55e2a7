"""Migrations match the models; the command line registers devices and users."""

from __future__ import annotations

import json

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select

from counterwatch.cli import main
from dashboard.auth.passwords import verify_password
from dashboard.auth.tokens import token_hash
from dashboard.db.engine import Database
from dashboard.db.models import Base, Camera, Device, Roster, Staff, User, Window
from dashboard.seed import seed_demo

pytestmark = pytest.mark.db


def test_migrations_produce_exactly_the_models(db: Database) -> None:
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_add_device_and_create_user_commands(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dashboard", "--database-url", db_url, "add-device", "--site", "hall1", "--device", "edge-a",
                 "--camera", "cam1:w01,w02"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["device"] == "edge-a" and out["upload_token"].startswith("cwd_")
    assert main(["dashboard", "--database-url", db_url, "create-user", "li", "--role", "supervisor",
                 "--password", "a-long-password"]) == 0
    assert main(["dashboard", "--database-url", db_url, "create-user", "li", "--role", "duty"]) == 2
    db = Database(db_url)
    try:
        with db.session() as s:
            device = s.get(Device, "edge-a")
            assert device is not None and device.upload_token_hash == token_hash(out["upload_token"])
            camera = s.scalars(select(Camera)).one()
            assert sorted(w.code for w in s.scalars(select(Window).where(Window.camera_id == camera.id))) == \
                ["w01", "w02"]
            user = s.scalars(select(User).where(User.username == "li")).one()
            assert user.role.value == "supervisor" and verify_password("a-long-password", user.password_hash)
    finally:
        db.dispose()


def test_seed_is_idempotent(db: Database) -> None:
    first = seed_demo(db, days=3)
    second = seed_demo(db, days=3)
    assert first.windows == 4 and first.staff == 5 and first.rosters_added > 0
    assert second.rosters_added == 0
    with db.session() as s:
        assert len(list(s.scalars(select(Staff)))) == 5
        rosters = list(s.scalars(select(Roster)))
        assert len(rosters) == first.rosters_added
        assert all(r.start.tzinfo is not None and r.end > r.start for r in rosters)
