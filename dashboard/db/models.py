"""The dashboard's records (SQLAlchemy 2, typed). Times are UTC-aware everywhere (:class:`UtcDateTime`).

Natural ids from the MQTT contract (site, device) are primary keys; cameras and windows get surrogate keys
with a unique natural pair, because their ids are only unique within a device / a site.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from dashboard.db.types import UtcDateTime, str_enum
from dashboard.enums import (
    ApprovalLevel,
    Classification,
    DeviceStatus,
    LeaveStatus,
    LeaveType,
    PresenceState,
    ReviewReason,
    Role,
    Verdict,
)

# Deterministic constraint names, so Alembic can alter them on every backend.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime(), dict[str, Any]: JSON, list[Any]: JSON}


# -- places and things ---------------------------------------------------------------------------------
class Site(Base):
    __tablename__ = "site"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Device(Base):
    """An edge node (one MQTT identity). Only registered devices are ingested."""

    __tablename__ = "device"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("site.id"), index=True)
    name: Mapped[str | None] = mapped_column(String(128))
    # sha256 of the evidence upload token (the token itself is shown once, at registration).
    upload_token_hash: Mapped[str | None] = mapped_column(String(64))
    token_issued_at: Mapped[datetime | None]
    status: Mapped[DeviceStatus] = mapped_column(str_enum(DeviceStatus), default=DeviceStatus.UNKNOWN)
    status_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]
    software_version: Mapped[str | None] = mapped_column(String(64))
    model_version: Mapped[str | None] = mapped_column(String(64))
    heartbeat: Mapped[dict[str, Any] | None]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    cameras: Mapped[list[Camera]] = relationship(back_populates="device")


class Camera(Base):
    __tablename__ = "camera"
    __table_args__ = (UniqueConstraint("device_id", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("device.id"))
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(128))
    health: Mapped[str | None] = mapped_column(String(16))  # ok / offline / frozen / obstructed / dark
    health_at: Mapped[datetime | None]
    health_detail: Mapped[str | None] = mapped_column(String(256))
    fps: Mapped[float | None] = mapped_column(Float)
    last_frame_at: Mapped[datetime | None]

    device: Mapped[Device] = relationship(back_populates="cameras")


class Window(Base):
    """A service window (窗口). ``code`` is the id edge devices use in topics."""

    __tablename__ = "window"
    __table_args__ = (UniqueConstraint("site_id", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("site.id"))
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(128))
    camera_id: Mapped[int | None] = mapped_column(ForeignKey("camera.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


# -- people -------------------------------------------------------------------------------------------
class Staff(Base):
    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("site.id"), index=True)
    employee_no: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    department: Mapped[str | None] = mapped_column(String(128))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Roster(Base):
    """Staff assigned to a window over [start, end)."""

    __tablename__ = "roster"
    __table_args__ = (Index("ix_roster_window_time", "window_id", "start", "end"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    window_id: Mapped[int] = mapped_column(ForeignKey("window.id"))
    start: Mapped[datetime]
    end: Mapped[datetime]


class LeaveRecord(Base):
    __tablename__ = "leave_record"
    __table_args__ = (Index("ix_leave_staff_time", "staff_id", "start", "end"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    type: Mapped[LeaveType] = mapped_column(str_enum(LeaveType))
    start: Mapped[datetime]
    end: Mapped[datetime]
    status: Mapped[LeaveStatus] = mapped_column(str_enum(LeaveStatus), default=LeaveStatus.PENDING)
    reason: Mapped[str | None] = mapped_column(Text)
    approval_level: Mapped[ApprovalLevel] = mapped_column(str_enum(ApprovalLevel))
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    approved_at: Mapped[datetime | None]
    # Who turned the request down (never recorded as its approver).
    rejected_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    rejected_at: Mapped[datetime | None]
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class OffPostNotice(Base):
    """离岗登记: a clerk registered leaving the window; the actual return is filled from presence."""

    __tablename__ = "off_post_notice"
    __table_args__ = (Index("ix_notice_staff_time", "staff_id", "left_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    window_id: Mapped[int | None] = mapped_column(ForeignKey("window.id"))
    reason: Mapped[str] = mapped_column(String(256))
    left_at: Mapped[datetime]
    expected_return: Mapped[datetime]
    actual_return: Mapped[datetime | None]
    created_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# -- what the edge reported ---------------------------------------------------------------------------
class Event(Base):
    """One event (start/update/end folded into a row), keyed by the edge's ``event_id``."""

    __tablename__ = "event"
    __table_args__ = (
        Index("ix_event_window_started", "window_id", "started_at"),
        Index("ix_event_rule_started", "rule", "started_at"),
        Index("ix_event_started", "started_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("site.id"))
    device_id: Mapped[str] = mapped_column(ForeignKey("device.id"))
    camera_id: Mapped[int] = mapped_column(ForeignKey("camera.id"))
    window_id: Mapped[int] = mapped_column(ForeignKey("window.id"))
    rule: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    phase: Mapped[str] = mapped_column(String(8))
    seq: Mapped[int] = mapped_column(Integer)  # highest seq folded in
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    sent_at: Mapped[datetime]  # sent_at of the highest-seq message
    confidence: Mapped[float] = mapped_column(Float)
    subtype: Mapped[str | None] = mapped_column(String(32))
    model_version: Mapped[str | None] = mapped_column(String(64))
    evidence: Mapped[list[Any]] = mapped_column(default=list)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Denormalised for the alert list: set by acknowledgement / review.
    acknowledged_at: Mapped[datetime | None]
    verdict: Mapped[Verdict | None] = mapped_column(str_enum(Verdict))

    attributions: Mapped[list[EventAttribution]] = relationship(
        back_populates="event", cascade="all, delete-orphan", order_by="EventAttribution.staff_id"
    )


class EventAttribution(Base):
    """The clerk(s) rostered on the event's window when it started; absence rules also get a class."""

    __tablename__ = "event_attribution"
    __table_args__ = (UniqueConstraint("event_pk", "staff_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_pk: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    classification: Mapped[Classification | None] = mapped_column(str_enum(Classification))
    leave_id: Mapped[int | None] = mapped_column(ForeignKey("leave_record.id", ondelete="SET NULL"))
    notice_id: Mapped[int | None] = mapped_column(ForeignKey("off_post_notice.id", ondelete="SET NULL"))

    event: Mapped[Event] = relationship(back_populates="attributions")


class StateChange(Base):
    """Every distinct StateMessage (idempotent on ``state_id``): the source presence is rebuilt from."""

    __tablename__ = "state_change"
    __table_args__ = (Index("ix_state_window_changed", "window_id", "changed_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    state_id: Mapped[str] = mapped_column(String(64), unique=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("device.id"))
    camera_id: Mapped[int] = mapped_column(ForeignKey("camera.id"))
    window_id: Mapped[int] = mapped_column(ForeignKey("window.id"))
    at: Mapped[datetime]
    changed_at: Mapped[datetime]
    state: Mapped[PresenceState] = mapped_column(str_enum(PresenceState))
    staff_count: Mapped[int] = mapped_column(Integer)
    customers: Mapped[int] = mapped_column(Integer)
    in_service_hours: Mapped[bool] = mapped_column(Boolean)
    sign_cue: Mapped[str | None] = mapped_column(String(16))


class PresenceInterval(Base):
    """A maximal run of one presence state at one window; ``end`` is None while it lasts."""

    __tablename__ = "presence_interval"
    __table_args__ = (Index("ix_presence_window_start", "window_id", "start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    window_id: Mapped[int] = mapped_column(ForeignKey("window.id"))
    state: Mapped[PresenceState] = mapped_column(str_enum(PresenceState))
    start: Mapped[datetime]
    end: Mapped[datetime | None]

    classifications: Mapped[list[AbsenceClassification]] = relationship(
        back_populates="interval", cascade="all, delete-orphan", order_by="AbsenceClassification.staff_id"
    )


class AbsenceClassification(Base):
    """Why a rostered clerk was away during one ``absent`` interval."""

    __tablename__ = "absence_classification"
    __table_args__ = (UniqueConstraint("interval_id", "staff_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    interval_id: Mapped[int] = mapped_column(ForeignKey("presence_interval.id", ondelete="CASCADE"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    classification: Mapped[Classification] = mapped_column(str_enum(Classification))
    leave_id: Mapped[int | None] = mapped_column(ForeignKey("leave_record.id", ondelete="SET NULL"))
    notice_id: Mapped[int | None] = mapped_column(ForeignKey("off_post_notice.id", ondelete="SET NULL"))

    interval: Mapped[PresenceInterval] = relationship(back_populates="classifications")


class Evidence(Base):
    """A stored snapshot or clip (uploaded by a device over HTTP, see broker/evidence.py).

    Evidence ids are the device's own: the key is (device, id), so one device's upload can neither block nor
    replace another's, and an event refers to the evidence of the device that reported it."""

    __tablename__ = "evidence"
    __table_args__ = (PrimaryKeyConstraint("device_id", "id"),)

    id: Mapped[str] = mapped_column(String(64))
    device_id: Mapped[str] = mapped_column(ForeignKey("device.id"))
    content_type: Mapped[str] = mapped_column(String(32))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    storage_key: Mapped[str] = mapped_column(String(256))
    stored_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set when the retention job deleted the file (dashboard/retention.py); the row stays as the record.
    purged_at: Mapped[datetime | None]


class DeadLetter(Base):
    """A message that could not be ingested, with the reason: a prefix of its payload (the ingest's
    ``dead_letter_payload_bytes``), its full size and sha256. Only the newest rows are kept."""

    __tablename__ = "dead_letter"
    __table_args__ = (Index("ix_dead_letter_received", "received_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    topic: Mapped[str] = mapped_column(String(512))
    code: Mapped[str] = mapped_column(String(32), index=True)
    reason: Mapped[str] = mapped_column(Text)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    payload_size: Mapped[int | None] = mapped_column(Integer)
    payload_sha256: Mapped[str | None] = mapped_column(String(64))


class IngestCounter(Base):
    """Running totals of the ingest (``accepted``, ``duplicate``, ``rejected.<code>`` ...)."""

    __tablename__ = "ingest_counter"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


# -- what people did ----------------------------------------------------------------------------------
class User(Base):
    __tablename__ = "app_user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(128))
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[Role] = mapped_column(str_enum(Role))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Bumped on password change: invalidates existing session cookies.
    session_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]


class UserSession(Base):
    """A signed-in browser. The cookie carries a random id whose sha256 is kept here, so signing out (or a
    password change, or deactivation) ends the session on the server: a copied cookie stops working."""

    __tablename__ = "user_session"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    ip: Mapped[str | None] = mapped_column(String(64))


class UserSite(Base):
    """A hall a user may see. A supervisor, duty officer or viewer with at least one grant is hall-scoped
    (sees only those halls); without any grant the user sees every hall (a city-wide role). Admins are
    never scoped."""

    __tablename__ = "user_site"

    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("site.id", ondelete="CASCADE"), primary_key=True)
    granted_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiToken(Base):
    """A bearer token for scripts, acting as its user. Only the sha256 is kept."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


class AlertAck(Base):
    __tablename__ = "alert_ack"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_pk: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    note: Mapped[str | None] = mapped_column(Text)


class Review(Base):
    """A supervisor's verdict on an event after watching its evidence; the latest one counts."""

    __tablename__ = "review"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    event_pk: Mapped[int] = mapped_column(ForeignKey("event.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    verdict: Mapped[Verdict] = mapped_column(str_enum(Verdict))
    reason: Mapped[ReviewReason | None] = mapped_column(str_enum(ReviewReason))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditLog(Base):
    """Every clip view and every change of a record."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(64))  # username, "device:<id>" or "system"
    action: Mapped[str] = mapped_column(String(32))  # create / update / delete / view / login ...
    entity: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    ip: Mapped[str | None] = mapped_column(String(64))


class ModelVersion(Base):
    __tablename__ = "model_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[str] = mapped_column(String(64), unique=True)
    url: Mapped[str] = mapped_column(String(2048))
    sha256: Mapped[str] = mapped_column(String(64))
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ModelRolloutRecord(Base):
    """A rollout command sent to one device (published retained on its cmd/model topic)."""

    __tablename__ = "model_rollout"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_version.id"))
    device_id: Mapped[str] = mapped_column(ForeignKey("device.id"), index=True)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    issued_by: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"))
