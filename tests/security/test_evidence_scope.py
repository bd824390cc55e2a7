"""Red-team findings 2 and 12: evidence ids were global (a device that uploaded an id first made the real
owner's upload fail with 409, and its file was then shown as the owner's evidence), and evidence content
was not checked against its declared type (SVG/HTML accepted as image/jpeg or video/mp4)."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select

from broker.codec import encode
from broker.evidence import DEVICE_HEADER, SHA256_HEADER, evidence_path
from broker.payloads import EventMessage, EventPhase, EvidenceRef, Rule, Severity
from dashboard.db.engine import Database
from dashboard.db.models import Event, Evidence
from dashboard.enums import Role
from dashboard.ingest.consumer import IngestConsumer
from dashboard.web import queries
from tests.dashboard.helpers import ApiUsers
from tests.security.conftest import CAMERA, WINDOW, Device, Rig, count, wait_until

pytestmark = [pytest.mark.db, pytest.mark.integration]


def jpeg(colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buf, format="JPEG")
    return buf.getvalue()


def put(client: TestClient, dev: Device, evidence_id: str, body: bytes, content_type: str = "image/jpeg") -> int:
    r = client.put(evidence_path(evidence_id), content=body, headers={
        "Authorization": f"Bearer {dev.upload_token}", "Content-Type": content_type,
        SHA256_HEADER: hashlib.sha256(body).hexdigest(), DEVICE_HEADER: dev.device})
    return r.status_code


def test_another_devices_upload_of_the_same_id_neither_blocks_nor_replaces_the_owners(
    rig: Rig, ingest: IngestConsumer, db: Database, app: FastAPI, client: TestClient
) -> None:
    snap_id = "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6-snap"  # the edge names it after its (guessable) event id
    genuine, forged = jpeg((0, 160, 0)), jpeg((200, 0, 0))
    # The hostile device uploads the id first, before the real owner.
    assert put(client, rig.hostile, snap_id, forged) == 201
    assert put(client, rig.victim, snap_id, genuine) == 201  # was 409: the owner's evidence is refused
    now = datetime.now(UTC)
    ref = EvidenceRef(kind="snapshot", id=snap_id, sha256=hashlib.sha256(genuine).hexdigest(),
                      content_type="image/jpeg", size=len(genuine))
    event = EventMessage(site=rig.victim.site, device=rig.victim.device, camera=CAMERA, window=WINDOW,
                         event_id="a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6", seq=0, phase=EventPhase.START,
                         rule=Rule.UNATTENDED_NO_SIGN, severity=Severity.HIGH, started_at=now - timedelta(minutes=2),
                         sent_at=now, confidence=0.9, evidence=[ref])
    rig.publish(rig.victim.device, [(rig.victim.topic("event"), encode(event))])
    assert wait_until(lambda: count(db, Event) == 1)

    # What the review page links to as the event's snapshot is the owner's file, not the first uploader's.
    with db.session() as s:
        row = s.scalars(select(Event)).one()
        view = queries.alert_views(s, [row], now, timedelta(minutes=10))[0]
        assert count(db, Evidence) == 2
    sup = ApiUsers(app).client(Role.SUPERVISOR)
    page = sup.get(f"/review/{view.pk}")
    assert page.status_code == 200
    url = f"/api/v1/evidence/{snap_id}?device={rig.victim.device}"
    assert url.replace("&", "&amp;") in page.text or url in page.text
    shown = sup.get(url)
    assert shown.status_code == 200 and shown.content == genuine
    assert sup.get(f"/api/v1/evidence/{snap_id}?device={rig.hostile.device}").content == forged
    # The id alone is ambiguous now: refused, never answered with either device's file.
    assert sup.get(f"/api/v1/evidence/{snap_id}").status_code == 409
    # Re-uploads stay idempotent per device; a different body under the owner's own id is still 409.
    assert put(client, rig.victim, snap_id, genuine) == 200
    assert put(client, rig.victim, snap_id, forged) == 409


@pytest.mark.parametrize(("content_type", "body"), [
    ("image/jpeg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
    ("image/jpeg", b"<!doctype html><script>alert(document.cookie)</script>"),
    ("video/mp4", b"<html><body><script>fetch('/api/v1/users')</script></body></html>"),
    ("video/mp4", b"\xff\xd8\xff\xe0 a JPEG sent as a clip"),
    ("image/jpeg", b"\x00\x00\x00\x18ftypisom an MP4 sent as a snapshot"),
])
def test_evidence_whose_bytes_are_not_its_type_is_refused(
    victim: Device, db: Database, client: TestClient, content_type: str, body: bytes
) -> None:
    assert put(client, victim, "mislabelled-0001", body, content_type) == 415
    assert count(db, Evidence) == 0
    assert put(client, victim, "labelled-0001", jpeg((1, 2, 3))) == 201  # control
