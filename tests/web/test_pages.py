"""The web pages through HTTP (no browser): catalogues, roles, CSRF, escalation, forms, zones, leave."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import get_args

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from broker.codec import encode
from broker.payloads import CameraHealth, EventMessage, EventPhase, HeartbeatMessage, Rule, Severity, utcnow
from broker.topics import Topic, TopicKind
from dashboard.auth.users import create_user
from dashboard.db.engine import Database
from dashboard.db.models import AlertAck, AuditLog, Camera, Event, LeaveRecord, Staff
from dashboard.enums import (
    ApprovalLevel,
    Classification,
    DeviceStatus,
    LeaveStatus,
    LeaveType,
    ReviewReason,
    Role,
    Verdict,
)
from dashboard.ingest.apply import Ingestor, RawMessage
from dashboard.registry import CameraSpec, register_device
from dashboard.web import admin
from dashboard.web.i18n import MISSING_OPEN, catalogue, load_messages
from dashboard.web.queries import BOARD_STATES
from tests.dashboard.conftest import app, settings  # noqa: F401  (fixtures)

WEB = Path(__file__).resolve().parents[2] / "dashboard" / "web"
PASSWORD = "a-good-password-1"


# -- catalogues (pure) ----------------------------------------------------------------------------------
def test_catalogues_have_the_same_keys_and_placeholders() -> None:
    zh, en = load_messages("zh-CN"), load_messages("en")
    assert set(zh) == set(en)
    for key in zh:
        assert set(re.findall(r"\{(\w+)\}", zh[key])) == set(re.findall(r"\{(\w+)\}", en[key])), key
        assert zh[key].strip() and en[key].strip(), key


def _dynamic_keys() -> set[str]:
    """Keys templates build from a value (``"rule." ~ a.rule``): one per member of each vocabulary."""
    families: dict[str, object] = {
        "rule.": [r.value for r in Rule], "role.": [r.value for r in Role], "severity.": [s.value for s in Severity],
        "verdict.": [v.value for v in Verdict], "reason.": [r.value for r in ReviewReason],
        "leave_type.": [t.value for t in LeaveType], "leave_status.": [s.value for s in LeaveStatus],
        "level.": [a.value for a in ApprovalLevel], "class.": [c.value for c in Classification],
        "device_status.": [d.value for d in DeviceStatus], "board.state.": BOARD_STATES,
        "health.": get_args(CameraHealth.model_fields["status"].annotation), "admin.section.": admin.SECTIONS,
        "zones.kind_": admin.ZONE_KINDS, "alerts.status_": ["open", "escalated", "all"],
        "review.status_": ["pending", "reviewed"], "admin.weekday.": range(1, 8),
    }
    return {prefix + str(v) for prefix, values in families.items() for v in values}  # type: ignore[attr-defined]


def test_every_key_the_ui_uses_is_in_the_catalogue() -> None:
    known = set(load_messages("zh-CN"))
    used = set(_dynamic_keys())
    for template in (WEB / "templates").rglob("*.html"):
        used |= set(re.findall(r"""\bt\(\s*["']([a-z0-9_.]+)["']""", template.read_text(encoding="utf-8")))
    namespaces = {k.split(".")[0] for k in known}
    for module in WEB.glob("*.py"):
        for literal in re.findall(r'"([a-z0-9_]+\.[a-z0-9_.]+)"', module.read_text(encoding="utf-8")):
            if literal.split(".")[0] in namespaces and not literal.endswith(".html"):
                used.add(literal)
    for script in (WEB / "static").glob("*.js"):
        used |= set(re.findall(r"""\bt\("(js\.[a-z0-9_.]+)\"""", script.read_text(encoding="utf-8")))
    used = {k for k in used if not k.endswith((".", "_"))}  # prefixes of the dynamic families above
    assert sorted(used - known) == []


def test_a_missing_key_renders_a_visible_marker_not_an_error() -> None:
    assert catalogue("zh-CN").t("no.such.key") == f"{MISSING_OPEN}no.such.key⟧"
    assert catalogue("zh-CN").t("alerts.acked_by", who="王", when="09:00") == "王 于 09:00 确认"


# -- pages over HTTP ------------------------------------------------------------------------------------


def _db(app: FastAPI) -> Database:  # noqa: F811
    database: Database = app.state.ctx.db
    return database


def _user(app: FastAPI, username: str, role: Role) -> None:  # noqa: F811
    with _db(app).session() as s:
        create_user(s, username, PASSWORD, role, display_name=f"{username}-显示名")


def _client(app: FastAPI, username: str, role: Role) -> TestClient:  # noqa: F811
    _user(app, username, role)
    client = TestClient(app, follow_redirects=False)
    r = client.post("/login", data={"username": username, "password": PASSWORD, "next": "/board"})
    assert r.status_code == 303, r.text
    return client


def _csrf(client: TestClient) -> str:
    token = client.cookies.get("cw_csrf")
    assert token
    return token


def _event(app: FastAPI, rule: Rule = Rule.UNATTENDED_NO_SIGN, received_ago: timedelta = timedelta(0),  # noqa: F811
           ended: bool = False, started_ago: timedelta = timedelta(minutes=2)) -> int:
    with _db(app).session() as s:
        if s.get(Camera, 1) is None:
            register_device(s, "hall1", "edge-a", [CameraSpec("cam1", ("w01",))])
    now = utcnow()
    msg = EventMessage(site="hall1", device="edge-a", event_id=f"evt-{now.timestamp():.6f}".replace(".", "-"),
                       seq=1 if ended else 0, phase=EventPhase.END if ended else EventPhase.START, rule=rule,
                       severity=Severity.HIGH, camera="cam1", window="w01", started_at=now - started_ago,
                       ended_at=now if ended else None, sent_at=now, confidence=0.8)
    topic = str(Topic(TopicKind.EVENT, "hall1", "edge-a", "cam1", "w01"))
    result = Ingestor(_db(app)).apply([RawMessage(topic, encode(msg), now - received_ago)])
    assert result.counts["accepted"] == 1
    with _db(app).session() as s:
        pk = s.scalar(select(Event.id).where(Event.event_id == msg.event_id))
        assert pk is not None
        return pk


PAGES = ["/board", "/alerts?status=all", "/review", "/leave", "/reports", *[f"/admin/{s}" for s in admin.SECTIONS]]


@pytest.mark.integration
@pytest.mark.db
@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_every_page_renders_fully_translated(app: FastAPI, language: str) -> None:  # noqa: F811
    _event(app)
    client = _client(app, "boss", Role.ADMIN)
    keys = set(catalogue(language).messages)
    for path in [*PAGES, "/review/1", "/admin/cameras/1/zones"]:
        r = client.get(path, params={"lang": language})
        assert r.status_code == 200, (path, r.status_code)
        assert f'<html lang="{language}">' in r.text
        assert MISSING_OPEN not in r.text, path
        text = re.sub(r"<[^>]+>", " ", re.sub(r"(?s)<script.*?</script>", "", r.text))
        assert [k for k in keys if k in text] == [], path


@pytest.mark.integration
@pytest.mark.db
def test_the_devices_page_shows_delivery_figures_from_the_last_heartbeat(app: FastAPI) -> None:  # noqa: F811
    _event(app)  # registers edge-a
    client = _client(app, "boss", Role.ADMIN)
    assert "edge-a" in client.get("/admin/devices").text
    beat = HeartbeatMessage(site="hall1", device="edge-a", at=utcnow(), uptime_s=60, outbox_depth=12,
                            outbox_awaiting_receipt=3, mqtt_reconnects=1, receipt_resends=0)
    topic = str(Topic(TopicKind.HEARTBEAT, "hall1", "edge-a"))
    assert Ingestor(_db(app)).apply([RawMessage(topic, encode(beat), utcnow())]).counts["accepted"] == 1
    for language, header in (("zh-CN", "待发 / 待回执 / 重连 / 重发"),
                             ("en", "Outbox / awaiting receipt / reconnects / re-sent")):
        page = client.get("/admin/devices", params={"lang": language}).text
        assert header in page and ">12 / 3 / 1 / 0<" in page.replace("\n", "").replace(" <", "<")


@pytest.mark.integration
@pytest.mark.db
def test_pages_need_a_session_and_the_right_role(app: FastAPI) -> None:  # noqa: F811
    anonymous = TestClient(app, follow_redirects=False)
    r = anonymous.get("/review")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/review"
    duty = _client(app, "desk", Role.DUTY)
    assert duty.get("/review").status_code == 403
    assert duty.get("/admin/users").status_code == 403
    assert "无权访问" in duty.get("/admin/users").text
    viewer = _client(app, "look", Role.VIEWER)
    pk = _event(app)
    r = viewer.post(f"/alerts/{pk}/ack", data={"csrf_token": _csrf(viewer)})
    assert r.status_code == 403  # viewers read, they do not acknowledge


@pytest.mark.integration
@pytest.mark.db
def test_login_never_redirects_off_site(app: FastAPI) -> None:  # noqa: F811
    _user(app, "desk", Role.DUTY)
    client = TestClient(app, follow_redirects=False)
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        r = client.post("/login", data={"username": "desk", "password": PASSWORD, "next": target})
        assert r.status_code == 303 and r.headers["location"] == "/board"
    r = client.post("/login", data={"username": "desk", "password": "nope"})
    assert r.status_code == 401 and "用户名或密码错误" in r.text


@pytest.mark.integration
@pytest.mark.db
def test_acknowledge_needs_the_csrf_token_and_records_who_once(app: FastAPI) -> None:  # noqa: F811
    pk = _event(app)
    duty = _client(app, "desk", Role.DUTY)
    assert duty.post(f"/alerts/{pk}/ack", data={"note": "x"}).status_code == 403  # no CSRF token
    r = duty.post(f"/alerts/{pk}/ack", data={"note": " 已处理 ", "csrf_token": _csrf(duty)},
                  headers={"X-Requested-With": "fetch"})
    assert r.status_code == 200 and r.text.startswith("<tr id=") and "desk-显示名" in r.text
    again = duty.post(f"/alerts/{pk}/ack", data={"note": "again", "csrf_token": _csrf(duty)})
    assert again.status_code == 303
    with _db(app).session() as s:
        acks = s.scalars(select(AlertAck).where(AlertAck.event_pk == pk)).all()
        assert [a.note for a in acks] == ["已处理"]  # the first acknowledgement stands
        assert s.scalar(select(AuditLog).where(AuditLog.action == "acknowledge")) is not None


@pytest.mark.integration
@pytest.mark.db
def test_unacknowledged_alerts_escalate_after_the_configured_time(app: FastAPI) -> None:  # noqa: F811
    minutes = app.state.ctx.settings.escalation_minutes
    old = _event(app, started_ago=timedelta(minutes=minutes, seconds=5))
    fresh = _event(app, Rule.PHONE_USE)
    supervisor = _client(app, "chief", Role.SUPERVISOR)
    page = supervisor.get("/alerts").text
    rows = {m.group(1): m.group(0) for m in re.finditer(r'<tr id="alert-[^"]+" data-pk="(\d+)"[^>]*>', page)}
    assert "is-escalated" in rows[str(old)]
    assert "is-escalated" not in rows[str(fresh)]
    assert "已升级" in page


@pytest.mark.integration
@pytest.mark.db
def test_dismissal_needs_a_reason_and_only_supervisors_review(app: FastAPI) -> None:  # noqa: F811
    pk = _event(app, ended=True)
    chief = _client(app, "chief", Role.SUPERVISOR)
    r = chief.post(f"/review/{pk}", data={"verdict": "dismiss", "reason": "", "csrf_token": _csrf(chief)})
    assert r.status_code == 422
    r = chief.post(f"/review/{pk}", data={"verdict": "dismiss", "reason": "false_alarm", "csrf_token": _csrf(chief)})
    assert r.status_code == 303
    with _db(app).session() as s:
        event = s.get(Event, pk)
        assert event is not None and event.verdict is Verdict.DISMISS
    assert "误报" in chief.get(f"/review/{pk}?status=reviewed").text


@pytest.mark.integration
@pytest.mark.db
def test_zones_are_saved_normalised_and_bad_polygons_are_refused(app: FastAPI) -> None:  # noqa: F811
    _event(app)
    boss = _client(app, "boss", Role.ADMIN)
    good = [{"name": "柜台", "kind": "counter", "points": [[0.1, 0.2], [0.6, 0.2], [0.6, 0.9]]}]
    r = boss.post("/admin/cameras/1/zones", data={"zones": json.dumps(good), "csrf_token": _csrf(boss)})
    assert r.status_code == 303
    saved = admin.load_zones(app.state.ctx, 1)
    assert saved == [{"name": "柜台", "kind": "counter", "points": [[0.1, 0.2], [0.6, 0.2], [0.6, 0.9]]}]
    for bad in ([{"kind": "counter", "points": [[0.1, 0.2], [0.5, 0.5]]}],
                [{"kind": "counter", "points": [[0.1, 0.2], [1.5, 0.5], [0.3, 0.3]]}], "not json"):
        raw = bad if isinstance(bad, str) else json.dumps(bad)
        r = boss.post("/admin/cameras/1/zones", data={"zones": raw, "csrf_token": _csrf(boss)})
        assert r.status_code == 422
        assert "区域无效" in r.text
    assert admin.load_zones(app.state.ctx, 1) == saved  # a refused edit loses nothing


@pytest.mark.integration
@pytest.mark.db
def test_leave_is_registered_approved_and_imported(app: FastAPI) -> None:  # noqa: F811
    boss = _client(app, "boss", Role.ADMIN)
    r = boss.post("/admin/staff", data={"employee_no": "E100", "name": "王五", "site_id": "hall1",
                                        "csrf_token": _csrf(boss)})
    assert r.status_code == 303
    with _db(app).session() as s:
        staff_id = s.scalar(select(Staff.id).where(Staff.employee_no == "E100"))
    r = boss.post("/leave/new", data={"staff_id": staff_id, "type": "sick", "start": "2026-11-20T09:00",
                                      "end": "2026-11-20T17:00", "reason": "发烧", "csrf_token": _csrf(boss)})
    assert r.status_code == 303
    with _db(app).session() as s:
        leave = s.scalars(select(LeaveRecord)).one()
        assert leave.approval_level is ApprovalLevel.HALL_HEAD and leave.status is LeaveStatus.PENDING
        assert leave.start.hour == 1  # 09:00 in Asia/Shanghai is 01:00 UTC
    r = boss.post(f"/leave/{leave.id}/decision", data={"decision": "approved", "csrf_token": _csrf(boss)})
    assert r.status_code == 303
    r = boss.post("/leave/new", data={"staff_id": staff_id, "type": "sick", "start": "2026-11-20T17:00",
                                      "end": "2026-11-20T09:00", "csrf_token": _csrf(boss)})
    assert r.status_code == 422 and "输入有误" in r.text
    csv = b"employee_no,type,start,end\nE100,annual,2026-12-01,2026-12-02\n"
    r = boss.post("/leave/import", data={"csrf_token": _csrf(boss)}, files={"file": ("leave.csv", csv, "text/csv")})
    assert r.status_code == 200 and "已导入 1 条" in r.text
    r = boss.post("/leave/import", data={"csrf_token": _csrf(boss)},
                  files={"file": ("bad.csv", b"employee_no,type,start,end\nNOPE,sick,2026-12-01,2026-12-01\n",
                                  "text/csv")})
    assert r.status_code == 422 and "NOPE" in r.text
    with _db(app).session() as s:
        statuses = sorted(r.status.value for r in s.scalars(select(LeaveRecord)))
        assert statuses == ["approved", "pending"]


@pytest.mark.integration
@pytest.mark.db
def test_escalated_filter_shows_only_overdue_unacknowledged_alerts(app: FastAPI) -> None:  # noqa: F811
    minutes = app.state.ctx.settings.escalation_minutes
    old = _event(app, started_ago=timedelta(minutes=minutes + 1))
    fresh = _event(app, Rule.PHONE_USE)
    chief = _client(app, "chief", Role.SUPERVISOR)
    page = chief.get("/alerts", params={"status": "escalated"}).text
    assert f'data-pk="{old}"' in page and f'data-pk="{fresh}"' not in page


@pytest.mark.integration
@pytest.mark.db
def test_service_hours_are_edited_and_an_invalid_schedule_is_never_written(app: FastAPI) -> None:  # noqa: F811
    from dashboard.reports.schedule import SCHEDULE_FILE

    boss = _client(app, "boss", Role.ADMIN)
    page = boss.get("/admin/hours").text
    assert "周一" in page and "09:00–12:00" in page  # the reports' default schedule
    good = 'weekly:\n  1: [["08:30", "12:00"]]\nholidays: [2026-10-01]\n'
    r = boss.post("/admin/hours", data={"schedule_yaml": good, "csrf_token": _csrf(boss)})
    assert r.status_code == 303
    page = boss.get("/admin/hours?saved=1").text
    assert "08:30–12:00" in page and "2026-10-01" in page and "已保存" in page
    r = boss.post("/admin/hours", data={"schedule_yaml": "weekly:\n  9: [[\"25:00\", \"x\"]]\n",
                                        "csrf_token": _csrf(boss)})
    assert r.status_code == 422 and "输入有误" in r.text
    path = Path(app.state.ctx.settings.state_dir) / SCHEDULE_FILE
    assert path.read_text(encoding="utf-8") == good


@pytest.mark.integration
@pytest.mark.db
def test_the_reports_page_links_to_the_mounted_reports(app: FastAPI) -> None:  # noqa: F811
    # By route name: FastAPI keeps included routers as a tree, so a scan of app.routes found none of them.
    page = _client(app, "boss", Role.ADMIN).get("/reports").text
    assert 'href="/api/v1/reports/monthly.xlsx"' in page and 'href="/reports/monthly"' in page
