"""Red-team items 8 and 9: the login limiter must slow guessing without being a lock-out weapon, and a flood
of logins must not be able to pin the CPU and memory on Argon2 or grow the limiter and the audit log.

Real dashboard (TestClient on the real app), real database, real Argon2 hashes; client addresses are set per
TestClient, as the ASGI server would report them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from dashboard.app import create_app
from dashboard.auth.ratelimit import Attempt, LimiterPolicy, LoginLimiter
from dashboard.db.models import AuditLog
from dashboard.enums import Role
from dashboard.settings import DashboardSettings
from tests.security.user_support import ADMIN_PASSWORD, add_user, api_login, web_login

pytestmark = pytest.mark.db

VICTIM, VICTIM_PASSWORD = "rt_viewer", "viewer-password-1"


def _from(app: FastAPI, ip: str) -> TestClient:
    return TestClient(app, client=(ip, 40000))


def _audit(app: FastAPI) -> list[AuditLog]:
    with app.state.ctx.db.session() as s:
        return list(s.scalars(select(AuditLog).where(AuditLog.action.like("login%")).order_by(AuditLog.id)))


def test_failures_under_another_case_do_not_lock_the_user_out(app: FastAPI) -> None:
    """The red team's replay: five failures as RT_VIEWER (no such user) locked the real rt_viewer out."""
    add_user(app, VICTIM, VICTIM_PASSWORD, Role.VIEWER)
    attacker = _from(app, "10.0.0.7")
    for _ in range(5):
        assert api_login(attacker, "RT_VIEWER", "guess-guess").status_code == 401
    victim = _from(app, "10.0.0.7")  # the same address (the hall's NAT), a browser that never signed in
    r = api_login(victim, VICTIM, VICTIM_PASSWORD)
    assert r.status_code == 200, r.text


def test_attacker_on_the_victims_address_cannot_lock_out_the_admin(app: FastAPI) -> None:
    """Many failures on the exact username from the shared address: the admin's own browser still gets in,
    while the attacker's source backs off (his next try is refused even with the right password)."""
    admin_browser = _from(app, "10.0.0.8")
    assert api_login(admin_browser, "admin", ADMIN_PASSWORD).status_code == 200
    assert admin_browser.post("/api/v1/auth/logout",
                              headers={"X-CSRF-Token": admin_browser.cookies["cw_csrf"]}).status_code == 204
    attacker = _from(app, "10.0.0.8")
    codes = [api_login(attacker, "admin", f"guess-{i}").status_code for i in range(8)]
    assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}
    r = api_login(attacker, "admin", ADMIN_PASSWORD)
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    # The admin's browser (known to have signed in before) is not slowed by any of that.
    assert api_login(admin_browser, "admin", ADMIN_PASSWORD).status_code == 200
    # Nor is the admin from another address.
    assert api_login(_from(app, "10.0.0.9"), "admin", ADMIN_PASSWORD).status_code == 200


def test_web_form_login_uses_the_same_limiter(app: FastAPI) -> None:
    add_user(app, VICTIM, VICTIM_PASSWORD, Role.VIEWER)
    attacker = _from(app, "10.0.1.1")
    for _ in range(5):
        assert web_login(attacker, " RT_Viewer ", "guess-guess").status_code == 401
    assert web_login(_from(app, "10.0.1.1"), VICTIM, VICTIM_PASSWORD).status_code == 303


def _throttled_app(tmp_path: Path, db_url: str, **overrides: Any) -> FastAPI:
    settings = DashboardSettings(
        database_url=db_url, evidence_dir=tmp_path / "evidence", state_dir=tmp_path / "state",
        session_secret="test-secret-" + "x" * 32, admin_password=ADMIN_PASSWORD,  # type: ignore[arg-type]
        **overrides,
    )
    return create_app(settings)


def test_one_address_spraying_usernames_is_throttled_before_hashing(tmp_path: Path, db_url: str) -> None:
    app = _throttled_app(tmp_path, db_url, login_ip_burst=6, login_ip_per_minute=1)
    try:
        sprayer = _from(app, "10.0.2.1")
        codes = [api_login(sprayer, f"user{i}", "guess-guess").status_code for i in range(10)]
        assert codes[:6] == [401] * 6 and set(codes[6:]) == {429}
        # Another address is not affected.
        assert api_login(_from(app, "10.0.2.2"), "admin", ADMIN_PASSWORD).status_code == 200
        # Throttled attempts write no audit rows: the flood cannot grow the audit log past the burst.
        assert len([a for a in _audit(app) if a.action == "login_failed"]) == 6
    finally:
        app.state.ctx.db.dispose()


def test_logins_beyond_the_hash_cap_are_answered_503_at_once(tmp_path: Path, db_url: str) -> None:
    app = _throttled_app(tmp_path, db_url, login_max_concurrent_hashes=1, login_hash_wait_s=0)
    try:
        limiter: LoginLimiter = app.state.ctx.login_limiter
        known = _from(app, "10.0.3.2")
        assert api_login(known, "admin", ADMIN_PASSWORD).status_code == 200
        with limiter.hash_slot():  # every slot is taken (as by a flood of logins in flight)
            r = api_login(_from(app, "10.0.3.1"), "admin", ADMIN_PASSWORD)
            assert r.status_code == 503 and r.headers["retry-after"] == "1"
            r = web_login(_from(app, "10.0.3.1"), "admin", ADMIN_PASSWORD)
            assert r.status_code == 503
            # A browser that signed in before has hash slots of its own: a flood cannot keep it out.
            assert api_login(known, "admin", ADMIN_PASSWORD).status_code == 200
        assert api_login(_from(app, "10.0.3.1"), "admin", ADMIN_PASSWORD).status_code == 200
    finally:
        app.state.ctx.db.dispose()


def test_audit_rows_never_store_an_attacker_chosen_username(app: FastAPI) -> None:
    chosen = "<script>alert(1)</script>-" + "x" * 30
    assert api_login(_from(app, "10.0.4.1"), chosen, "guess-guess").status_code == 401
    long_name = "A" * 5000  # the form has no length limit of its own
    assert web_login(_from(app, "10.0.4.2"), long_name, "guess-guess").status_code == 401
    rows = [a for a in _audit(app) if a.action == "login_failed"]
    assert len(rows) == 2
    for row in rows:
        text = f"{row.actor} {row.entity_id} {row.detail}"
        assert "script" not in text and "AAAA" not in text
        assert row.user_id is None and len(row.actor) <= 64
    # A known user's failure is recorded under that user.
    assert api_login(_from(app, "10.0.4.3"), "admin", "guess-guess").status_code == 401
    assert _audit(app)[-1].actor == "admin" and _audit(app)[-1].user_id is not None


def test_a_flood_of_made_up_names_and_addresses_keeps_the_limiter_bounded(tmp_path: Path, db_url: str) -> None:
    app = _throttled_app(tmp_path, db_url, login_limiter_entries=100, login_ip_burst=1000)
    try:
        flood = _from(app, "10.0.5.1")
        for i in range(250):  # names too long to exist: refused without a hash, so this is quick
            assert web_login(flood, f"{i:04d}" + "n" * 80, "guess-guess").status_code == 401
        sizes = app.state.ctx.login_limiter.sizes()
        assert max(sizes.values()) <= 100, sizes
    finally:
        app.state.ctx.db.dispose()


def test_limiter_backs_off_exponentially_and_forgets() -> None:
    now = [1000.0]
    limiter = LoginLimiter(LimiterPolicy(free_failures=2, base_s=1.0, max_s=8.0, max_entries=10),
                           clock=lambda: now[0])
    a = Attempt("10.0.0.1", "alice")
    waits = []
    for _ in range(6):
        limiter.failed(a)
        waits.append(limiter.check(a))
    assert waits == [0.0, 1.0, 2.0, 4.0, 8.0, 8.0]  # doubling, capped at max_s
    assert limiter.check(Attempt("10.0.0.1", "Alice")) == 0.0  # another username is another source
    assert limiter.check(Attempt("10.0.0.1", "alice", known_client="n1")) == 0.0  # the user's known browser
    now[0] += 9.0
    assert limiter.check(a) == 0.0  # quiet for longer than max_s: forgotten
    for i in range(50):
        limiter.failed(Attempt(f"10.1.0.{i}", f"u{i}"))
    assert max(limiter.sizes().values()) <= 10
