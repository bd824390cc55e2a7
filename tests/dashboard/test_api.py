"""The HTTP API with a real database: roles, sessions, CSRF, leave re-classification, evidence."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from broker.evidence import DEVICE_HEADER, SHA256_HEADER, evidence_path
from broker.payloads import EventPhase
from dashboard.db.models import Evidence
from dashboard.enums import Role
from dashboard.ingest.apply import Ingestor
from tests.dashboard import factories as f
from tests.dashboard.conftest import ADMIN_PASSWORD
from tests.dashboard.helpers import ApiUsers, register

pytestmark = pytest.mark.db


def _event_excuses(client: TestClient, event_id: str) -> list[tuple[int, str | None]]:
    body = client.get(f"/api/v1/events/{event_id}").json()
    return [(a["staff_id"], a["classification"]) for a in body["attributions"]]


def _setup_clerk_and_absence(app: FastAPI, api: ApiUsers) -> tuple[TestClient, int]:
    admin = api.client(Role.ADMIN)
    register(app.state.ctx.db)
    staff = admin.post("/api/v1/staff", json={"site_id": "hall1", "employee_no": "E100", "name": "王五"}).json()
    windows = {w["code"]: w["id"] for w in admin.get("/api/v1/windows").json()}
    r = admin.post("/api/v1/rosters", json={"staff_id": staff["id"], "window_id": windows["w01"],
                                            "start": (f.T0 - timedelta(hours=1)).isoformat(),
                                            "end": (f.T0 + timedelta(hours=8)).isoformat()})
    assert r.status_code == 201, r.text
    Ingestor(app.state.ctx.db).apply([f.raw(m) for m in f.lifecycle("evt-absent1", minutes=40)])
    return admin, staff["id"]


def test_leave_entered_after_the_event_reclassifies_it(app: FastAPI, api: ApiUsers) -> None:
    admin, staff_id = _setup_clerk_and_absence(app, api)
    assert _event_excuses(admin, "evt-absent1") == [(staff_id, "unexcused")]
    supervisor = api.client(Role.SUPERVISOR)
    leave = {"staff_id": staff_id, "type": "sick", "start": (f.T0 - timedelta(minutes=30)).isoformat(),
             "end": (f.T0 + timedelta(hours=4)).isoformat(), "reason": "发烧"}
    r = supervisor.post("/api/v1/leave", json=leave)
    assert r.status_code == 201, r.text
    assert r.json()["approval_level"] == "hall_head"
    # Pending leave excuses nothing...
    assert _event_excuses(admin, "evt-absent1") == [(staff_id, "unexcused")]
    # ...its approval does, after the fact.
    assert supervisor.post(f"/api/v1/leave/{r.json()['id']}/approve").status_code == 200
    assert _event_excuses(admin, "evt-absent1") == [(staff_id, "approved_leave")]
    # Cancelling it puts the absence back to unexcused.
    assert supervisor.post(f"/api/v1/leave/{r.json()['id']}/cancel").status_code == 200
    assert _event_excuses(admin, "evt-absent1") == [(staff_id, "unexcused")]


def test_off_post_notice_classifies_the_absence(app: FastAPI, api: ApiUsers) -> None:
    admin, staff_id = _setup_clerk_and_absence(app, api)
    duty = api.client(Role.DUTY)
    r = duty.post("/api/v1/notices", json={"staff_id": staff_id, "reason": "送件",
                                           "left_at": f.T0.isoformat(),
                                           "expected_return": (f.T0 + timedelta(minutes=20)).isoformat()})
    assert r.status_code == 201, r.text
    assert r.json()["window_id"] is not None  # taken from the roster
    assert _event_excuses(admin, "evt-absent1") == [(staff_id, "notice_late")]  # 40 min away, 20 announced
    duty.patch(f"/api/v1/notices/{r.json()['id']}",
               json={"expected_return": (f.T0 + timedelta(minutes=45)).isoformat()})
    assert _event_excuses(admin, "evt-absent1") == [(staff_id, "notice_on_time")]


def test_duty_cannot_review_or_read_the_audit_log(app: FastAPI, api: ApiUsers) -> None:
    register(app.state.ctx.db)
    Ingestor(app.state.ctx.db).apply([f.raw(f.event("evt-roles01", 0, EventPhase.START))])
    duty = api.client(Role.DUTY)
    review = {"verdict": "dismiss", "reason": "false_alarm"}
    assert duty.post("/api/v1/events/evt-roles01/reviews", json=review).status_code == 403
    assert duty.get("/api/v1/audit").status_code == 403
    assert duty.post("/api/v1/events/evt-roles01/ack", json={"note": "已通知"}).status_code == 201
    viewer = api.client(Role.VIEWER)
    assert viewer.post("/api/v1/events/evt-roles01/ack", json={}).status_code == 403
    assert viewer.get("/api/v1/events").status_code == 200
    supervisor = api.client(Role.SUPERVISOR)
    assert supervisor.post("/api/v1/events/evt-roles01/reviews", json={"verdict": "dismiss"}).status_code == 422
    assert supervisor.post("/api/v1/events/evt-roles01/reviews", json=review).status_code == 201
    events = supervisor.get("/api/v1/events", params={"state": "dismissed"}).json()
    assert [e["event_id"] for e in events["items"]] == ["evt-roles01"]
    audit = api.client(Role.ADMIN).get("/api/v1/audit", params={"entity": "event"}).json()["items"]
    assert [(a["action"], a["actor"]) for a in audit] == [("review", "supervisor-user"), ("acknowledge", "duty-user")]
    assert TestClient(app).get("/api/v1/events").status_code == 401


def test_event_filters_and_pagination(app: FastAPI, api: ApiUsers) -> None:
    register(app.state.ctx.db)
    msgs = [f.event(f"evt-page{i:04d}", 0, EventPhase.START, started_at=f.T0 + timedelta(minutes=i),
                    window="w01" if i % 2 else "w02") for i in range(7)]
    Ingestor(app.state.ctx.db).apply([f.raw(m) for m in msgs])
    viewer = api.client(Role.VIEWER)
    page = viewer.get("/api/v1/events", params={"limit": 3, "offset": 0, "window": "w01"}).json()
    assert page["total"] == 3 and [e["event_id"] for e in page["items"]] == ["evt-page0005", "evt-page0003",
                                                                            "evt-page0001"]
    later = viewer.get("/api/v1/events", params={"since": (f.T0 + timedelta(minutes=5)).isoformat()}).json()
    assert later["total"] == 2
    assert viewer.get("/api/v1/alerts").json()["total"] == 7


def test_browser_session_needs_csrf_for_unsafe_methods(app: FastAPI, api: ApiUsers) -> None:
    register(app.state.ctx.db)
    Ingestor(app.state.ctx.db).apply([f.raw(f.event("evt-csrf001", 0, EventPhase.START))])
    browser = api.browser(Role.DUTY)
    cookie = browser.cookies.get("cw_session")
    assert cookie
    assert browser.get("/api/v1/auth/me").json()["username"] == "duty-user"
    assert browser.post("/api/v1/events/evt-csrf001/ack", json={}).status_code == 403
    r = browser.post("/api/v1/events/evt-csrf001/ack", json={}, headers={"X-CSRF-Token": "forged"})
    assert r.status_code == 403
    r = browser.post("/api/v1/events/evt-csrf001/ack", json={}, headers={"X-CSRF-Token": browser.csrf})
    assert r.status_code == 201


def test_login_cookie_flags_rate_limit_and_headers(client: TestClient) -> None:
    r = client.post("/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert r.status_code == 200
    set_cookie = "; ".join(r.headers.get_list("set-cookie")).lower()
    assert "httponly" in set_cookie and "samesite=lax" in set_cookie
    for header in ("x-content-type-options", "x-frame-options", "content-security-policy", "referrer-policy"):
        assert header in r.headers
    other = TestClient(client.app)
    for _ in range(5):
        assert other.post("/api/v1/auth/login", json={"username": "admin", "password": "wrong"}).status_code == 401
    # Locked out, even with the right password, for this username from this address.
    r = other.post("/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert r.status_code == 429 and "retry-after" in r.headers
    with client.app.state.ctx.db.session() as s:  # type: ignore[attr-defined]
        from dashboard.db.models import AuditLog

        failures = s.scalars(select(AuditLog).where(AuditLog.action == "login_failed")).all()
    assert len(failures) == 5 and {a.actor for a in failures} == {"admin"}


def test_leave_policy_and_csv_import_all_or_nothing(app: FastAPI, api: ApiUsers) -> None:
    admin = api.client(Role.ADMIN)
    staff = admin.post("/api/v1/staff", json={"site_id": "hall1", "employee_no": "E7", "name": "赵六"}).json()
    sup = api.client(Role.SUPERVISOR)

    def leave(type_: str, days: float) -> object:
        return sup.post("/api/v1/leave", json={"staff_id": staff["id"], "type": type_, "start": f.T0.isoformat(),
                                               "end": (f.T0 + timedelta(days=days)).isoformat()})

    assert leave("personal", 1).json()["approval_level"] == "hall_head"  # type: ignore[attr-defined]
    assert leave("personal", 2).json()["approval_level"] == "district_leader"  # type: ignore[attr-defined]
    assert leave("annual", 5).json()["approval_level"] == "principal_leaders"  # type: ignore[attr-defined]
    too_long = leave("sick", 31)
    assert too_long.status_code == 422 and "30" in too_long.text  # type: ignore[attr-defined]
    assert leave("maternity", 98).status_code == 201  # type: ignore[attr-defined]
    before = sup.get("/api/v1/leave").json()["total"]

    bad_csv = ("employee_no,type,start,end,status,reason\n"
               "E7,sick,2026-11-10,2026-11-10,approved,感冒\n"
               "E999,sick,2026-11-10,2026-11-10,,\n"
               "E7,holiday,2026-11-11,2026-11-11,,\n"
               "E7,annual,2026-11-20,2026-11-10,,\n")
    r = sup.post("/api/v1/leave/import", files={"file": ("leave.csv", bad_csv.encode(), "text/csv")})
    assert r.status_code == 422
    assert [e["row"] for e in r.json()["errors"]] == [3, 4, 5]
    assert sup.get("/api/v1/leave").json()["total"] == before  # nothing half-imported

    good_csv = "employee_no,type,start,end,status\nE7,sick,2026-11-10,2026-11-10,approved\n" \
               "E7,official_business,2026-11-12T09:00,2026-11-12T12:00,pending\n"
    r = sup.post("/api/v1/leave/import", files={"file": ("leave.csv", good_csv.encode(), "text/csv")})
    assert r.status_code == 201, r.text
    assert r.json()["imported"] == 2
    rows = sup.get("/api/v1/leave", params={"since": "2026-11-09T00:00:00+08:00",
                                            "until": "2026-11-13T00:00:00+08:00"}).json()["items"]
    imported = {x["type"]: (x["start"], x["end"], x["status"]) for x in rows if x["id"] in r.json()["ids"]}
    assert imported == {  # a whole local day / local times, Asia/Shanghai
        "sick": ("2026-11-09T16:00:00Z", "2026-11-10T16:00:00Z", "approved"),
        "official_business": ("2026-11-12T01:00:00Z", "2026-11-12T04:00:00Z", "pending"),
    }
    assert api.client(Role.DUTY).post("/api/v1/leave/import", files={"file": ("x.csv", b"", "text/csv")}
                                      ).status_code == 403


# -- evidence -----------------------------------------------------------------------------------------
def _put(client: TestClient, token: str, evidence_id: str, body: bytes, content_type: str = "image/jpeg",
         sha: str | None = None, device: str = "edge-a") -> object:
    return client.put(evidence_path(evidence_id), content=body, headers={
        "Authorization": f"Bearer {token}", "Content-Type": content_type,
        SHA256_HEADER: sha or hashlib.sha256(body).hexdigest(), DEVICE_HEADER: device})


def _stored(app: FastAPI) -> tuple[int, list[Path]]:
    root = Path(app.state.ctx.settings.evidence_dir)
    with app.state.ctx.db.session() as s:
        rows = s.scalar(select(func.count()).select_from(Evidence)) or 0
    return rows, [p for p in root.rglob("*") if p.is_file()]


def test_evidence_upload_contract(app: FastAPI, client: TestClient) -> None:
    token = register(app.state.ctx.db)
    body = b"\xff\xd8\xff" + bytes(range(256)) * 40
    r = _put(client, token, "snap-0001", body)
    assert r.status_code == 201, r.text  # type: ignore[attr-defined]
    assert _put(client, token, "snap-0001", body).status_code == 200  # type: ignore[attr-defined]
    conflict = _put(client, token, "snap-0001", body + b"x")
    assert conflict.status_code == 409  # type: ignore[attr-defined]
    assert _put(client, token, "snap-0002", body, sha="0" * 64).status_code == 422  # type: ignore[attr-defined]
    wrong_type = _put(client, token, "snap-0003", body, content_type="image/png")
    assert wrong_type.status_code == 415 and "image/png" in wrong_type.text  # type: ignore[attr-defined]
    assert _put(client, "cwd_not-a-token", "snap-0004", body).status_code == 401  # type: ignore[attr-defined]
    assert _put(client, token, "snap-0005", body, device="edge-b").status_code == 403  # type: ignore[attr-defined]
    bad_id = client.put("/api/v1/evidence/bad%20id", content=body, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "image/jpeg",
        SHA256_HEADER: hashlib.sha256(body).hexdigest()})
    assert bad_id.status_code == 422  # ids end up in file names: only the contract's safe alphabet
    rows, files = _stored(app)
    assert rows == 1 and [p.name for p in files] == ["snap-0001.jpg"]
    assert files[0].read_bytes() == body


def test_oversized_upload_is_refused_and_nothing_stored(app: FastAPI, client: TestClient) -> None:
    token = register(app.state.ctx.db)
    big = b"\xff" * (8 * 1024 * 1024 + 1)
    r = _put(client, token, "snap-big01", big)
    assert r.status_code == 413 and "limit" in r.text  # type: ignore[attr-defined]

    # Without a Content-Length (chunked), the body is cut off while streaming.
    def chunks() -> object:
        for _ in range(9):
            yield b"\xff" * (1024 * 1024)

    r2 = client.put(evidence_path("snap-big02"), content=chunks(), headers={  # type: ignore[arg-type]
        "Authorization": f"Bearer {token}", "Content-Type": "image/jpeg", SHA256_HEADER: "a" * 64})
    assert r2.status_code == 413
    assert _stored(app) == (0, [])


def test_clips_stream_with_range_and_a_device_token_cannot_read_them(app: FastAPI, api: ApiUsers) -> None:
    token = register(app.state.ctx.db)
    clip = b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 1000  # an MP4's first box, then anything
    device_client = TestClient(app)
    assert _put(device_client, token, "clip-0001", clip, "video/mp4").status_code == 201  # type: ignore[attr-defined]
    r = device_client.get("/api/v1/evidence/clip-0001", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    sup = api.client(Role.SUPERVISOR)
    full = sup.get("/api/v1/evidence/clip-0001")
    assert full.status_code == 200 and full.content == clip and full.headers["accept-ranges"] == "bytes"
    part = sup.get("/api/v1/evidence/clip-0001", headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.content == clip[1000:2000]
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(clip)}"
    tail = sup.get("/api/v1/evidence/clip-0001", headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == clip[-10:]
    assert sup.get("/api/v1/evidence/clip-0001", headers={"Range": "bytes=999999-"}).status_code == 416
    assert api.client(Role.VIEWER).get("/api/v1/evidence/clip-0001").status_code == 403
    views = api.client(Role.ADMIN).get("/api/v1/audit", params={"entity": "evidence", "action": "view"}).json()
    assert views["total"] == 1 and views["items"][0]["actor"] == "supervisor-user"


def test_register_device_returns_its_token_once(api: ApiUsers) -> None:
    admin = api.client(Role.ADMIN)
    r = admin.post("/api/v1/devices", json={"id": "edge-z", "site_id": "hall1",
                                            "cameras": [{"code": "cam1", "windows": ["w07"]}]})
    assert r.status_code == 201, r.text
    assert r.json()["upload_token"].startswith("cwd_")
    listed = admin.get("/api/v1/devices").json()
    assert [d["id"] for d in listed] == ["edge-z"] and "upload_token" not in listed[0]
    assert listed[0]["cameras"][0]["code"] == "cam1"
    assert api.client(Role.SUPERVISOR).post("/api/v1/devices", json={"id": "edge-y", "site_id": "hall1"}
                                            ).status_code == 403
    assert admin.get("/api/v1/openapi.json").status_code == 200


@pytest.mark.parametrize("camera", [{"code": "cam1", "windows": [""]}, {"code": "..", "windows": ["w01"]},
                                    {"code": "cam1", "windows": ["w/01"]}])
def test_register_device_refuses_ids_that_are_no_topic_segment(api: ApiUsers, camera: dict[str, object]) -> None:
    """Found by the schemathesis sweep: an empty window code reached the registry and answered 500."""
    r = api.client(Role.ADMIN).post("/api/v1/devices", json={"id": "edge-z", "site_id": "hall1", "cameras": [camera]})
    assert r.status_code == 422, r.text
    assert api.client(Role.ADMIN).get("/api/v1/devices").json() == []


def test_first_admin_is_generated_and_printed_once(settings: object, capsys: pytest.CaptureFixture[str]) -> None:
    from dashboard.app import create_app

    bare = settings.model_copy(update={"admin_password": None})  # type: ignore[attr-defined]
    first = create_app(bare)
    printed = capsys.readouterr().out
    assert "first admin created" in printed and "password" in printed
    password = printed.split("password '")[1].split("'")[0]
    with TestClient(first) as c:
        assert c.post("/api/v1/auth/login", json={"username": "admin", "password": password}).status_code == 200
    create_app(bare)  # a restart creates nobody and prints nothing
    assert "first admin" not in capsys.readouterr().out


def test_api_tokens_can_be_revoked_and_csrf_form_field_is_accepted(app: FastAPI, api: ApiUsers) -> None:
    browser = api.browser(Role.VIEWER)
    r = browser.post("/api/v1/auth/tokens", data={"csrf_token": browser.csrf}, json=None)
    assert r.status_code == 422  # the CSRF form field passed; the JSON body is what is missing
    r = browser.post("/api/v1/auth/tokens", json={"name": "script"}, headers={"X-CSRF-Token": browser.csrf})
    assert r.status_code == 201
    token, token_id = r.json()["token"], r.json()["id"]
    script = TestClient(app, headers={"Authorization": f"Bearer {token}"})
    assert script.get("/api/v1/auth/me").json()["username"] == "viewer-user"
    assert script.post("/api/v1/events/x/ack", json={}).status_code == 403  # bearer: no CSRF, but the role
    assert browser.delete(f"/api/v1/auth/tokens/{token_id}", headers={"X-CSRF-Token": browser.csrf}
                          ).status_code == 204
    assert script.get("/api/v1/auth/me").status_code == 401
