"""Fixtures and helpers for the user-facing security tests (login, sessions, exports, scoping).

The application fixtures are the dashboard tests' own (real database, real app); importing them here makes
them available to a test module that imports them from this one."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from dashboard.auth.users import create_user
from dashboard.db.models import User
from dashboard.enums import Role
from tests.dashboard.conftest import (
    ADMIN_PASSWORD,
    api,
    app,
    client,
    db,
    db_url,
    postgres_database,
    postgres_server,
    settings,
)

__all__ = [
    "ADMIN_PASSWORD",
    "add_user",
    "api",
    "api_login",
    "app",
    "client",
    "db",
    "db_url",
    "postgres_database",
    "postgres_server",
    "settings",
    "web_login",
]


def add_user(app: Any, username: str, password: str, role: Role) -> int:
    with app.state.ctx.db.session() as s:
        existing = s.scalar(select(User).where(User.username == username))
        if existing is not None:
            return existing.id
        return create_user(s, username, password, role).id


def api_login(client: TestClient, username: str, password: str, **headers: str) -> Any:
    return client.post("/api/v1/auth/login", json={"username": username, "password": password}, headers=headers)


def web_login(client: TestClient, username: str, password: str, **headers: str) -> Any:
    return client.post("/login", data={"username": username, "password": password, "next": "/board"},
                       headers=headers, follow_redirects=False)
