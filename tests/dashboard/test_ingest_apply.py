"""The ingest fold against a real database: idempotency, ordering, rejects, presence."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from broker.codec import encode
from broker.payloads import EventPhase, Rule
from dashboard.db.engine import Database
from dashboard.db.models import (
    AbsenceClassification,
    Camera,
    DeadLetter,
    Device,
    Event,
    EventAttribution,
    IngestCounter,
    OffPostNotice,
    PresenceInterval,
    StateChange,
)
from dashboard.enums import Classification, DeviceStatus, PresenceState
from dashboard.ingest.apply import Ingestor, RawMessage
from dashboard.registry import ensure_window
from tests.dashboard import factories as f
from tests.dashboard.helpers import add_clerk, register, snapshot

pytestmark = pytest.mark.db


def _mixed_traffic() -> list[RawMessage]:
    msgs: list[object] = [f.status(f.T0), f.health(f.T0)]
    for i in range(5):
        msgs += f.lifecycle(f"evt-{i:06d}", started_at=f.T0 + timedelta(minutes=10 * i))
    msgs += f.lifecycle("evt-phone01", rule=Rule.PHONE_USE, window="w02")
    changes = [(0, True), (12, False), (20, False), (40, True), (50, False)]
    msgs += [f.state(f.T0 + timedelta(minutes=m), present=p, sign=(m == 20)) for m, p in changes]
    msgs.append(f.state(f.T0 + timedelta(minutes=60), present=False, observed=False))
    return [f.raw(m) for m in msgs]


def test_every_message_redelivered_twice_yields_identical_rows(db: Database) -> None:
    register(db)
    add_clerk(db, "w01", f.T0 - timedelta(hours=1), f.T0 + timedelta(hours=8))
    ingest = Ingestor(db)
    traffic = _mixed_traffic()
    ingest.apply(traffic)
    first = snapshot(db)
    assert len(first["event"]) == 6 and first["presence_interval"]
    # Redeliver every message twice, in a different order and split across batches.
    again = traffic * 2
    random.Random(7).shuffle(again)
    for i in range(0, len(again), 7):
        ingest.apply(again[i:i + 7])
    assert snapshot(db) == first
    assert ingest.totals["duplicate"] == len(again)
    assert ingest.totals["accepted"] == len(traffic)


def test_end_before_start_creates_the_row_and_start_fills_only_missing_fields(db: Database) -> None:
    register(db)
    ingest = Ingestor(db)
    start, update, end = f.lifecycle("evt-late00", minutes=31)
    ingest.apply([f.raw(end)])
    with db.session() as s:
        row = s.scalar(select(Event).where(Event.event_id == "evt-late00"))
        assert row is not None
        assert (row.phase, row.seq, row.ended_at) == ("end", 2, end.ended_at)
        assert row.subtype is None
    ingest.apply([f.raw(update), f.raw(start)])
    with db.session() as s:
        row = s.scalar(select(Event).where(Event.event_id == "evt-late00"))
        assert row is not None
        # The older messages could not roll the event back: still ended, still seq 2 fields...
        assert (row.phase, row.seq, row.ended_at, row.confidence) == ("end", 2, end.ended_at, end.confidence)
        # ...but the subtype only the update carried is filled in.
        assert row.subtype == "x"


def test_newer_seq_overwrites_older_fields(db: Database) -> None:
    register(db)
    ingest = Ingestor(db)
    start, update, end = f.lifecycle("evt-order0")
    ingest.apply([f.raw(start), f.raw(update)])
    ingest.apply([f.raw(start)])  # a late redelivery of seq 0
    with db.session() as s:
        row = s.scalar(select(Event).where(Event.event_id == "evt-order0"))
        assert row is not None and (row.phase, row.seq, row.confidence) == ("update", 1, update.confidence)
    ingest.apply([f.raw(end)])
    with db.session() as s:
        row = s.scalar(select(Event).where(Event.event_id == "evt-order0"))
        assert row is not None and (row.phase, row.ended_at) == ("end", end.ended_at)


@pytest.mark.parametrize(
    ("topic", "payload", "code"),
    [
        ("cw/v1/hall1/edge-a/cam1/w01/event", b"{not json", "malformed_json"),
        ("cw/v1/hall1/edge-a/cam1/w01/event", b'{"v": 9, "site": "hall1"}', "unsupported_version"),
        ("cw/v1/hall1/edge-a/cam1/w01/event", b'{"v": 1, "site": "hall1"}', "invalid_payload"),
        ("cw/v1/hall1/edge-b/cam1/w01/event", encode(f.event("evt-edgeb0", 0, EventPhase.START, device="edge-b")),
         "unknown_device"),
        ("cw/v1/hall1/edge-a/cam1/w09/event", encode(f.event("evt-mism00", 0, EventPhase.START)),
         "identity_mismatch"),
        ("cw/v1/hall1/edge-a/nonsense", b"{}", "bad_topic"),
    ],
)
def test_rejects_are_dead_lettered_with_reason_and_counted(
    db: Database, topic: str, payload: bytes, code: str
) -> None:
    register(db)
    ingest = Ingestor(db)
    ingest.apply([RawMessage(topic, payload, f.T0)])
    with db.session() as s:
        letters = list(s.scalars(select(DeadLetter)))
        assert [(d.code, d.topic, d.payload) for d in letters] == [(code, topic, payload)]
        assert letters[0].reason
        assert s.scalar(select(func.count()).select_from(Event)) == 0
        counters = {c.name: c.value for c in s.scalars(select(IngestCounter))}
    assert counters == {"rejected": 1, f"rejected.{code}": 1}


def test_presence_intervals_rebuilt_from_out_of_order_state_changes(db: Database) -> None:
    register(db)
    staff = add_clerk(db, "w01", f.T0 - timedelta(hours=1), f.T0 + timedelta(hours=8))
    ingest = Ingestor(db)
    msgs = [
        f.state(f.T0, present=True),
        f.state(f.T0 + timedelta(minutes=10), present=False),
        f.state(f.T0 + timedelta(minutes=15), present=False),  # periodic re-publication: same state
        f.state(f.T0 + timedelta(minutes=20), present=False, sign=True),
        f.state(f.T0 + timedelta(minutes=30), present=False, observed=False),
        f.state(f.T0 + timedelta(minutes=45), present=True),
    ]
    ingest.apply([f.raw(m) for m in msgs[3:]])
    ingest.apply([f.raw(m) for m in msgs[:3]])
    with db.session() as s:
        rows = list(s.scalars(select(PresenceInterval).order_by(PresenceInterval.start)))
        got = [(r.state, (r.start - f.T0).seconds // 60, r.end and (r.end - f.T0).seconds // 60) for r in rows]
        assert got == [
            (PresenceState.PRESENT, 0, 10),
            (PresenceState.ABSENT, 10, 20),
            (PresenceState.SIGN_ON, 20, 30),
            (PresenceState.UNOBSERVED, 30, 45),  # blind camera: never the clerk's absence
            (PresenceState.PRESENT, 45, None),
        ]
        classes = list(s.scalars(select(AbsenceClassification)))
        assert [(c.staff_id, c.classification) for c in classes] == [(staff, Classification.UNEXCUSED)]
        assert classes[0].interval.state is PresenceState.ABSENT


def test_notice_return_filled_from_presence(db: Database) -> None:
    register(db)
    staff = add_clerk(db, "w01", f.T0 - timedelta(hours=1), f.T0 + timedelta(hours=8))
    with db.session() as s:
        window_id = ensure_window(s, "hall1", "w01").id
        s.add(OffPostNotice(staff_id=staff, window_id=window_id, reason="取材料", left_at=f.T0 + timedelta(minutes=9),
                            expected_return=f.T0 + timedelta(minutes=25)))
    ingest = Ingestor(db)
    ingest.apply([f.raw(f.state(f.T0, present=True)), f.raw(f.state(f.T0 + timedelta(minutes=10), present=False)),
                  f.raw(f.state(f.T0 + timedelta(minutes=22), present=True))])
    with db.session() as s:
        notice = s.scalars(select(OffPostNotice)).one()
        assert notice.actual_return == f.T0 + timedelta(minutes=22)
        cls = s.scalars(select(AbsenceClassification)).one()
        assert cls.classification is Classification.NOTICE_ON_TIME and cls.notice_id == notice.id


def test_status_and_health_update_device_and_camera(db: Database) -> None:
    register(db)
    ingest = Ingestor(db)
    ingest.apply([f.raw(f.status(f.T0 + timedelta(minutes=5), online=False)), f.raw(f.status(f.T0)),
                  f.raw(f.health(f.T0, "obstructed"))])
    with db.session() as s:
        device = s.get(Device, "edge-a")
        assert device is not None
        assert device.status is DeviceStatus.OFFLINE  # the older "online" arrived later and lost
        camera = s.scalars(select(Camera).where(Camera.code == "cam1")).one()
        assert camera.health == "obstructed"


def test_events_attributed_to_rostered_clerks(db: Database) -> None:
    register(db)
    a = add_clerk(db, "w01", f.T0 - timedelta(hours=1), f.T0 + timedelta(minutes=20), "E001", "张三")
    b = add_clerk(db, "w01", f.T0 + timedelta(minutes=20), f.T0 + timedelta(hours=4), "E002", "李四")
    ingest = Ingestor(db)
    ingest.apply([f.raw(f.event("evt-attr01", 0, EventPhase.START, started_at=f.T0)),
                  f.raw(f.event("evt-attr02", 0, EventPhase.START, started_at=f.T0 + timedelta(minutes=30))),
                  f.raw(f.event("evt-attr03", 0, EventPhase.START, rule=Rule.CAMERA_OBSTRUCTED))])
    with db.session() as s:
        rows = s.execute(select(Event.event_id, EventAttribution.staff_id, EventAttribution.classification)
                         .join(EventAttribution).order_by(Event.event_id)).all()
        assert [tuple(r) for r in rows] == [
            ("evt-attr01", a, Classification.UNEXCUSED), ("evt-attr02", b, Classification.UNEXCUSED)
        ]


def test_periodic_republication_of_a_state_is_not_a_new_change(db: Database) -> None:
    register(db)
    ingest = Ingestor(db)
    first = f.state(f.T0, present=False)
    again = f.state(f.T0, present=False)  # new state_id, same state since the same instant
    assert first.state_id != again.state_id
    ingest.apply([f.raw(first)])
    ingest.apply([f.raw(again)])
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(StateChange)) == 1
    assert (ingest.totals["accepted"], ingest.totals["duplicate"]) == (1, 1)
