"""Red-team item 14 (hall scoping): a hall-scoped supervisor (or duty officer) of hall A sees nothing of hall B
in pages, API, exports or evidence. Every GET route of the running app is requested, once with hall A's ids
and once with hall B's, with ``site=hallB`` as well; no answer may carry any of hall B's markers (names,
employee numbers, event and evidence ids, device, window and site ids). Writes into hall B are refused.

The same sweep as a city-wide supervisor (no grant) must see hall B: the markers are real."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

import tests.dashboard.factories as f
from broker.evidence import DEVICE_HEADER, SHA256_HEADER, evidence_path
from broker.payloads import EventPhase, EvidenceRef
from dashboard.auth.scope import grant_sites
from dashboard.auth.users import create_user
from dashboard.db.models import Camera, Event, LeaveRecord, OffPostNotice, Roster, Staff, User, Window, utcnow
from dashboard.enums import ApprovalLevel, LeaveType, Role
from dashboard.ingest.apply import Ingestor
from dashboard.registry import CameraSpec, ensure_site, register_device
from tests.security.route_walk import routes
from tests.security.user_support import api_login

pytestmark = pytest.mark.db

B_MARKERS = ("hallB", "乙大厅", "edge-b", "camb", "wb9", "B-0001", "乙厅李四", "evt-hallb-01", "evb-snap-01",
             "乙厅请假理由", "乙厅离岗理由")
SKIP = {"/static/{path:path}", "/healthz", "/live/board", "/live/alerts", "/docs", "/redoc"}
PASSWORD = "scoped-password-1"


@dataclass
class Hall:
    staff_id: int
    event_pk: int
    event_id: str
    camera_id: int
    evidence_id: str
    leave_id: int
    notice_id: int


def _hall(app: FastAPI, site: str, name: str, device: str, camera: str, window: str, employee_no: str,
          clerk: str, event_id: str, evidence_id: str, leave_reason: str, notice_reason: str,
          client: TestClient) -> Hall:
    db = app.state.ctx.db
    now = utcnow()
    with db.session() as s:
        ensure_site(s, site, name)
        token = register_device(s, site, device, [CameraSpec(camera, (window,))]).upload_token
        staff = Staff(site_id=site, employee_no=employee_no, name=clerk, department="综合窗口")
        s.add(staff)
        s.flush()
        win = s.scalars(select(Window).where(Window.site_id == site, Window.code == window)).one()
        s.add(Roster(staff_id=staff.id, window_id=win.id, start=f.T0 - timedelta(hours=1),
                     end=now + timedelta(hours=6)))
        leave = LeaveRecord(staff_id=staff.id, type=LeaveType.PERSONAL, start=now + timedelta(days=1),
                            end=now + timedelta(days=1, hours=3), reason=leave_reason,
                            approval_level=ApprovalLevel.HALL_HEAD)
        notice = OffPostNotice(staff_id=staff.id, window_id=win.id, reason=notice_reason, left_at=now,
                               expected_return=now + timedelta(minutes=10))
        s.add_all([leave, notice])
        s.flush()
        staff_id, leave_id, notice_id = staff.id, leave.id, notice.id
        camera_id = s.scalars(select(Camera.id).where(Camera.device_id == device)).one()
    body = b"\xff\xd8\xff\xe0" + evidence_id.encode() * 50
    sha = hashlib.sha256(body).hexdigest()
    r = client.put(evidence_path(evidence_id), content=body, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "image/jpeg", SHA256_HEADER: sha, DEVICE_HEADER: device})
    assert r.status_code in (200, 201), r.text
    ref = EvidenceRef(kind="snapshot", id=evidence_id, sha256=sha, content_type="image/jpeg",  # type: ignore[arg-type]
                      size=len(body))
    messages = [f.event(event_id, 0, EventPhase.START, device=device, window=window, evidence=[ref]),
                f.event(event_id, 1, EventPhase.END, device=device, window=window, evidence=[ref],
                        ended_at=f.T0 + timedelta(minutes=30))]
    messages = [m.model_copy(update={"site": site, "camera": camera}) for m in messages]
    result = Ingestor(db).apply([f.raw(m) for m in messages])
    assert result.counts["accepted"] == 2, result.counts
    with db.session() as s:
        event_pk = s.scalars(select(Event.id).where(Event.event_id == event_id)).one()
    return Hall(staff_id, event_pk, event_id, camera_id, evidence_id, leave_id, notice_id)


def _seed(app: FastAPI) -> tuple[Hall, Hall]:
    client = TestClient(app)
    a = _hall(app, "hall1", "甲大厅", "edge-a", "cama", "wa1", "A-0001", "甲厅张三", "evt-halla-01", "eva-snap-01",
              "甲厅请假理由", "甲厅离岗理由", client)
    b = _hall(app, "hallB", "乙大厅", "edge-b", "camb", "wb9", "B-0001", "乙厅李四", "evt-hallb-01", "evb-snap-01",
              "乙厅请假理由", "乙厅离岗理由", client)
    return a, b


def _user(app: FastAPI, username: str, role: Role, sites: list[str]) -> TestClient:
    with app.state.ctx.db.session() as s:
        user = create_user(s, username, PASSWORD, role)
        grant_sites(s, user.id, sites)
    client = TestClient(app)
    r = api_login(client, username, PASSWORD)
    assert r.status_code == 200, r.text
    return client


def _fill(path: str, hall: Hall) -> str:
    values = {"event_id": hall.event_id, "pk": str(hall.event_pk), "staff_id": str(hall.staff_id),
              "camera_id": str(hall.camera_id), "evidence_id": hall.evidence_id, "section": "users",
              "version": "v1", "user_id": "1"}
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], path)


def _sweep(client: TestClient, app: FastAPI, a: Hall, b: Hall) -> dict[str, list[str]]:
    """For every GET route: which hall-B markers its answers carry (as this client)."""
    leaks: dict[str, list[str]] = {}
    for method, path in routes(app):
        if method != "GET" or path in SKIP:
            continue
        for hall in (a, b):
            url = _fill(path, hall)
            for params in ({}, {"site": "hallB", "site_id": "hallB", "year": 2026, "month": 11}):
                r = client.get(url, params=params, follow_redirects=False)
                assert r.status_code < 500, (url, params, r.status_code, r.text[:300])
                text = r.content.decode("utf-8", "replace")
                if r.headers.get("content-type", "").startswith(("application/zip", "application/vnd.openxml")):
                    text = _office_text(r.content)
                if r.status_code >= 400:  # "event 'evt-hallb-01' not found" only echoes the request
                    for echoed in [*url.split("/"), *(str(v) for v in params.values())]:
                        if echoed:
                            text = text.replace(echoed, "")
                found = [m for m in B_MARKERS if m in text or m in r.headers.get("content-disposition", "")]
                if found:
                    leaks.setdefault(f"GET {url} {params or ''}", found)
    return leaks


def _office_text(content: bytes) -> str:
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(content)) as zf:
        return " ".join(zf.read(n).decode("utf-8", "replace") for n in zf.namelist()
                        if n.endswith((".xml", ".json")))


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.DUTY, Role.VIEWER])
def test_a_hall_scoped_user_sees_nothing_of_another_hall(app: FastAPI, role: Role) -> None:
    a, b = _seed(app)
    scoped = _user(app, f"{role.value}-hall-a", role, ["hall1"])
    leaks = _sweep(scoped, app, a, b)
    assert leaks == {}, "\n".join(f"{k}: {v}" for k, v in leaks.items())
    # ... while hall A's own records are there (the scope is not "nothing at all").
    if role is not Role.DUTY:
        r = scoped.get("/api/v1/staff")
        assert [s["employee_no"] for s in r.json()["items"]] == ["A-0001"] if isinstance(r.json(), dict) \
            else [s["employee_no"] for s in r.json()] == ["A-0001"]
    assert scoped.get(f"/api/v1/events/{a.event_id}").status_code == 200
    assert scoped.get(f"/api/v1/events/{b.event_id}").status_code == 404
    if role is not Role.VIEWER:  # viewers watch no evidence at all
        assert scoped.get(f"/api/v1/evidence/{b.evidence_id}").status_code == 404
        assert scoped.get(f"/api/v1/evidence/{a.evidence_id}").status_code == 200


def test_the_markers_are_real_for_a_city_wide_supervisor(app: FastAPI) -> None:
    a, b = _seed(app)
    city = _user(app, "supervisor-city", Role.SUPERVISOR, [])
    leaks = _sweep(city, app, a, b)
    assert len(leaks) >= 15, leaks  # pages, lists, details, reports and evidence of hall B


def test_a_hall_scoped_supervisor_cannot_write_into_another_hall(app: FastAPI) -> None:
    a, b = _seed(app)
    scoped = _user(app, "supervisor-hall-a", Role.SUPERVISOR, ["hall1"])
    h = {"X-CSRF-Token": scoped.cookies["cw_csrf"]}
    now = utcnow()
    r = scoped.post("/api/v1/staff", json={"site_id": "hallB", "employee_no": "B-0002", "name": "x"}, headers=h)
    assert r.status_code in (403, 404, 422), r.text
    r = scoped.post("/api/v1/leave", headers=h, json={
        "staff_id": b.staff_id, "type": "personal", "start": (now + timedelta(days=2)).isoformat(),
        "end": (now + timedelta(days=2, hours=2)).isoformat()})
    assert r.status_code in (403, 404, 422), r.text
    assert scoped.patch(f"/api/v1/staff/{b.staff_id}", json={"name": "改名"}, headers=h).status_code == 404
    assert scoped.patch(f"/api/v1/leave/{b.leave_id}", json={"reason": "x"}, headers=h).status_code == 404
    assert scoped.patch(f"/api/v1/notices/{b.notice_id}", json={"reason": "x"}, headers=h).status_code == 404
    assert scoped.post(f"/api/v1/events/{b.event_id}/ack", json={}, headers=h).status_code == 404
    assert scoped.post(f"/api/v1/events/{b.event_id}/reviews", json={"verdict": "confirm"},
                       headers=h).status_code == 404
    with app.state.ctx.db.session() as s:
        staff_b = s.get(Staff, b.staff_id)
        assert staff_b is not None and staff_b.name == "乙厅李四"
        assert s.scalars(select(User).where(User.username == "supervisor-hall-a")).one()
    # Hall A is still writable.
    r = scoped.patch(f"/api/v1/staff/{a.staff_id}", json={"department": "综合二部"}, headers=h)
    assert r.status_code == 200, r.text


def test_admin_grants_halls(app: FastAPI) -> None:
    _a, b = _seed(app)
    sup = _user(app, "supervisor-later", Role.SUPERVISOR, [])
    assert sup.get(f"/api/v1/events/{b.event_id}").status_code == 200
    admin = TestClient(app)
    assert api_login(admin, "admin", "admin-password-1").status_code == 200
    h = {"X-CSRF-Token": admin.cookies["cw_csrf"]}
    with app.state.ctx.db.session() as s:
        user_id = s.scalars(select(User.id).where(User.username == "supervisor-later")).one()
    r = admin.put(f"/api/v1/users/{user_id}/sites", json={"sites": ["hall1"]}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["sites"] == ["hall1"]
    assert admin.get(f"/api/v1/users/{user_id}/sites").json()["sites"] == ["hall1"]
    assert sup.get(f"/api/v1/events/{b.event_id}").status_code == 404
    assert admin.put(f"/api/v1/users/{user_id}/sites", json={"sites": ["nowhere"]}, headers=h).status_code == 422
    assert admin.put(f"/api/v1/users/{user_id}/sites", json={"sites": []}, headers=h).status_code == 200
    assert sup.get(f"/api/v1/events/{b.event_id}").status_code == 200


def test_admin_grants_halls_in_the_web_ui(app: FastAPI) -> None:
    _a, b = _seed(app)
    sup = _user(app, "duty-later", Role.DUTY, [])
    admin = TestClient(app)
    r = admin.post("/login", data={"username": "admin", "password": "admin-password-1"}, follow_redirects=False)
    assert r.status_code == 303
    for lang, title in (("zh-CN", "大厅权限"), ("en", "Hall access")):
        page = admin.get("/admin/halls", params={"lang": lang})
        assert page.status_code == 200 and title in page.text and "duty-later" in page.text
    r = admin.post("/admin/halls", data={"username": "duty-later", "sites": "hall1",
                                          "csrf_token": admin.cookies["cw_csrf"]}, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert sup.get(f"/api/v1/events/{b.event_id}").status_code == 404
    r = admin.post("/admin/halls", data={"username": "duty-later", "sites": "nowhere",
                                          "csrf_token": admin.cookies["cw_csrf"]}, follow_redirects=False)
    assert r.status_code == 422


def test_a_reader_of_another_hall_gets_their_own_hall_by_default(app: FastAPI) -> None:
    _seed(app)
    scoped = _user(app, "viewer-hall-b", Role.VIEWER, ["hallB"])
    r = scoped.get("/api/v1/reports/monthly", params={"year": 2026, "month": 11, "refs": "false"})
    assert r.status_code == 200, r.text
    assert r.json()["site_id"] == "hallB"
    assert scoped.get("/api/v1/reports/monthly", params={"site": "hall1"}).status_code == 404


def test_the_live_board_stream_of_a_scoped_user_shows_only_their_hall(app: FastAPI) -> None:
    """The live streams open database sessions of their own: they are scoped too. Both halls change at once;
    the update the scoped supervisor's stream receives carries hall A's window and none of hall B's."""
    import httpx

    from tests.support.http import serve_app

    _seed(app)
    with app.state.ctx.db.session() as s:
        create_user(s, "supervisor-live", PASSWORD, Role.SUPERVISOR)
        user_id = s.scalars(select(User.id).where(User.username == "supervisor-live")).one()
        grant_sites(s, user_id, ["hall1"])
        for window, name in (("wa1", "甲厅一号窗"), ("wb9", "乙厅九号窗")):
            s.scalars(select(Window).where(Window.code == window)).one().name = name
    with serve_app(app, "uvicorn-scope-live") as base, httpx.Client(base_url=base, timeout=30) as browser:
        assert api_login(browser, "supervisor-live", PASSWORD).status_code == 200  # type: ignore[arg-type]
        with browser.stream("GET", "/live/board") as stream:
            lines = stream.iter_lines()
            assert next(lines).startswith("retry:")
            changes = []
            halls = (("hall1", "edge-a", "cama", "wa1"), ("hallB", "edge-b", "camb", "wb9"))
            for site, device, camera, window in halls:
                message = f.state(utcnow() - timedelta(seconds=5), present=False, device=device, window=window)
                changes.append(message.model_copy(update={"site": site, "camera": camera}))
            Ingestor(app.state.ctx.db).apply([f.raw(m) for m in changes])
            update = ""
            for line in lines:
                if line.startswith("data:"):
                    update = line
                    break
    assert "甲厅一号窗" in update
    assert "乙厅九号窗" not in update and "wb9" not in update
