"""Red-team finding 1: a device rewrote another site's event by publishing that event's id on its own topic.

Replayed against the real broker (both engines) and the real ingest: the forged message must be
dead-lettered with a reason, and the victim's event, cameras and windows must not change at all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from broker.codec import encode
from broker.payloads import EventMessage, EventPhase, EvidenceRef, Rule, Severity
from dashboard.db.engine import Database
from dashboard.db.models import Camera, DeadLetter, Event, Window
from dashboard.ingest.consumer import IngestConsumer
from tests.security.conftest import CAMERA, WINDOW, Device, Rig, count, wait_until

pytestmark = [pytest.mark.db, pytest.mark.integration]


def victim_event(dev: Device, **changes: Any) -> EventMessage:
    now = datetime.now(UTC).replace(microsecond=0)
    fields: dict[str, Any] = dict(
        site=dev.site, device=dev.device, camera=CAMERA, window=WINDOW, event_id="a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6",
        seq=0, phase=EventPhase.START, rule=Rule.UNATTENDED_NO_SIGN, severity=Severity.HIGH,
        started_at=now - timedelta(minutes=3), sent_at=now, confidence=0.93, details={"absent_s": 180})
    fields.update(changes)
    return EventMessage(**fields)


def event_row(db: Database, event_id: str) -> tuple[Any, ...]:
    with db.session() as s:
        e = s.scalars(select(Event).where(Event.event_id == event_id)).one()
        return (e.site_id, e.device_id, e.camera_id, e.window_id, e.seq, e.phase, e.severity, e.confidence,
                e.ended_at, e.details, e.evidence, e.updated_at)


def test_device_cannot_rewrite_another_sites_event(rig: Rig, ingest: IngestConsumer, db: Database) -> None:
    genuine = victim_event(rig.victim)
    rig.publish(rig.victim.device, [(rig.victim.topic("event"), encode(genuine))])
    assert wait_until(lambda: count(db, Event) == 1)
    before = event_row(db, genuine.event_id)
    cameras_before, windows_before = count(db, Camera), count(db, Window)

    # The attack as reproduced: hall2's device, on its own topic, "ends" hall1's event with its own evidence.
    now = datetime.now(UTC)
    forged = victim_event(
        rig.hostile, seq=99, phase=EventPhase.END, severity=Severity.LOW, confidence=0.01,
        started_at=genuine.started_at, ended_at=now, sent_at=now, details={"note": "false alarm"},
        evidence=[EvidenceRef(kind="snapshot", id="forged-snap", sha256="0" * 64, content_type="image/jpeg",
                              size=10)])
    # Same camera and window codes, other device/site: every part of the event's owner differs but the id.
    rig.publish(rig.hostile.device, [(rig.hostile.topic("event"), encode(forged))])

    assert wait_until(lambda: count(db, DeadLetter) == 1), "the forged event was not dead-lettered"
    with db.session() as s:
        letter = s.scalars(select(DeadLetter)).one()
    assert letter.code == "event_owner_mismatch"
    assert rig.victim.device in letter.reason and letter.topic == rig.hostile.topic("event")
    assert event_row(db, genuine.event_id) == before
    assert (count(db, Camera), count(db, Window)) == (cameras_before, windows_before)  # nothing created either
    assert count(db, Event) == 1


def test_same_device_other_window_cannot_take_over_its_own_event(rig: Rig, ingest: IngestConsumer,
                                                                 db: Database) -> None:
    """The owner is (site, device, camera, window): even the same device cannot move an event elsewhere."""
    genuine = victim_event(rig.victim)
    rig.publish(rig.victim.device, [(rig.victim.topic("event"), encode(genuine))])
    assert wait_until(lambda: count(db, Event) == 1)
    before = event_row(db, genuine.event_id)
    moved = victim_event(rig.victim, window="w09", seq=1, phase=EventPhase.UPDATE, severity=Severity.LOW)
    topic = f"cw/v1/{rig.victim.site}/{rig.victim.device}/{CAMERA}/w09/event"
    follow_up = victim_event(rig.victim, seq=2, phase=EventPhase.UPDATE, confidence=0.95)
    rig.publish(rig.victim.device, [(topic, encode(moved)), (rig.victim.topic("event"), encode(follow_up))])
    assert wait_until(lambda: count(db, DeadLetter) == 1 and event_row(db, genuine.event_id)[4] == 2)
    with db.session() as s:
        assert s.scalars(select(DeadLetter)).one().code == "event_owner_mismatch"
    after = event_row(db, genuine.event_id)
    assert after[:4] == before[:4] and after[6] == Severity.HIGH.value and after[7] == 0.95  # control folded
