"""Helpers for tests that drive the pages over HTTP (TestClient form posts with the CSRF token)."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from broker.payloads import EventPhase, Rule
from dashboard.auth.users import create_user
from dashboard.db.engine import Database
from dashboard.db.models import Camera, Event, User, utcnow
from dashboard.enums import Role
from dashboard.ingest.apply import Ingestor
from tests.dashboard import factories as f
from tests.dashboard.helpers import register

PAGE_PASSWORD = "a-good-password-1"


def database(app: FastAPI) -> Database:
    db: Database = app.state.ctx.db
    return db


def page_client(app: FastAPI, username: str, role: Role) -> TestClient:
    """A browser-like client signed in through the login form (session cookie + CSRF cookie)."""
    with database(app).session() as s:
        if s.scalar(select(User).where(User.username == username)) is None:
            create_user(s, username, PAGE_PASSWORD, role, display_name=f"{username}-显示名")
    client = TestClient(app, follow_redirects=False)
    r = client.post("/login", data={"username": username, "password": PAGE_PASSWORD, "next": "/board"})
    assert r.status_code == 303, r.text
    return client


def csrf(client: TestClient) -> str:
    token = client.cookies.get("cw_csrf")
    assert token
    return token


def user_id(app: FastAPI, username: str) -> int:
    with database(app).session() as s:
        uid = s.scalar(select(User.id).where(User.username == username))
        assert uid is not None
        return uid


def ingest_event(app: FastAPI, event_id: str, *, started_ago: timedelta = timedelta(minutes=2),
                 received_ago: timedelta = timedelta(0), ended: bool = False,
                 rule: Rule = Rule.UNATTENDED_NO_SIGN) -> int:
    """One event through the real ingest, as the edge would send it; returns its row id."""
    db = database(app)
    with db.session() as s:
        known = s.scalar(select(Camera.id).limit(1)) is not None
    if not known:
        register(db)
    now = utcnow()
    started: datetime = now - started_ago
    phase = EventPhase.END if ended else EventPhase.START
    message = f.event(event_id, 1 if ended else 0, phase, rule=rule, started_at=started,
                      ended_at=now if ended else None)
    assert Ingestor(db).apply([f.raw(message, now - received_ago)]).counts["accepted"] == 1
    with db.session() as s:
        pk = s.scalar(select(Event.id).where(Event.event_id == event_id))
        assert pk is not None
        return pk
