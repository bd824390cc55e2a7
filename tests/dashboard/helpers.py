"""Database helpers for dashboard tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from dashboard.db.engine import Database
from dashboard.db.models import Base, Roster, Staff
from dashboard.registry import CameraSpec, register_device

# Tables whose content legitimately changes on a redelivery (they count and keep what was rejected).
BOOKKEEPING = {"ingest_counter", "dead_letter", "alembic_version"}


def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every record table, ordered by primary key."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with db.session() as s:
        for table in Base.metadata.sorted_tables:
            if table.name in BOOKKEEPING:
                continue
            rows = s.execute(select(table).order_by(*table.primary_key.columns)).all()
            out[table.name] = [tuple(r) for r in rows]
    return out


def register(db: Database, device: str = "edge-a", site: str = "hall1") -> str:
    with db.session() as s:
        return register_device(s, site, device, [CameraSpec("cam1", ("w01", "w02"))]).upload_token


def add_clerk(db: Database, window_code: str, start: datetime, end: datetime, employee_no: str = "E001",
              name: str = "张三") -> int:
    from dashboard.registry import ensure_window

    with db.session() as s:
        staff = s.scalar(select(Staff).where(Staff.employee_no == employee_no))
        if staff is None:
            staff = Staff(site_id="hall1", employee_no=employee_no, name=name)
            s.add(staff)
            s.flush()
        window = ensure_window(s, "hall1", window_code)
        s.add(Roster(staff_id=staff.id, window_id=window.id, start=start, end=end))
        return staff.id


class ApiUsers:
    """Users of each role for API tests: ``api.client(Role.DUTY)`` is a TestClient with that user's
    bearer token; ``api.browser(Role.DUTY)`` is signed in with a session cookie instead."""

    def __init__(self, app: Any) -> None:
        from fastapi.testclient import TestClient

        self.app = app
        self._tokens: dict[str, str] = {}
        self._client_cls = TestClient

    def _ensure(self, role: Any) -> tuple[str, str]:
        from dashboard.auth.users import create_user, issue_api_token
        from dashboard.db.models import User

        username = f"{role.value}-user"
        password = f"{role.value}-password-1"
        db = self.app.state.ctx.db
        with db.session() as s:
            user = s.scalar(select(User).where(User.username == username))
            if user is None:
                user = create_user(s, username, password, role)
            if username not in self._tokens:
                self._tokens[username] = issue_api_token(s, user, "tests").token
        return username, password

    def client(self, role: Any) -> Any:
        username, _ = self._ensure(role)
        c = self._client_cls(self.app)
        c.headers["Authorization"] = f"Bearer {self._tokens[username]}"
        return c

    def browser(self, role: Any) -> Any:
        username, password = self._ensure(role)
        c = self._client_cls(self.app)
        r = c.post("/api/v1/auth/login", json={"username": username, "password": password})
        assert r.status_code == 200, r.text
        c.csrf = r.json()["csrf_token"]  # type: ignore[attr-defined]
        return c
