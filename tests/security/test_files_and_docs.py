"""Red-team item 14 (part): the SQLite database (password hashes, personal data), its WAL/SHM files and the
evidence files were readable by any local user; /docs, /redoc and the OpenAPI document needed no login.

A real dashboard on a real SQLite file: a real login and a real evidence upload, then the modes on disk."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from broker.evidence import DEVICE_HEADER, SHA256_HEADER, evidence_path
from dashboard.app import create_app
from dashboard.settings import DashboardSettings
from tests.dashboard.helpers import register
from tests.security.user_support import ADMIN_PASSWORD, api_login


def _settings(tmp_path: Path, **overrides: object) -> DashboardSettings:
    return DashboardSettings(
        database_url=f"sqlite:///{tmp_path / 'var' / 'dashboard.db'}", evidence_dir=tmp_path / "var" / "evidence",
        state_dir=tmp_path / "var" / "state", session_secret="test-secret-" + "x" * 32,
        admin_password=ADMIN_PASSWORD, **overrides,  # type: ignore[arg-type]
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_database_and_evidence_are_private_to_the_owner(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual default: files 0644 unless the code asks for less
    try:
        app = create_app(_settings(tmp_path))
        try:
            with TestClient(app) as client:
                assert api_login(client, "admin", ADMIN_PASSWORD).status_code == 200
                token = register(app.state.ctx.db)
                body = b"\xff\xd8\xff\xe0" + b"jpeg" * 100
                r = client.put(evidence_path("snap-mode-1"), content=body, headers={
                    "Authorization": f"Bearer {token}", "Content-Type": "image/jpeg",
                    SHA256_HEADER: hashlib.sha256(body).hexdigest(), DEVICE_HEADER: "edge-a"})
                assert r.status_code in (200, 201), r.text
                db_file = tmp_path / "var" / "dashboard.db"
                for path in (db_file, db_file.with_name("dashboard.db-wal"), db_file.with_name("dashboard.db-shm")):
                    assert path.exists(), path
                    assert _mode(path) & 0o077 == 0, f"{path.name} is {oct(_mode(path))}"
                evidence_root = tmp_path / "var" / "evidence"
                files = [p for p in evidence_root.rglob("*") if p.is_file()]
                assert files, "the upload stored no file"
                for path in [evidence_root, *evidence_root.rglob("*")]:
                    assert _mode(path) & 0o077 == 0, f"{path} is {oct(_mode(path))}"
        finally:
            app.state.ctx.db.dispose()
    finally:
        os.umask(old)


def test_an_existing_world_readable_database_is_tightened(tmp_path: Path) -> None:
    db_file = tmp_path / "var" / "dashboard.db"
    db_file.parent.mkdir(parents=True)
    db_file.touch(mode=0o644)
    os.chmod(db_file, 0o644)
    app = create_app(_settings(tmp_path))
    app.state.ctx.db.dispose()
    assert _mode(db_file) == 0o600


@pytest.mark.parametrize("path", ["/api/v1/openapi.json", "/docs", "/redoc"])
def test_api_docs_need_a_login_by_default(tmp_path: Path, path: str) -> None:
    app = create_app(_settings(tmp_path))
    try:
        anonymous = TestClient(app)
        r = anonymous.get(path, follow_redirects=False)
        assert r.status_code in (401, 303), r.status_code
        assert "openapi" not in r.text.lower() or r.status_code == 401
        if r.status_code == 303:
            assert r.headers["location"].startswith("/login")
        browser = TestClient(app)
        assert api_login(browser, "admin", ADMIN_PASSWORD).status_code == 200
        assert browser.get(path).status_code == 200
    finally:
        app.state.ctx.db.dispose()


def test_api_docs_can_be_switched_off(tmp_path: Path) -> None:
    app = create_app(_settings(tmp_path, api_docs="off"))
    try:
        browser = TestClient(app)
        assert api_login(browser, "admin", ADMIN_PASSWORD).status_code == 200
        for path in ("/api/v1/openapi.json", "/docs", "/redoc"):
            assert browser.get(path).status_code == 404
        assert browser.get("/api/v1/auth/me").status_code == 200
    finally:
        app.state.ctx.db.dispose()
