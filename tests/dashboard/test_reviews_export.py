"""GET /api/v1/reviews/export: reviewed events -> labelled examples (real database, real ingest, real uploads)."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime

import cv2
import numpy as np
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from broker.boxes import DETAILS_KEY, LabelledBox, encode_boxes
from broker.evidence import SHA256_HEADER, evidence_path
from broker.payloads import EventPhase, EvidenceRef, Rule
from dashboard.api.reviews import SKIPPED_HEADER
from dashboard.enums import Role
from dashboard.ingest.apply import Ingestor
from tests.dashboard import factories as f
from tests.dashboard.helpers import ApiUsers, register

pytestmark = pytest.mark.db

EXPORT = "/api/v1/reviews/export"


def jpeg(seed: int) -> bytes:
    image = np.random.default_rng(seed).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    return cv2.imencode(".jpg", image)[1].tobytes()


def boxes(*items: tuple[str, float, float, float, float]) -> dict[str, str | int | float | bool]:
    return {DETAILS_KEY: encode_boxes([LabelledBox(*b) for b in items])}


class Hall:
    """One device; events go through the real ingest, snapshots through the real upload endpoint."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.token = register(app.state.ctx.db)
        self.device = TestClient(app)
        self.supervisor = ApiUsers(app).client(Role.SUPERVISOR)
        self.n = 0

    def event(self, rule: Rule, details: dict[str, str | int | float | bool] | None = None, *,
              upload: bool = True) -> str:
        self.n += 1
        event_id, snap_id = f"event-{self.n:04d}", f"snap-{self.n:04d}"
        body = jpeg(self.n)
        sha = hashlib.sha256(body).hexdigest()
        ref = EvidenceRef(kind="snapshot", id=snap_id, sha256=sha, content_type="image/jpeg", size=len(body))
        msg = f.event(event_id, 0, EventPhase.START, rule=rule, evidence=[ref], details=details or {})
        result = Ingestor(self.app.state.ctx.db).apply([f.raw(msg)])
        assert result.counts["accepted"] == 1, result
        if upload:
            r = self.device.put(evidence_path(snap_id), content=body, headers={
                "Authorization": f"Bearer {self.token}", "Content-Type": "image/jpeg", SHA256_HEADER: sha})
            assert r.status_code == 201, r.text
        return event_id

    def review(self, event_id: str, verdict: str, reason: str | None = None) -> None:
        r = self.supervisor.post(f"/api/v1/events/{event_id}/reviews", json={"verdict": verdict, "reason": reason})
        assert r.status_code == 201, r.text


def by_event(items: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    return {str(i["event_id"]): i for i in items}


def test_export_maps_verdicts_to_examples_and_says_what_it_skipped(app: FastAPI) -> None:
    hall = Hall(app)
    phone = ("phone", 10, 20, 30, 60)
    person = ("person", 0, 0, 80, 120)
    confirmed = hall.event(Rule.PHONE_USE, boxes(person, phone))
    false_phone = hall.event(Rule.PHONE_USE, boxes(person, phone))
    false_eating = hall.event(Rule.EATING)  # no stored boxes: a plain negative
    excused = hall.event(Rule.PHONE_USE, boxes(phone))
    missed = hall.event(Rule.ABSENCE_OVER_30MIN)
    unlabelled = hall.event(Rule.SLIPPERS)
    not_uploaded = hall.event(Rule.PHONE_USE, boxes(phone), upload=False)
    camera = hall.event(Rule.CAMERA_OBSTRUCTED)
    broken = hall.event(Rule.PHONE_USE, {DETAILS_KEY: "phone:1,2"})
    changed_mind = hall.event(Rule.EATING, boxes(("food", 5, 5, 25, 25)))
    hall.event(Rule.PHONE_USE, boxes(phone))  # never reviewed
    hall.review(confirmed, "confirm")
    hall.review(false_phone, "dismiss", "false_alarm")
    hall.review(false_eating, "dismiss", "false_alarm")
    hall.review(excused, "dismiss", "excused")
    hall.review(missed, "dismiss", "false_alarm")
    hall.review(unlabelled, "confirm")
    hall.review(not_uploaded, "confirm")
    hall.review(camera, "dismiss", "false_alarm")
    hall.review(broken, "confirm")
    hall.review(changed_mind, "confirm")
    hall.review(changed_mind, "dismiss", "false_alarm")  # the latest review counts

    r = hall.supervisor.get(EXPORT)
    assert r.status_code == 200, r.text
    items = by_event(r.json())
    assert set(items) == {confirmed, false_phone, false_eating, changed_mind}
    assert items[confirmed]["verdict"] == "confirmed"
    assert items[confirmed]["boxes"] == [
        {"cls": "person", "x1": 0.0, "y1": 0.0, "x2": 80.0, "y2": 120.0},
        {"cls": "phone", "x1": 10.0, "y1": 20.0, "x2": 30.0, "y2": 60.0},
    ]
    # The phone that was not there becomes background; the clerk stays labelled.
    assert items[false_phone]["verdict"] == "rejected"
    assert [b["cls"] for b in items[false_phone]["boxes"]] == ["person"]  # type: ignore[attr-defined]
    assert items[false_eating] == {**items[false_eating], "verdict": "rejected", "boxes": []}
    assert items[changed_mind]["verdict"] == "rejected" and items[changed_mind]["boxes"] == []
    # Evidence is keyed per device, so the URL names the device (an id two devices share stays unambiguous).
    assert items[confirmed]["snapshot_url"] == f"/api/v1/evidence/snap-0001?device={f.DEVICE}"
    assert json.loads(r.headers[SKIPPED_HEADER]) == {
        "camera_health": 1, "dismissed_not_false_alarm": 1, "missed_detection": 1, "no_boxes": 1,
        "no_snapshot": 1, "unreadable_boxes": 1,
    }
    # The snapshot URL serves the image to the same reviewer token.
    snap = hall.supervisor.get(str(items[confirmed]["snapshot_url"]))
    assert snap.status_code == 200 and snap.headers["content-type"] == "image/jpeg"


def test_since_returns_only_later_reviews_oldest_first(app: FastAPI) -> None:
    hall = Hall(app)
    first = hall.event(Rule.EATING)
    hall.review(first, "dismiss", "false_alarm")
    time.sleep(0.05)
    cut = datetime.now(UTC)
    time.sleep(0.05)
    second, third = hall.event(Rule.EATING), hall.event(Rule.SLIPPERS)
    hall.review(third, "dismiss", "false_alarm")
    hall.review(second, "dismiss", "false_alarm")
    everything = hall.supervisor.get(EXPORT).json()
    assert [i["event_id"] for i in everything] == [first, third, second]
    later = hall.supervisor.get(EXPORT, params={"since": cut.isoformat()}).json()
    assert [i["event_id"] for i in later] == [third, second]
    assert hall.supervisor.get(EXPORT, params={"since": cut.isoformat(), "limit": 1}).json()[0]["event_id"] == third
    # Paging on with since = the last reviewed_at: nothing is lost.
    last = later[-1]["reviewed_at"]
    assert [i["event_id"] for i in hall.supervisor.get(EXPORT, params={"since": last}).json()] == [second]


@pytest.mark.parametrize(("params", "field"), [
    ({"since": "2026-11-02T09:00:00"}, "since"),  # no timezone: ambiguous, refused
    ({"since": "yesterday"}, "since"),
    ({"limit": "0"}, "limit"),
    ({"limit": "many"}, "limit"),
])
def test_bad_parameters_are_422_naming_the_field(app: FastAPI, params: dict[str, str], field: str) -> None:
    r = ApiUsers(app).client(Role.ADMIN).get(EXPORT, params=params)
    assert r.status_code == 422
    assert [e["loc"] for e in r.json()["detail"]] == [["query", field]]


def test_only_reviewers_with_credentials_may_export(app: FastAPI) -> None:
    users = ApiUsers(app)
    token = register(app.state.ctx.db)
    assert TestClient(app).get(EXPORT).status_code == 401
    assert TestClient(app, headers={"Authorization": "Bearer cwt_not-a-token"}).get(EXPORT).status_code == 401
    assert TestClient(app, headers={"Authorization": f"Bearer {token}"}).get(EXPORT).status_code == 401  # a device
    assert users.client(Role.DUTY).get(EXPORT).status_code == 403
    assert users.client(Role.VIEWER).get(EXPORT).status_code == 403
    assert users.client(Role.SUPERVISOR).get(EXPORT).json() == []
    assert users.browser(Role.ADMIN).get(EXPORT).status_code == 200
