"""Red-team item 11: login CSRF. A hostile page must not be able to sign the victim's browser in (as the
attacker) with a cross-origin form POST: the login checks Origin, then Referer."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from dashboard.app import create_app
from dashboard.settings import DashboardSettings
from tests.security.user_support import ADMIN_PASSWORD, api_login, web_login

pytestmark = pytest.mark.db

EVIL = "https://evil.example"


@pytest.mark.parametrize("headers", [{"Origin": EVIL}, {"Referer": EVIL + "/phish.html"}, {"Origin": "null"},
                                     {"Origin": "http://testserver.evil.example"}])
def test_cross_site_login_is_refused(client: TestClient, headers: dict[str, str]) -> None:
    r = web_login(client, "admin", ADMIN_PASSWORD, **headers)
    assert r.status_code == 403
    assert "cw_session" not in r.headers.get("set-cookie", "")
    r = api_login(client, "admin", ADMIN_PASSWORD, **headers)
    assert r.status_code == 403, r.text
    assert "cw_session" not in client.cookies
    assert client.get("/api/v1/auth/me").status_code == 401


def test_same_site_and_script_logins_still_work(app: FastAPI) -> None:
    for headers in ({"Origin": "http://testserver"}, {"Referer": "http://testserver/login?next=/board"}, {}):
        browser = TestClient(app)
        assert web_login(browser, "admin", ADMIN_PASSWORD, **headers).status_code == 303
        assert browser.get("/api/v1/auth/me").status_code == 200
        assert api_login(TestClient(app), "admin", ADMIN_PASSWORD, **headers).status_code == 200


def test_a_proxys_public_origin_can_be_allowed(tmp_path: Path, db_url: str) -> None:
    settings = DashboardSettings(
        database_url=db_url, evidence_dir=tmp_path / "evidence", state_dir=tmp_path / "state",
        session_secret="test-secret-" + "x" * 32, admin_password=ADMIN_PASSWORD,  # type: ignore[arg-type]
        allowed_origins=["https://dashboard.city.example"],
    )
    application = create_app(settings)
    try:
        browser = TestClient(application)
        assert api_login(browser, "admin", ADMIN_PASSWORD, Origin="https://dashboard.city.example").status_code == 200
        assert api_login(browser, "admin", ADMIN_PASSWORD, Origin=EVIL).status_code == 403
    finally:
        application.state.ctx.db.dispose()
