"""The real ``counterwatch models dataset-from-reviews`` against a real dashboard (uvicorn on a free port, real
database, snapshots uploaded through the device endpoint, verdicts given through the API)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import httpx
import pytest

from broker.boxes import DETAILS_KEY, LabelledBox, encode_boxes
from broker.evidence import SHA256_HEADER, evidence_path
from broker.payloads import EventPhase, EvidenceRef, Rule
from dashboard.app import create_app
from dashboard.auth.users import create_user, issue_api_token
from dashboard.db.engine import Database
from dashboard.enums import Role
from dashboard.ingest.apply import Ingestor
from dashboard.settings import DashboardSettings
from models.data.labels import read_yolo
from models.taxonomy import CLASS_ID
from tests.dashboard import factories as f
from tests.dashboard.conftest import db_url, postgres_database, postgres_server  # noqa: F401  (fixtures)
from tests.dashboard.helpers import register
from tests.support.http import serve_app

pytestmark = [pytest.mark.db, pytest.mark.integration]
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Live:
    base_url: str
    db: Database
    device_token: str
    supervisor_token: str
    duty_token: str


@pytest.fixture
def live(db_url: str, tmp_path: Path) -> Iterator[Live]:  # noqa: F811
    settings = DashboardSettings(database_url=db_url, evidence_dir=tmp_path / "evidence",
                                 state_dir=tmp_path / "state", session_secret="reviews-" + "x" * 32,
                                 admin_password="admin-password-1")
    db = Database(db_url)
    app = create_app(settings, db=db)
    device_token = register(db)
    with db.session() as s:
        supervisor = create_user(s, "super", "super-password-1", Role.SUPERVISOR)
        duty = create_user(s, "duty", "duty-password-1", Role.DUTY)
        tokens = issue_api_token(s, supervisor, "training").token, issue_api_token(s, duty, "x").token
    try:
        with serve_app(app, "uvicorn-reviews-test") as base:
            yield Live(base, db, device_token, *tokens)
    finally:
        db.dispose()


def office_frames(clip: Path, n: int) -> list[bytes]:
    """Real JPEG snapshots: frames of the office CCTV clip, encoded as the edge does."""
    cap = cv2.VideoCapture(str(clip))
    out: list[bytes] = []
    while len(out) < n:
        ok, frame = cap.read()
        assert ok, "clip too short"
        for _ in range(10):  # frames a little apart
            cap.grab()
        out.append(cv2.imencode(".jpg", cv2.resize(frame, (640, 360)), [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes())
    cap.release()
    return out


def seed(live: Live, snapshots: list[bytes]) -> dict[str, str]:
    """Events through the real ingest, snapshots through the device upload, verdicts through the API.
    Returns event id -> what it should become ("positive", "negative", "skipped")."""
    person, phone = LabelledBox("person", 200, 40, 420, 350), LabelledBox("phone", 300, 150, 340, 210)
    plan = [  # (rule, stored boxes, verdict, reason, expected)
        (Rule.PHONE_USE, [person, phone], "confirm", None, "positive"),
        (Rule.PHONE_USE, [phone], "dismiss", "false_alarm", "negative"),
        (Rule.EATING, [], "dismiss", "false_alarm", "negative"),
        (Rule.PHONE_USE, [phone], "dismiss", "excused", "skipped"),
    ]
    expected: dict[str, str] = {}
    sup = {"Authorization": f"Bearer {live.supervisor_token}"}
    with httpx.Client(base_url=live.base_url, timeout=10) as http:
        for i, ((rule, boxes, verdict, reason, outcome), body) in enumerate(zip(plan, snapshots, strict=True)):
            event_id, snap_id = f"event-{i:04d}", f"snap-{i:04d}"
            sha = hashlib.sha256(body).hexdigest()
            ref = EvidenceRef(kind="snapshot", id=snap_id, sha256=sha, content_type="image/jpeg", size=len(body))
            details: dict[str, str | int | float | bool] = {DETAILS_KEY: encode_boxes(boxes)} if boxes else {}
            msg = f.event(event_id, 0, EventPhase.START, rule=rule, evidence=[ref], details=details)
            assert Ingestor(live.db).apply([f.raw(msg)]).counts["accepted"] == 1
            r = http.put(evidence_path(snap_id), content=body, headers={
                "Authorization": f"Bearer {live.device_token}", "Content-Type": "image/jpeg", SHA256_HEADER: sha})
            assert r.status_code == 201, r.text
            r = http.post(f"/api/v1/events/{event_id}/reviews", json={"verdict": verdict, "reason": reason},
                          headers=sup)
            assert r.status_code == 201, r.text
            expected[event_id] = outcome
    return expected


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("counterwatch")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "counterwatch.cli"]
    return subprocess.run([*cmd, "models", "dataset-from-reviews", *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_dataset_from_reviews_against_a_live_dashboard(live: Live, office_clip: Path, tmp_path: Path) -> None:
    snapshots = office_frames(office_clip, 4)
    seed(live, snapshots)
    out = tmp_path / "reviews-ds"
    run = cli("--dashboard", live.base_url, "--token", live.supervisor_token, "--out", str(out))
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert sum(summary["written"].values()) == 3
    assert summary["failed_downloads"] == 0 and summary["skipped_unknown_class"] == {}
    assert summary["skipped_by_dashboard"] == {"dismissed_not_false_alarm": 1}
    assert summary["last_reviewed_at"]

    images = sorted(out.glob("images/*/*.jpg"))
    labels = sorted(out.glob("labels/*/*.txt"))
    assert len(images) == len(labels) == 3
    # Every image is one of the uploaded snapshots, byte for byte, and has its label file beside it.
    assert {p.read_bytes() for p in images} <= set(snapshots)
    for image in images:
        assert (out / "labels" / image.parent.name / f"{image.stem}.txt").exists()
    parsed = sorted((read_yolo(p, 640, 360) for p in labels), key=len)
    assert [len(b) for b in parsed] == [0, 0, 2]  # two negatives (empty label files), one positive
    person, phone = sorted(parsed[2], key=lambda b: b.cls)
    assert (person.cls, phone.cls) == (CLASS_ID["person"], CLASS_ID["phone"])
    assert [round(v) for v in (phone.x1, phone.y1, phone.x2, phone.y2)] == [300, 150, 340, 210]
    positive = next(p for p in images if (out / "labels" / p.parent.name / f"{p.stem}.txt").read_text().strip())
    assert positive.read_bytes() == snapshots[0]

    # Paging on from the newest exported review (inclusive): it and the later excused one come back, and
    # writing the same snapshot again replaces its files rather than adding any.
    again = cli("--dashboard", live.base_url, "--token", live.supervisor_token, "--out", str(out),
                "--since", summary["last_reviewed_at"])
    assert again.returncode == 0, again.stderr
    later = json.loads(again.stdout)
    assert sum(later["written"].values()) == 1 and later["skipped_by_dashboard"] == {"dismissed_not_false_alarm": 1}
    assert len(list(out.glob("images/*/*.jpg"))) == 3


def test_wrong_role_and_bad_since_fail_with_the_dashboards_reason(live: Live, tmp_path: Path) -> None:
    duty = cli("--dashboard", live.base_url, "--token", live.duty_token, "--out", str(tmp_path / "x"))
    assert duty.returncode == 2 and "HTTP 403" in duty.stderr and "role duty" in duty.stderr
    naive = cli("--dashboard", live.base_url, "--token", live.supervisor_token, "--out", str(tmp_path / "x"),
                "--since", "2026-11-02T09:00:00")
    assert naive.returncode == 2 and "HTTP 422" in naive.stderr and "since" in naive.stderr
    assert not (tmp_path / "x").exists()
