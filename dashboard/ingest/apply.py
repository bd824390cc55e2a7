"""Fold a batch of raw MQTT messages into the database, in one transaction.

Idempotent by construction: events are keyed by ``event_id`` and ordered by ``seq`` (an older seq never
overwrites newer fields, it only fills what is missing), state changes by ``state_id``, status/health by
their timestamps. A redelivered or replayed message therefore changes nothing."""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, selectinload

from broker.codec import Message, Rejected, decode
from broker.payloads import (
    CameraHealth,
    EventMessage,
    HeartbeatMessage,
    StateMessage,
    StatusMessage,
    clock_skew,
)
from broker.topics import Topic
from dashboard.db.engine import Database
from dashboard.db.models import (
    Camera,
    DeadLetter,
    Device,
    Event,
    IngestCounter,
    StateChange,
    Window,
)
from dashboard.db.relink import Linker
from dashboard.enums import DeviceStatus, PresenceState
from dashboard.linking import presence_state
from dashboard.settings import IngestSettings

log = logging.getLogger("counterwatch.dashboard.ingest")


@dataclass(frozen=True)
class RawMessage:
    topic: str
    payload: bytes
    received_at: datetime
    mid: int = 0  # MQTT packet id, for the manual ACK after commit


@dataclass(frozen=True)
class IngestLimits:
    """What a device's message may claim (clock skew) and what a rejected one may cost (dead-letter size)."""

    clock_ahead: timedelta = timedelta(hours=24)
    clock_behind: timedelta = timedelta(days=3650)
    dead_letter_payload_bytes: int = 4096
    dead_letter_max_rows: int = 100_000

    @classmethod
    def from_settings(cls, settings: IngestSettings) -> IngestLimits:
        return cls(timedelta(seconds=settings.clock_ahead_s), timedelta(days=settings.clock_behind_days),
                   settings.dead_letter_payload_bytes, settings.dead_letter_max_rows)


@dataclass
class BatchResult:
    counts: Counter[str] = field(default_factory=Counter)

    def add(self, other: BatchResult) -> None:
        self.counts.update(other.counts)


class Ingestor:
    def __init__(self, db: Database, grace: timedelta = timedelta(minutes=5),
                 limits: IngestLimits | None = None) -> None:
        self.db = db
        self.grace = grace
        self.limits = limits or IngestLimits()
        self.totals: Counter[str] = Counter()

    def apply(self, messages: Sequence[RawMessage], extra: Mapping[str, int] | None = None) -> BatchResult:
        """Commit the batch; on an unexpected error, fall back to one message per transaction so one bad
        message cannot hold the others back (it is dead-lettered with code ``ingest_error``).

        A database that cannot be reached is not the message's fault: that error is raised (nothing is
        dead-lettered) and the caller retries the batch. ``extra`` counters (the consumer's health figures)
        are added to the running totals in the same transaction."""
        try:
            with self.db.session() as session:
                result = _Batch(session, self.grace, self.limits).run(messages, extra)
        except Exception as exc:
            if database_unavailable(exc):
                raise
            log.exception("batch of %d failed; retrying message by message", len(messages))
            result = BatchResult()
            for message in messages:
                try:
                    with self.db.session() as session:
                        result.add(_Batch(session, self.grace, self.limits).run([message]))
                except Exception as exc:
                    if database_unavailable(exc):
                        raise  # gone mid-way: what was committed stays, the batch is retried (idempotent)
                    with self.db.session() as session:
                        bad = _Batch(session, self.grace, self.limits)
                        bad.dead_letter(message, Rejected("ingest_error", f"{type(exc).__name__}: {exc}"))
                        bad.save_counts()
                        result.add(bad.result)
            if extra:
                with self.db.session() as session:
                    health = _Batch(session, self.grace, self.limits)
                    health.result.counts.update(extra)
                    health.save_counts()
                    result.add(health.result)
        self.totals.update(result.counts)
        return result


def database_unavailable(exc: BaseException) -> bool:
    """The database could not be reached or dropped the connection (server down, restarting, locked,
    pool exhausted): retry later; the message itself is fine."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError))


class _Batch:
    def __init__(self, session: Session, grace: timedelta, limits: IngestLimits) -> None:
        self.s = session
        self.grace = grace
        self.limits = limits
        self.dead_lettered = 0
        self.result = BatchResult()
        self.devices: dict[str, Device] = {}
        self.cameras: dict[tuple[str, str], Camera] = {}
        self.windows: dict[tuple[str, str], Window] = {}
        self.events: dict[str, Event] = {}
        self.touched_events: dict[str, Event] = {}
        self.presence_since: dict[int, datetime] = {}
        self.seen_states: set[str] = set()
        self.seen_changes: set[tuple[int, datetime, PresenceState]] = set()

    def run(self, messages: Sequence[RawMessage], extra: Mapping[str, int] | None = None) -> BatchResult:
        decoded: list[tuple[RawMessage, Topic, Message]] = []
        for raw in messages:
            try:
                topic, message = decode(raw.topic, raw.payload)
            except Rejected as rejected:
                self.dead_letter(raw, rejected)
                continue
            decoded.append((raw, topic, message))
        self._preload(decoded)
        for raw, topic, message in decoded:
            device = self.devices.get(topic.device)
            if device is None or not device.active:
                self.dead_letter(raw, Rejected("unknown_device", f"device {topic.device!r} is not registered"))
                continue
            if device.site_id != topic.site:
                self.dead_letter(raw, Rejected(
                    "identity_mismatch", f"device {device.id!r} is registered at site {device.site_id!r}, "
                    f"not {topic.site!r}"))
                continue
            try:
                skew = clock_skew(message, raw.received_at, self.limits.clock_ahead, self.limits.clock_behind)
                if skew is not None:
                    raise Rejected("clock_skew", skew)
                changed = self._apply(device, topic, message, raw)
            except Rejected as rejected:
                self.dead_letter(raw, rejected)
                continue
            self.result.counts["accepted" if changed else "duplicate"] += 1
        self.s.flush()
        linker = Linker(self.s, self.grace)
        linker.link_events(list(self.touched_events.values()))
        for window_id, since in self.presence_since.items():
            linker.rebuild_presence(window_id, since)
        if extra:
            self.result.counts.update(extra)
        self.save_counts()
        return self.result

    # -- bookkeeping -------------------------------------------------------------------------------
    def dead_letter(self, raw: RawMessage, rejected: Rejected) -> None:
        """Keep what was rejected, bounded: a prefix of the payload with its full size and sha256 (a hostile
        device must not grow the database by sending big or many bad messages)."""
        self.s.add(DeadLetter(
            received_at=raw.received_at, topic=_storable(raw.topic[:512]), code=rejected.code[:32],
            reason=_storable(rejected.reason[:2000]), payload=raw.payload[:self.limits.dead_letter_payload_bytes],
            payload_size=len(raw.payload), payload_sha256=hashlib.sha256(raw.payload).hexdigest(),
        ))
        self.dead_lettered += 1
        self.result.counts["rejected"] += 1
        self.result.counts[f"rejected.{rejected.code}"] += 1
        log.warning("dead-lettered %s: %s", raw.topic, rejected)

    def save_counts(self) -> None:
        """Add this batch's counts in one atomic upsert: several ingest workers bump the same rows at once,
        and a read-modify-write would lose increments (or collide inserting a new name)."""
        if self.dead_lettered:
            self._prune_dead_letters()
        counts = self.result.counts
        if not counts:
            return
        insert = pg_insert if self.s.get_bind().dialect.name == "postgresql" else sqlite_insert
        stmt = insert(IngestCounter).values([{"name": n, "value": v} for n, v in sorted(counts.items())])
        self.s.execute(stmt.on_conflict_do_update(
            index_elements=[IngestCounter.name], set_={"value": IngestCounter.value + stmt.excluded.value}))

    def _prune_dead_letters(self) -> None:
        """Keep the newest ``dead_letter_max_rows`` dead letters; the counters keep the totals."""
        self.s.flush()
        cut = self.s.scalar(select(DeadLetter.id).order_by(DeadLetter.id.desc())
                            .offset(self.limits.dead_letter_max_rows).limit(1))
        if cut is not None:
            self.s.execute(delete(DeadLetter).where(DeadLetter.id <= cut))

    def _preload(self, decoded: list[tuple[RawMessage, Topic, Message]]) -> None:
        """One query per table for the whole batch instead of one per message."""
        device_ids = {t.device for _, t, _ in decoded}
        if device_ids:
            self.devices = {d.id: d for d in self.s.scalars(select(Device).where(Device.id.in_(device_ids)))}
        for cam in self.s.scalars(select(Camera).where(Camera.device_id.in_(device_ids))):
            self.cameras[(cam.device_id, cam.code)] = cam
        sites = {t.site for _, t, _ in decoded}
        for win in self.s.scalars(select(Window).where(Window.site_id.in_(sites))):
            self.windows[(win.site_id, win.code)] = win
        event_ids = {m.event_id for _, _, m in decoded if isinstance(m, EventMessage)}
        if event_ids:
            for ev in self.s.scalars(
                select(Event).where(Event.event_id.in_(event_ids)).options(selectinload(Event.attributions))
            ):
                self.events[ev.event_id] = ev
        state_ids = {m.state_id for _, _, m in decoded if isinstance(m, StateMessage)}
        if state_ids:
            self.seen_states = set(self.s.scalars(
                select(StateChange.state_id).where(StateChange.state_id.in_(state_ids))
            ))

    def _camera(self, device: Device, code: str) -> Camera:
        key = (device.id, code)
        cam = self.cameras.get(key)
        if cam is None:
            cam = Camera(device_id=device.id, code=code)
            self.s.add(cam)
            self.s.flush()
            self.cameras[key] = cam
        return cam

    def _window(self, site: str, code: str, camera: Camera) -> Window:
        key = (site, code)
        win = self.windows.get(key)
        if win is None:
            win = Window(site_id=site, code=code, camera_id=camera.id)
            self.s.add(win)
            self.s.flush()
            self.windows[key] = win
        return win

    # -- per message kind --------------------------------------------------------------------------
    def _apply(self, device: Device, topic: Topic, message: Message, raw: RawMessage) -> bool:
        if isinstance(message, EventMessage):
            return self._event(device, message, raw)
        if isinstance(message, StateMessage):
            return self._state(device, message)
        horizon = raw.received_at + self.limits.clock_ahead
        if isinstance(message, StatusMessage):
            return _status(device, message, horizon)
        if isinstance(message, HeartbeatMessage):
            return _heartbeat(device, message, horizon)
        if isinstance(message, CameraHealth):
            return _health(device, self._camera(device, message.camera), message, horizon)
        return False  # model commands are not subscribed to

    def _check_owner(self, row: Event, device: Device, msg: EventMessage) -> None:
        """An event belongs to the (site, device, camera, window) that created it: event ids are guessable
        (a hash of those and the onset), so a message from anywhere else must not fold into it."""
        camera = self.cameras.get((device.id, msg.camera))
        window = self.windows.get((msg.site, msg.window))
        if (row.site_id, row.device_id) != (msg.site, device.id) or camera is None or window is None \
                or (camera.id, window.id) != (row.camera_id, row.window_id):
            raise Rejected("event_owner_mismatch",
                           f"event {msg.event_id!r} belongs to device {row.device_id!r} at site {row.site_id!r} "
                           f"(its own camera and window), not to {device.id!r} at {msg.site!r} "
                           f"{msg.camera}/{msg.window}")

    def _event(self, device: Device, msg: EventMessage, raw: RawMessage) -> bool:
        row = self.events.get(msg.event_id)
        if row is not None:
            self._check_owner(row, device, msg)  # before creating anything for the sender
        camera = self._camera(device, msg.camera)
        window = self._window(msg.site, msg.window, camera)
        if row is None:
            row = Event(
                event_id=msg.event_id, site_id=msg.site, device_id=device.id, camera_id=camera.id,
                window_id=window.id, rule=msg.rule.value, severity=msg.severity.value,
                phase=msg.phase.value, seq=msg.seq, started_at=msg.started_at, ended_at=msg.ended_at,
                sent_at=msg.sent_at, confidence=msg.confidence, subtype=msg.subtype,
                model_version=msg.model_version, evidence=_evidence(msg), details=dict(msg.details),
                received_at=raw.received_at, updated_at=raw.received_at, attributions=[],
            )
            self.s.add(row)
            self.events[msg.event_id] = row
            self.touched_events[msg.event_id] = row
            return True
        if not fold_event(row, msg):
            return False
        row.updated_at = raw.received_at
        self.touched_events[msg.event_id] = row
        return True

    def _state(self, device: Device, msg: StateMessage) -> bool:
        if msg.state_id in self.seen_states:
            return False
        self.seen_states.add(msg.state_id)
        camera = self._camera(device, msg.camera)
        window = self._window(msg.site, msg.window, camera)
        state = presence_state(observed=msg.observed, present=msg.present, sign=msg.sign)
        # A periodic re-publication of an unchanged state repeats its changed_at: not a change, not a row.
        key = (window.id, msg.changed_at, state)
        if key in self.seen_changes or self.s.scalar(
            select(StateChange.id).where(StateChange.window_id == window.id,
                                         StateChange.changed_at == msg.changed_at, StateChange.state == state)
        ) is not None:
            return False
        self.seen_changes.add(key)
        self.s.add(StateChange(
            state_id=msg.state_id, device_id=device.id, camera_id=camera.id, window_id=window.id,
            at=msg.at, changed_at=msg.changed_at,
            state=state, staff_count=msg.staff_count, customers=msg.customers, in_service_hours=msg.in_service_hours,
            sign_cue=msg.sign_cue,
        ))
        since = self.presence_since.get(window.id)
        self.presence_since[window.id] = msg.changed_at if since is None else min(since, msg.changed_at)
        return True


def _storable(text: str) -> str:
    """Text as every backend can store it (PostgreSQL refuses NUL): the reason quotes what a device sent."""
    return text.replace("\x00", "\\x00")


def _evidence(msg: EventMessage) -> list[Any]:
    return [e.model_dump(mode="json") for e in msg.evidence]


def fold_event(row: Event, msg: EventMessage) -> bool:
    """Merge one lifecycle message into its event row. Returns whether anything changed.

    A newer seq wins for the mutable fields; an older one (late start after an end, a redelivery) only
    fills fields still missing. Evidence references accumulate by id either way."""
    before = _snapshot(row)
    if msg.seq > row.seq:
        row.seq = msg.seq
        row.phase = msg.phase.value
        row.severity = msg.severity.value
        row.confidence = msg.confidence
        row.sent_at = msg.sent_at
        row.started_at = msg.started_at
        if msg.ended_at is not None:
            row.ended_at = msg.ended_at
        if msg.subtype is not None:
            row.subtype = msg.subtype
        if msg.model_version is not None:
            row.model_version = msg.model_version
        row.details = {**row.details, **msg.details}
    else:
        if row.ended_at is None and msg.ended_at is not None:
            row.ended_at = msg.ended_at
        row.subtype = row.subtype or msg.subtype
        row.model_version = row.model_version or msg.model_version
        missing = {k: v for k, v in msg.details.items() if k not in row.details}
        if missing:
            row.details = {**row.details, **missing}
    known = {e["id"] for e in row.evidence}
    new_refs = [e for e in _evidence(msg) if e["id"] not in known]
    if new_refs:
        row.evidence = [*row.evidence, *new_refs]
    return _snapshot(row) != before


def _snapshot(row: Event) -> tuple[Any, ...]:
    return (row.seq, row.phase, row.severity, row.confidence, row.sent_at, row.started_at, row.ended_at,
            row.subtype, row.model_version, dict(row.details), list(row.evidence))


def _newer(previous: datetime | None, at: datetime, horizon: datetime) -> bool:
    """Whether ``at`` replaces the stored ``previous``. A stored time beyond ``horizon`` (receipt + the
    allowed clock skew) cannot be true: one stored before the clock check existed is replaced, not kept
    forever as "the newest"."""
    return previous is None or at > previous or previous > horizon


def _seen(device: Device, at: datetime, horizon: datetime) -> None:
    if _newer(device.last_seen_at, at, horizon):
        device.last_seen_at = at


def _status(device: Device, msg: StatusMessage, horizon: datetime) -> bool:
    # The edge's Last Will and the ``online`` of the same connection carry the same ``at`` (the Will is
    # armed before connecting): on that tie ``offline`` wins, so a node that drops off shows offline.
    will_of_current = (msg.at == device.status_at and msg.status.value == DeviceStatus.OFFLINE.value
                       and device.status is not DeviceStatus.OFFLINE)
    if not _newer(device.status_at, msg.at, horizon) and not will_of_current:
        return False
    device.status = DeviceStatus(msg.status.value)
    device.status_at = msg.at
    device.software_version = msg.software_version or device.software_version
    device.model_version = msg.model_version or device.model_version
    _seen(device, msg.at, horizon)
    return True


def _heartbeat(device: Device, msg: HeartbeatMessage, horizon: datetime) -> bool:
    if not _newer(device.last_seen_at, msg.at, horizon):
        return False
    device.last_seen_at = msg.at
    device.heartbeat = msg.model_dump(mode="json", exclude={"v", "site", "device"})
    device.model_version = msg.model_version or device.model_version
    return True


def _health(device: Device, camera: Camera, msg: CameraHealth, horizon: datetime) -> bool:
    if not _newer(camera.health_at, msg.at, horizon):
        return False
    camera.health = msg.status
    camera.health_at = msg.at
    camera.fps = msg.fps
    camera.last_frame_at = msg.last_frame_at
    camera.health_detail = msg.detail
    _seen(device, msg.at, horizon)
    return True

