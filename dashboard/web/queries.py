"""What the web pages read, on core's SQLAlchemy models. (What they write goes through dashboard.services,
the same code the API calls.)

The views are plain dataclasses so templates never trigger lazy loads, and the live (SSE) endpoints can
fingerprint a row to send only what changed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from broker.payloads import Rule
from dashboard.db.models import (
    AbsenceClassification,
    AlertAck,
    Camera,
    Device,
    Event,
    EventAttribution,
    LeaveRecord,
    OffPostNotice,
    PresenceInterval,
    Review,
    Roster,
    Staff,
    StateChange,
    User,
    Window,
)
from dashboard.enums import DeviceStatus, LeaveStatus, PresenceState
from dashboard.services.alerts import escalated_clause, is_escalated

# -- hall board -----------------------------------------------------------------------------------------
BOARD_STATES = ("staffed", "paused", "unattended", "camera_offline", "unobserved")
_PRESENCE_TO_BOARD = {
    PresenceState.PRESENT: "staffed",
    PresenceState.SIGN_ON: "paused",
    PresenceState.ABSENT: "unattended",
    PresenceState.UNOBSERVED: "unobserved",
}


@dataclass(frozen=True)
class WindowStatus:
    id: int
    code: str
    name: str | None
    state: str  # one of BOARD_STATES
    since: datetime | None
    clerks: tuple[str, ...]
    camera: str | None
    camera_health: str | None
    customers: int
    open_alerts: int


def board_state(
    latest: PresenceState | None, camera_health: str | None, device_status: DeviceStatus | None
) -> str:
    """A blind camera or an offline node is camera health, never a clerk's absence: it wins over presence."""
    if device_status is DeviceStatus.OFFLINE or (camera_health is not None and camera_health != "ok"):
        return "camera_offline"
    if latest is None:
        return "unobserved"
    return _PRESENCE_TO_BOARD[latest]


def on_duty(db: Session, window_ids: Sequence[int], at: datetime) -> dict[int, list[str]]:
    rows = db.execute(
        select(Roster.window_id, Staff.name)
        .join(Staff, Staff.id == Roster.staff_id)
        .where(Roster.window_id.in_(window_ids), Roster.start <= at, Roster.end > at)
        .order_by(Staff.name)
    ).all()
    names: dict[int, list[str]] = defaultdict(list)
    for window_id, name in rows:
        names[window_id].append(name)
    return names


def hall_board(db: Session, site_id: str | None, now: datetime) -> list[WindowStatus]:
    q = select(Window).where(Window.active.is_(True)).order_by(Window.code)
    if site_id:
        q = q.where(Window.site_id == site_id)
    windows = list(db.scalars(q))
    ids = [w.id for w in windows]
    if not ids:
        return []
    # The latest state change per window (max id within the window's latest changed_at is good enough:
    # ids grow with ingest order, and the board only needs "what is it now").
    latest_ids = select(func.max(StateChange.id)).where(StateChange.window_id.in_(ids)).group_by(StateChange.window_id)
    latest = {s.window_id: s for s in db.scalars(select(StateChange).where(StateChange.id.in_(latest_ids)))}
    camera_ids = {w.camera_id for w in windows if w.camera_id} | {s.camera_id for s in latest.values()}
    cameras = {c.id: c for c in db.scalars(select(Camera).where(Camera.id.in_(camera_ids)))} if camera_ids else {}
    device_ids = {c.device_id for c in cameras.values()}
    devices = {d.id: d for d in db.scalars(select(Device).where(Device.id.in_(device_ids)))}
    open_counts = dict(
        db.execute(
            select(Event.window_id, func.count())
            .where(Event.window_id.in_(ids), Event.acknowledged_at.is_(None), Event.ended_at.is_(None))
            .group_by(Event.window_id)
        ).all()
    )
    clerks = on_duty(db, ids, now)
    out = []
    for w in windows:
        change = latest.get(w.id)
        camera = cameras.get(w.camera_id or (change.camera_id if change else -1))
        device = devices.get(camera.device_id) if camera else None
        state = board_state(change.state if change else None, camera.health if camera else None,
                            device.status if device else None)
        since: datetime | None
        if state == "camera_offline":
            since = (camera.health_at if camera and camera.health not in (None, "ok") else None) or (
                device.status_at if device else None)
        else:
            since = change.changed_at if change else None
        out.append(WindowStatus(
            id=w.id, code=w.code, name=w.name, state=state, since=since, clerks=tuple(clerks.get(w.id, ())),
            camera=(camera.name or camera.code) if camera else None, camera_health=camera.health if camera else None,
            customers=change.customers if change and state != "camera_offline" else 0,
            open_alerts=open_counts.get(w.id, 0),
        ))
    return out


# -- alerts ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AlertView:
    pk: int
    event_id: str
    window_id: int
    window: str
    rule: str
    severity: str
    started_at: datetime
    ended_at: datetime | None
    duration_s: float
    confidence: float
    clerks: tuple[str, ...]
    acked_at: datetime | None
    acked_by: str | None
    ack_note: str | None
    verdict: str | None
    escalated: bool
    has_evidence: bool
    device_id: str  # whose evidence ids clip_id / snapshot_id are
    clip_id: str | None
    snapshot_id: str | None
    seq: int

    def fingerprint(self) -> tuple[Any, ...]:
        """What, when changed, must be re-sent to open pages."""
        return (self.seq, self.ended_at, self.acked_at, self.verdict, self.escalated)


@dataclass(frozen=True)
class AlertFilter:
    window: int | None = None
    rule: str | None = None
    status: str = "open"  # open (not acknowledged) | escalated (open past the escalation time) | all


def _evidence_id(event: Event, kind: str) -> str | None:
    for ref in event.evidence or []:
        if isinstance(ref, dict) and ref.get("kind") == kind and ref.get("id"):
            return str(ref["id"])
    return None


def alert_views(db: Session, events: Sequence[Event], now: datetime, escalation: timedelta) -> list[AlertView]:
    if not events:
        return []
    pks = [e.id for e in events]
    windows = {w.id: w for w in db.scalars(select(Window).where(Window.id.in_({e.window_id for e in events})))}
    clerks: dict[int, list[str]] = defaultdict(list)
    for event_pk, name in db.execute(
        select(EventAttribution.event_pk, Staff.name).join(Staff, Staff.id == EventAttribution.staff_id)
        .where(EventAttribution.event_pk.in_(pks))
    ):
        clerks[event_pk].append(name)
    acks: dict[int, tuple[datetime, str, str | None]] = {}
    for event_pk, at, who, display, note in db.execute(
        select(AlertAck.event_pk, AlertAck.at, User.username, User.display_name, AlertAck.note)
        .join(User, User.id == AlertAck.user_id).where(AlertAck.event_pk.in_(pks)).order_by(AlertAck.at)
    ):
        acks.setdefault(event_pk, (at, display or who, note))  # the first acknowledgement is the one
    out = []
    for e in events:
        w = windows.get(e.window_id)
        ack = acks.get(e.id)
        end = e.ended_at or now
        out.append(AlertView(
            pk=e.id, event_id=e.event_id, window_id=e.window_id, window=(w.name or w.code) if w else "?",
            rule=e.rule, severity=e.severity, started_at=e.started_at, ended_at=e.ended_at,
            duration_s=max(0.0, (end - e.started_at).total_seconds()), confidence=e.confidence,
            clerks=tuple(clerks.get(e.id, ())), acked_at=ack[0] if ack else e.acknowledged_at,
            acked_by=ack[1] if ack else None, ack_note=ack[2] if ack else None,
            verdict=e.verdict.value if e.verdict else None, escalated=is_escalated(e, now, escalation),
            has_evidence=bool(e.evidence), device_id=e.device_id, clip_id=_evidence_id(e, "clip"),
            snapshot_id=_evidence_id(e, "snapshot"),
            seq=e.seq,
        ))
    return out


def alerts(db: Session, flt: AlertFilter, now: datetime, escalation: timedelta, limit: int = 100) -> list[AlertView]:
    q = select(Event).order_by(Event.id.desc()).limit(limit)
    if flt.window is not None:
        q = q.where(Event.window_id == flt.window)
    if flt.rule:
        q = q.where(Event.rule == flt.rule)
    if flt.status in ("open", "escalated"):
        q = q.where(Event.acknowledged_at.is_(None))
    if flt.status == "escalated":
        q = q.where(escalated_clause(now, escalation))
    return alert_views(db, list(db.scalars(q)), now, escalation)


def alert(db: Session, pk: int, now: datetime, escalation: timedelta) -> AlertView | None:
    event = db.get(Event, pk)
    return alert_views(db, [event], now, escalation)[0] if event else None


def alerts_version(db: Session) -> tuple[Any, ...]:
    """A cheap token that changes whenever any alert could look different: a new or updated event (ingest
    bumps ``updated_at``), an acknowledgement or a review, from this UI or from the REST API."""
    return tuple(db.execute(select(
        select(func.max(Event.id)).scalar_subquery(), select(func.max(Event.updated_at)).scalar_subquery(),
        select(func.max(AlertAck.id)).scalar_subquery(), select(func.max(Review.id)).scalar_subquery(),
    )).one())


def alert_counts(db: Session, now: datetime, escalation: timedelta) -> dict[str, int]:
    unacked = Event.acknowledged_at.is_(None)
    return {
        "unacked": db.scalar(select(func.count()).select_from(Event).where(unacked)) or 0,
        "escalated": db.scalar(select(func.count()).select_from(Event).where(escalated_clause(now, escalation))) or 0,
    }


def latest_event_pk(db: Session) -> int:
    return db.scalar(select(func.max(Event.id))) or 0


# -- review ---------------------------------------------------------------------------------------------
REVIEWABLE_RULES = tuple(r.value for r in Rule if not r.is_camera_health)


@dataclass(frozen=True)
class ReviewView:
    verdict: str
    reason: str | None
    note: str | None
    by: str
    at: datetime


def review_queue(db: Session, status: str, limit: int = 200) -> list[Event]:
    """Closed events awaiting a verdict (``pending``) or already judged (``reviewed``), oldest first for the
    pending queue (work through it in order), newest first for the history."""
    q = select(Event).where(Event.ended_at.is_not(None), Event.rule.in_(REVIEWABLE_RULES))
    if status == "reviewed":
        q = q.where(Event.verdict.is_not(None)).order_by(Event.id.desc())
    else:
        q = q.where(Event.verdict.is_(None)).order_by(Event.id)
    return list(db.scalars(q.limit(limit)))


def review_counts(db: Session) -> dict[str, int]:
    base = select(func.count()).select_from(Event).where(Event.ended_at.is_not(None),
                                                         Event.rule.in_(REVIEWABLE_RULES))
    return {"pending": db.scalar(base.where(Event.verdict.is_(None))) or 0,
            "reviewed": db.scalar(base.where(Event.verdict.is_not(None))) or 0}


def latest_review(db: Session, event_pk: int) -> ReviewView | None:
    row = db.execute(
        select(Review, User.username, User.display_name).join(User, User.id == Review.user_id)
        .where(Review.event_pk == event_pk).order_by(Review.at.desc(), Review.id.desc()).limit(1)
    ).first()
    if row is None:
        return None
    r, username, display = row
    return ReviewView(r.verdict.value, r.reason.value if r.reason else None, r.note, display or username, r.at)


# -- leave and off-post notices -------------------------------------------------------------------------
@dataclass(frozen=True)
class LeaveView:
    id: int
    staff: str
    type: str
    start: datetime
    end: datetime
    status: str
    approval_level: str
    reason: str | None
    decided_by: str | None  # the approver of an approved leave, the rejecter of a rejected one
    decided_at: datetime | None


def leave_records(db: Session, limit: int = 100) -> list[LeaveView]:
    approver, rejecter = User.__table__.alias("approver"), User.__table__.alias("rejecter")
    rows = db.execute(
        select(LeaveRecord, Staff.name, approver.c.display_name, approver.c.username, rejecter.c.display_name,
               rejecter.c.username)
        .join(Staff, Staff.id == LeaveRecord.staff_id)
        .outerjoin(approver, approver.c.id == LeaveRecord.approved_by)
        .outerjoin(rejecter, rejecter.c.id == LeaveRecord.rejected_by)
        .order_by(LeaveRecord.start.desc()).limit(limit)
    )
    out = []
    for r, name, a_display, a_user, r_display, r_user in rows:
        rejected = r.status is LeaveStatus.REJECTED
        out.append(LeaveView(r.id, name, r.type.value, r.start, r.end, r.status.value, r.approval_level.value,
                             r.reason, (r_display or r_user) if rejected else (a_display or a_user),
                             r.rejected_at if rejected else r.approved_at))
    return out


@dataclass(frozen=True)
class NoticeView:
    id: int
    staff: str
    reason: str
    left_at: datetime
    expected_return: datetime
    actual_return: datetime | None
    created_by: int | None

    @property
    def minutes(self) -> int:
        return max(1, round((self.expected_return - self.left_at).total_seconds() / 60))


def recent_notices(db: Session, limit: int = 20) -> list[NoticeView]:
    rows = db.execute(select(OffPostNotice, Staff.name).join(Staff, Staff.id == OffPostNotice.staff_id)
                      .order_by(OffPostNotice.left_at.desc()).limit(limit))
    return [NoticeView(n.id, name, n.reason, n.left_at, n.expected_return, n.actual_return, n.created_by)
            for n, name in rows]


@dataclass(frozen=True)
class AbsenceView:
    staff: str
    window: str
    start: datetime
    end: datetime | None
    classification: str


def recent_absences(db: Session, since: datetime, limit: int = 100) -> list[AbsenceView]:
    rows = db.execute(
        select(AbsenceClassification.classification, Staff.name, Window.code, Window.name,
               PresenceInterval.start, PresenceInterval.end)
        .join(PresenceInterval, PresenceInterval.id == AbsenceClassification.interval_id)
        .join(Staff, Staff.id == AbsenceClassification.staff_id)
        .join(Window, Window.id == PresenceInterval.window_id)
        .where(or_(PresenceInterval.end.is_(None), PresenceInterval.end >= since))
        .order_by(PresenceInterval.start.desc()).limit(limit)
    )
    return [AbsenceView(name, wname or wcode, start, end, cls.value) for cls, name, wcode, wname, start, end in rows]


# -- small lookups --------------------------------------------------------------------------------------
def windows(db: Session) -> list[Window]:
    return list(db.scalars(select(Window).order_by(Window.site_id, Window.code)))


def active_staff(db: Session) -> list[Staff]:
    return list(db.scalars(select(Staff).where(Staff.active.is_(True)).order_by(Staff.name)))


def latest_snapshot_id(db: Session, camera_id: int) -> str | None:
    """The newest snapshot any event of this camera carried (for the zone editor's background)."""
    for event in db.scalars(select(Event).where(Event.camera_id == camera_id).order_by(Event.id.desc()).limit(50)):
        snap = _evidence_id(event, "snapshot")
        if snap:
            return snap
    return None
