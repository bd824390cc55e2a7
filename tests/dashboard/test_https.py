"""HTTPS for the dashboard: `counterwatch dashboard serve` with a certificate from the deployment's private
CA (broker make-certs --dashboard-host), reached by a real HTTPS client that trusts only that CA; Secure
cookies, HSTS and the other security headers; and the retention job scheduled inside the same process."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from broker.mosquitto import free_port
from broker.tls import make_certificates, verify
from dashboard.app import create_app
from dashboard.db.engine import Database
from dashboard.db.migrate import upgrade
from dashboard.settings import DashboardSettings
from dashboard.storage.evidence import LocalEvidenceStore
from tests.dashboard.conftest import ADMIN_PASSWORD
from tests.dashboard.evidence_support import store_evidence
from tests.dashboard.helpers import register

SECURITY_HEADERS = {
    "strict-transport-security": "max-age=31536000; includeSubDomains",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}


def _set_cookies(response: httpx.Response) -> dict[str, SimpleCookie]:
    out = {}
    for header in response.headers.get_list("set-cookie"):
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        out.update({name: cookie for name in cookie})
    return out


@pytest.fixture
def https_dashboard(tmp_path: Path) -> Iterator[tuple[str, Path, subprocess.Popen[bytes], Path]]:
    pki = make_certificates(tmp_path / "pki", ["mqtt.hall1.local"], dashboard_hosts=["localhost", "127.0.0.1"])
    verify(pki, pki.dashboard_cert)
    db_url = f"sqlite:///{tmp_path / 'dashboard.db'}"
    upgrade(db_url)
    db = Database(db_url)
    register(db)
    store_evidence(db, LocalEvidenceStore(tmp_path / "evidence"), "clip-expired",
                   datetime.now(UTC) - timedelta(days=31))
    db.dispose()
    port = free_port()
    env = {**os.environ, "CW_DASHBOARD_DATABASE_URL": db_url,
           "CW_DASHBOARD_EVIDENCE_DIR": str(tmp_path / "evidence"), "CW_DASHBOARD_STATE_DIR": str(tmp_path / "state"),
           "CW_DASHBOARD_ADMIN_PASSWORD": ADMIN_PASSWORD, "CW_DASHBOARD_SESSION_SECRET": "s" * 48,
           "CW_DASHBOARD_TLS__CERTFILE": str(pki.dashboard_cert), "CW_DASHBOARD_TLS__KEYFILE": str(pki.dashboard_key),
           "CW_DASHBOARD_RETENTION__INTERVAL_S": "0.5"}
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "counterwatch.cli", "dashboard", "serve", "--no-ingest",
                             "--host", "127.0.0.1", "--port", str(port)], env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    base = f"https://localhost:{port}"
    context = ssl.create_default_context(cafile=str(pki.ca_cert))
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"{base}/healthz", verify=context, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        yield base, pki.ca_cert, proc, tmp_path
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        log.close()


@pytest.mark.integration
def test_serve_over_https_with_the_private_ca(https_dashboard: tuple[str, Path, subprocess.Popen[bytes], Path]) -> None:
    base, ca, proc, tmp = https_dashboard
    port = base.rsplit(":", 1)[1]
    context = ssl.create_default_context(cafile=str(ca))
    with httpx.Client(base_url=base, verify=context, timeout=10) as client:
        r = client.post("/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        assert r.status_code == 200, r.text
        for name, value in SECURITY_HEADERS.items():
            assert r.headers.get(name) == value, name
        assert "default-src 'self'" in r.headers["content-security-policy"]
        assert r.headers["cache-control"] == "no-store"
        cookies = _set_cookies(r)
        session, csrf = cookies["cw_session"]["cw_session"], cookies["cw_csrf"]["cw_csrf"]
        assert session["secure"] and session["httponly"] and session["samesite"].lower() == "lax"
        assert csrf["secure"] and not csrf["httponly"]  # the page's script reads it (double submit)
        assert client.get("/api/v1/auth/me").json()["username"] == "admin"  # the cookie works over HTTPS
        # CSRF: a cookie-authenticated change without the token is refused; with it, it goes through.
        assert client.post("/api/v1/auth/tokens", json={"name": "x"}).status_code == 403
        token = client.post("/api/v1/auth/tokens", json={"name": "x"}, headers={"X-CSRF-Token": csrf.value})
        assert token.status_code in (200, 201), token.text
        # The retention job runs inside serve: the expired clip was purged a moment after start.
        deadline = time.monotonic() + 30
        while (r := client.get("/api/v1/evidence/clip-expired")).status_code != 410 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert r.status_code == 410 and "retention" in r.json()["detail"]
        assert not (tmp / "evidence" / "edge-a" / "clip-expired.mp4").exists()

    # Only that CA is trusted: the system store does not know it, and plain HTTP gets no answer.
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{base}/healthz", timeout=5)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    # Login rate limiting holds over HTTPS too.
    with httpx.Client(base_url=base, verify=context, timeout=10) as client:
        codes = [client.post("/api/v1/auth/login", json={"username": "admin", "password": "wrong"}).status_code
                 for _ in range(6)]
        assert codes[:5] == [401] * 5 and codes[5] == 429
    assert proc.poll() is None


def test_missing_certificate_is_a_configuration_error(tmp_path: Path) -> None:
    env = {**os.environ, "CW_DASHBOARD_DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}",
           "CW_DASHBOARD_TLS__CERTFILE": str(tmp_path / "nope.crt"), "CW_DASHBOARD_TLS__KEYFILE": str(tmp_path / "k")}
    result = subprocess.run([sys.executable, "-m", "counterwatch.cli", "dashboard", "serve", "--no-ingest"],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "tls.certfile" in result.stderr and "does not exist" in result.stderr
    assert not (tmp_path / "d.db").exists()  # refused before touching anything


@pytest.mark.parametrize(("tls", "cookie_secure", "https"), [
    ({}, False, False),
    ({"behind_proxy": True}, False, True),  # a TLS-terminating proxy in front
    ({}, True, True),  # the older switch still works
])
def test_secure_cookies_and_hsts_follow_https(tmp_path: Path, tls: dict[str, object], cookie_secure: bool,
                                              https: bool) -> None:
    settings = DashboardSettings(
        database_url=f"sqlite:///{tmp_path / 'd.db'}", evidence_dir=tmp_path / "ev", state_dir=tmp_path / "st",
        session_secret="x" * 48, admin_password=ADMIN_PASSWORD, tls=tls,  # type: ignore[arg-type]
        cookie_secure=cookie_secure)
    assert settings.https is https
    app = create_app(settings)
    try:
        with TestClient(app, base_url="https://testserver") as client:
            r = client.post("/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
            assert r.status_code == 200
            cookies = _set_cookies(r)  # type: ignore[arg-type]
            assert bool(cookies["cw_session"]["cw_session"]["secure"]) is https
            assert ("strict-transport-security" in r.headers) is https
    finally:
        app.state.ctx.db.dispose()


def test_make_certs_issues_the_dashboard_certificate_from_the_same_ca(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from counterwatch.cli import main

    out = tmp_path / "pki"
    assert main(["broker", "make-certs", "--out", str(out), "--host", "mqtt.hall1.local", "--device", "edge-a"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert "dashboard" not in first and not (out / "dashboard.crt").exists()
    ca_before = (out / "ca.crt").read_bytes()
    # Added later: only the dashboard's certificate is issued; the CA and the others stay as they are.
    assert main(["broker", "make-certs", "--out", str(out), "--host", "mqtt.hall1.local", "--device", "edge-a",
                 "--dashboard-host", "counterwatch.hall1.local", "--dashboard-host", "10.0.0.3"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["issued"] == [second["dashboard"]["cert"], second["dashboard"]["key"]]
    assert (out / "ca.crt").read_bytes() == ca_before
    assert (out / "dashboard.key").stat().st_mode & 0o777 == 0o600
    text = subprocess.run(["openssl", "x509", "-in", str(out / "dashboard.crt"), "-noout", "-text"],
                          capture_output=True, text=True, check=True).stdout
    assert "DNS:counterwatch.hall1.local" in text and "IP Address:10.0.0.3" in text
    assert "TLS Web Server Authentication" in text and "mqtt.hall1.local" not in text
    subprocess.run(["openssl", "verify", "-CAfile", str(out / "ca.crt"), str(out / "dashboard.crt")], check=True,
                   capture_output=True)
