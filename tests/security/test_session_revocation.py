"""Red-team item 7: signing out must end the session on the server, not only delete the browser's cookie.

Each test saves the cookies a real login set, signs out (or changes the password) and replays the saved
cookies from a fresh client, as an attacker holding a copied cookie would."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from dashboard.enums import Role
from tests.security.user_support import ADMIN_PASSWORD, add_user, api_login, web_login

pytestmark = pytest.mark.db


def _replay(app: FastAPI, cookies: dict[str, str]) -> TestClient:
    replay = TestClient(app)
    for name, value in cookies.items():
        replay.cookies.set(name, value)
    return replay


def _saved(client: TestClient) -> dict[str, str]:
    return {name: value for name, value in client.cookies.items()}


def test_api_logout_refuses_the_saved_cookie(app: FastAPI, client: TestClient) -> None:
    r = api_login(client, "admin", ADMIN_PASSWORD)
    assert r.status_code == 200, r.text
    saved = _saved(client)
    assert client.get("/api/v1/auth/me").status_code == 200
    assert client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": r.json()["csrf_token"]}).status_code == 204
    replay = _replay(app, saved)
    assert replay.get("/api/v1/auth/me").status_code == 401
    # Nor does it open unsafe requests with the CSRF token that came with it.
    r = replay.post("/api/v1/auth/tokens", json={"name": "stolen"}, headers={"X-CSRF-Token": saved["cw_csrf"]})
    assert r.status_code in (401, 403), r.text


def test_web_logout_refuses_the_saved_cookie(app: FastAPI, client: TestClient) -> None:
    r = web_login(client, "admin", ADMIN_PASSWORD)
    assert r.status_code == 303, r.text
    saved = _saved(client)
    assert client.get("/board", follow_redirects=False).status_code == 200
    r = client.post("/logout", data={"csrf_token": saved["cw_csrf"]}, follow_redirects=False)
    assert r.status_code == 303
    replay = _replay(app, saved)
    r = replay.get("/board", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    assert replay.get("/api/v1/auth/me").status_code == 401


def test_logout_ends_only_that_session(app: FastAPI) -> None:
    """Signing out on one browser leaves the user's other browsers signed in."""
    add_user(app, "clerk-boss", "boss-password-1", Role.SUPERVISOR)
    first, second = TestClient(app), TestClient(app)
    csrf = api_login(first, "clerk-boss", "boss-password-1").json()["csrf_token"]
    assert api_login(second, "clerk-boss", "boss-password-1").status_code == 200
    assert first.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert second.get("/api/v1/auth/me").status_code == 200


def test_password_change_refuses_every_saved_cookie(app: FastAPI, api: Any) -> None:
    user_id = add_user(app, "duty-1", "duty-password-1", Role.DUTY)
    browser = TestClient(app)
    assert api_login(browser, "duty-1", "duty-password-1").status_code == 200
    saved = _saved(browser)
    admin = api.client(Role.ADMIN)
    r = admin.patch(f"/api/v1/users/{user_id}", json={"password": "a-new-password-2"})
    assert r.status_code == 200, r.text
    assert _replay(app, saved).get("/api/v1/auth/me").status_code == 401
    assert browser.get("/api/v1/auth/me").status_code == 401


def test_deactivated_user_cookie_is_refused(app: FastAPI, api: Any) -> None:
    user_id = add_user(app, "viewer-1", "viewer-password-1", Role.VIEWER)
    browser = TestClient(app)
    assert api_login(browser, "viewer-1", "viewer-password-1").status_code == 200
    saved = _saved(browser)
    assert api.client(Role.ADMIN).patch(f"/api/v1/users/{user_id}", json={"active": False}).status_code == 200
    # Reactivating the account must not bring the old session back to life.
    assert api.client(Role.ADMIN).patch(f"/api/v1/users/{user_id}", json={"active": True}).status_code == 200
    assert _replay(app, saved).get("/api/v1/auth/me").status_code == 401
