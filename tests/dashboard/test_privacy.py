"""Export of one clerk's data (subject access request) on a real database, through the API and the CLI:
everything about that clerk is in it, nothing about another clerk, and the export is audited."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from counterwatch.cli import main
from dashboard.db.engine import Database
from dashboard.db.models import AuditLog, Staff
from dashboard.enums import Role
from dashboard.retention import run_retention
from tests.dashboard import factories as f
from tests.dashboard.evidence_support import clip_bytes, ingest_event, store_evidence
from tests.dashboard.helpers import ApiUsers, add_clerk, register

pytestmark = pytest.mark.db

SHIFT = (f.T0 - timedelta(hours=1), f.T0 + timedelta(hours=8))
OTHER_CLERK_MARKERS = ("E002", "李四", "evt-clerk-b1", "clip-b1", "other clerk's leave", "other clerk's errand")


def _staff_id(db: Database, employee_no: str) -> int:
    with db.session() as s:
        return s.scalars(select(Staff.id).where(Staff.employee_no == employee_no)).one()


@pytest.fixture
def two_clerks(app: FastAPI, api: ApiUsers) -> dict[str, int]:
    """Two clerks at two windows, each with roster, leave, a notice, an event with evidence, reviews and views."""
    db: Database = app.state.ctx.db
    store = app.state.ctx.evidence
    register(db)
    a = add_clerk(db, "w01", *SHIFT, employee_no="E001", name="张三")
    b = add_clerk(db, "w02", *SHIFT, employee_no="E002", name="李四")
    now = datetime.now(UTC)
    clip_a = store_evidence(db, store, "clip-a1", now)
    snap_a = store_evidence(db, store, "snap-a1", now - timedelta(days=400), content_type="image/jpeg")
    clip_b = store_evidence(db, store, "clip-b1", now)
    ingest_event(db, "evt-clerk-a1", [clip_a, snap_a], window="w01")
    ingest_event(db, "evt-clerk-b1", [clip_b], window="w02")

    sup = api.browser(Role.SUPERVISOR)
    csrf = {"X-CSRF-Token": sup.csrf}
    day = f.T0 + timedelta(days=3)
    for staff_id, who in ((a, "own"), (b, "other clerk's")):
        r = sup.post("/api/v1/leave", headers=csrf, json={
            "staff_id": staff_id, "type": "personal", "start": day.isoformat(),
            "end": (day + timedelta(hours=4)).isoformat(), "reason": f"{who} leave"})
        assert r.status_code == 201, r.text
        r = sup.post("/api/v1/notices", headers=csrf, json={
            "staff_id": staff_id, "reason": f"{who} errand", "left_at": (f.T0 + timedelta(hours=2)).isoformat(),
            "expected_return": (f.T0 + timedelta(hours=2, minutes=10)).isoformat()})
        assert r.status_code == 201, r.text
    assert sup.post("/api/v1/events/evt-clerk-a1/reviews", headers=csrf,
                    json={"verdict": "confirm", "note": "away 20 min"}).status_code == 201
    assert sup.post("/api/v1/events/evt-clerk-b1/reviews", headers=csrf,
                    json={"verdict": "dismiss", "reason": "excused"}).status_code == 201
    duty = api.client(Role.DUTY)
    assert duty.post("/api/v1/events/evt-clerk-b1/ack", json={"note": "seen"}).status_code == 201
    assert sup.get("/api/v1/evidence/clip-a1").status_code == 200
    assert sup.get("/api/v1/evidence/clip-b1").status_code == 200
    # The snapshot is past even the confirmed period: retention deletes it before the export.
    assert run_retention(db, store, app.state.ctx.settings.retention).purged == 1
    return {"E001": a, "E002": b}


def _has_no_other_clerk(text: str) -> None:
    for marker in OTHER_CLERK_MARKERS:
        assert marker not in text, f"{marker!r} leaked into the export"


def test_json_export_holds_the_clerks_data_and_nothing_of_another(
        app: FastAPI, api: ApiUsers, two_clerks: dict[str, int]) -> None:
    admin = api.client(Role.ADMIN)
    r = admin.get(f"/api/v1/privacy/staff/{two_clerks['E001']}/export")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.headers["content-disposition"] == 'attachment; filename="clerk-E001.json"'
    _has_no_other_clerk(r.text)
    doc: dict[str, Any] = r.json()
    assert doc["profile"]["employee_no"] == "E001" and doc["profile"]["name"] == "张三"
    assert [e["window"] for e in doc["roster"]] == ["w01"]
    assert [x["reason"] for x in doc["leave"]] == ["own leave"]
    assert [n["reason"] for n in doc["off_post_notices"]] == ["own errand"]
    (event,) = doc["events"]
    assert event["event_id"] == "evt-clerk-a1" and event["outcome"] == "confirm"
    assert [(rv["verdict"], rv["note"], rv["by"]) for rv in event["reviews"]] == \
        [("confirm", "away 20 min", "supervisor-user")]
    refs = {ref["id"]: ref for ref in event["evidence"]}
    assert set(refs) == {"clip-a1", "snap-a1"}
    assert refs["clip-a1"]["purged_at"] is None and refs["snap-a1"]["purged_at"] is not None
    audit = {(a["action"], a["entity"], a["entity_id"]) for a in doc["audit"]}
    assert ("review", "event", "evt-clerk-a1") in audit and ("view", "evidence", "clip-a1") in audit
    assert {x for x in audit if x[1] == "leave"} == {("create", "leave", str(doc["leave"][0]["id"]))}
    assert all("ip" not in a for a in doc["audit"])  # the actors' addresses are theirs, not the clerk's

    # The other clerk's export is the mirror image.
    other = admin.get(f"/api/v1/privacy/staff/{two_clerks['E002']}/export").json()
    assert [e["event_id"] for e in other["events"]] == ["evt-clerk-b1"]
    assert [a["note"] for a in other["events"][0]["acknowledgements"]] == ["seen"]
    assert "evt-clerk-a1" not in json.dumps(other, ensure_ascii=False)

    # Every export is audited, with who asked.
    exports = admin.get("/api/v1/audit", params={"entity": "staff", "action": "export"}).json()["items"]
    assert [(x["actor"], x["entity_id"], x["detail"]["format"]) for x in exports] == [
        ("admin-user", str(two_clerks["E002"]), "json"), ("admin-user", str(two_clerks["E001"]), "json")]


def test_zip_export_includes_the_clerks_kept_evidence_files(
        app: FastAPI, api: ApiUsers, two_clerks: dict[str, int]) -> None:
    admin = api.client(Role.ADMIN)
    r = admin.get(f"/api/v1/privacy/staff/{two_clerks['E001']}/export", params={"format": "zip", "evidence": True})
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        assert zf.testzip() is None
        assert sorted(zf.namelist()) == ["clerk.json", "evidence/clip-a1.mp4"]  # snap-a1 was purged
        assert zf.read("evidence/clip-a1.mp4") == clip_bytes("clip-a1")
        doc = json.loads(zf.read("clerk.json"))
    _has_no_other_clerk(json.dumps(doc, ensure_ascii=False))
    refs = {ref["id"]: ref for ref in doc["events"][0]["evidence"]}
    assert refs["clip-a1"]["in_export"] == "evidence/clip-a1.mp4" and refs["snap-a1"]["in_export"] is None
    with app.state.ctx.db.session() as s:
        entry = s.scalars(select(AuditLog).where(AuditLog.action == "export")).one()
        assert entry.detail == {"format": "zip", "evidence_files": ["clip-a1"]}

    plain = admin.get(f"/api/v1/privacy/staff/{two_clerks['E001']}/export", params={"format": "zip"})
    with zipfile.ZipFile(io.BytesIO(plain.content)) as zf:
        assert zf.namelist() == ["clerk.json"]


def test_only_admins_export_and_unknown_clerks_are_404(api: ApiUsers, two_clerks: dict[str, int]) -> None:
    path = f"/api/v1/privacy/staff/{two_clerks['E001']}/export"
    for role in (Role.SUPERVISOR, Role.DUTY, Role.VIEWER):
        assert api.client(role).get(path).status_code == 403
    admin = api.client(Role.ADMIN)
    assert admin.get("/api/v1/privacy/staff/9999/export").status_code == 404
    assert admin.get(path, params={"evidence": True}).status_code == 422  # files only come in a ZIP
    assert admin.get("/api/v1/audit", params={"action": "export"}).json()["total"] == 0


def test_export_command(app: FastAPI, two_clerks: dict[str, int], tmp_path: Path,
                        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    settings = app.state.ctx.settings
    monkeypatch.setenv("CW_DASHBOARD_EVIDENCE_DIR", str(settings.evidence_dir))
    out = tmp_path / "e002.zip"
    assert main(["dashboard", "--database-url", settings.database_url, "export-clerk", "E002", "--out", str(out),
                 "--with-evidence"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["evidence_files"] == 1
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == ["clerk.json", "evidence/clip-b1.mp4"]
        doc = json.loads(zf.read("clerk.json"))
    assert doc["profile"]["employee_no"] == "E002" and "evt-clerk-a1" not in json.dumps(doc)
    assert main(["dashboard", "--database-url", settings.database_url, "export-clerk", "E404",
                 "--out", str(tmp_path / "x.zip")]) == 2
