"""Versioned message payloads.

Every payload carries ``v`` (the contract's schema version). A reader accepts exactly the versions it knows
and rejects the rest with a reason, so an old dashboard never half-reads a newer edge. Times are UTC,
timezone-aware; naive datetimes are refused at the boundary.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, model_validator

from broker.topics import SEGMENT_PATTERN, check_segment

SCHEMA_VERSION = 1


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp must carry a timezone (UTC)")
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
SegmentId = Annotated[
    str,
    AfterValidator(lambda v: check_segment(v, "id")),
    # The same rule for non-Python readers of the exported JSON Schema.
    WithJsonSchema({"type": "string", "pattern": SEGMENT_PATTERN}),
]


def utcnow() -> datetime:
    return datetime.now(UTC)


# Bounds on everything a device sends: a hostile or broken device must not store unbounded text or numbers
# the database (PostgreSQL INTEGER, JSON without NaN) or a page cannot hold.
MAX_INT = 2**31 - 1  # counters stored in INTEGER columns
MAX_JSON_INT = 2**53  # figures kept in JSON (exact in every JSON reader)
FPS_MAX = 1000  # a camera health report's frame rate (a file replayed fast runs far above real time)
DetailKey = Annotated[str, Field(min_length=1, max_length=64)]
DetailText = Annotated[str, Field(max_length=8192)]  # room for broker.boxes' MAX_BOXES boxes
DetailInt = Annotated[int, Field(ge=-MAX_JSON_INT, le=MAX_JSON_INT)]
JsonCount = Annotated[int, Field(ge=0, le=MAX_JSON_INT)]
Figure = Annotated[float, Field(ge=0, le=1e9)]
_BOUNDED = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_has_nul(v) for v in value)
    return False


class _NoNul(BaseModel):
    """No NUL character in any text: PostgreSQL cannot store one (the row would fail, not the message)."""

    @model_validator(mode="after")
    def _no_nul(self) -> _NoNul:
        for name in type(self).model_fields:
            if _has_nul(getattr(self, name)):
                raise ValueError(f"{name}: text must not contain NUL characters")
        return self


def device_timestamps(message: BaseModel) -> list[tuple[str, datetime]]:
    """Every timestamp a device put in a message (nested ones too), by field path."""
    out: list[tuple[str, datetime]] = []
    for name in type(message).model_fields:
        value = getattr(message, name)
        if isinstance(value, datetime):
            out.append((name, value))
        elif isinstance(value, BaseModel):
            out += [(f"{name}.{sub}", at) for sub, at in device_timestamps(value)]
    return out


def clock_skew(message: BaseModel, received_at: datetime, ahead: timedelta, behind: timedelta) -> str | None:
    """Why a message's timestamps cannot be true relative to when it arrived, or None when they can.

    Messages may arrive late (an outbox drains after an outage) but never from the future beyond a clock's
    drift: ``ahead`` bounds the drift, ``behind`` how old a message may be."""
    for name, at in device_timestamps(message):
        if at > received_at + ahead:
            return f"{name} {at.isoformat()} is more than {ahead} ahead of its receipt at {received_at.isoformat()}"
        if at < received_at - behind:
            return f"{name} {at.isoformat()} is more than {behind.days} days before the time of receipt"
    return None


class Rule(StrEnum):
    UNATTENDED_NO_SIGN = "unattended_no_sign"
    ABSENCE_OVER_30MIN = "absence_over_30min"
    CUSTOMER_WAITING_UNATTENDED = "customer_waiting_unattended"
    SLIPPERS = "slippers"
    EATING = "eating"
    PHONE_USE = "phone_use"
    DOZING = "dozing"  # 睡岗: head down on the desk / asleep at the post
    CAMERA_OFFLINE = "camera_offline"
    CAMERA_OBSTRUCTED = "camera_obstructed"

    @property
    def is_camera_health(self) -> bool:
        return self in (Rule.CAMERA_OFFLINE, Rule.CAMERA_OBSTRUCTED)


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class EventPhase(StrEnum):
    START = "start"
    UPDATE = "update"
    END = "end"


class _Message(_NoNul):
    model_config = _BOUNDED

    v: Literal[1] = 1
    site: SegmentId
    device: SegmentId


class EvidenceRef(_NoNul):
    """A snapshot or clip uploaded (or to be uploaded) to the dashboard's evidence store."""

    model_config = _BOUNDED

    kind: Literal["snapshot", "clip"]
    id: SegmentId
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    content_type: Literal["image/jpeg", "video/mp4"]
    size: int = Field(ge=0, le=MAX_JSON_INT)
    duration_s: float | None = Field(default=None, ge=0, le=86400)


class EventMessage(_Message):
    """One step of an event's lifecycle. ``event_id`` is stable across start/update/end and redeliveries;
    ``seq`` increases by one per message of the same event so a reader can order them."""

    event_id: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    seq: int = Field(ge=0, le=MAX_INT)
    phase: EventPhase
    rule: Rule
    severity: Severity
    camera: SegmentId
    window: SegmentId
    started_at: UtcDatetime
    ended_at: UtcDatetime | None = None
    sent_at: UtcDatetime
    confidence: float = Field(ge=0.0, le=1.0)
    subtype: str | None = Field(default=None, max_length=32)
    evidence: list[EvidenceRef] = Field(default_factory=list, max_length=8)
    model_version: str | None = Field(default=None, max_length=64)
    details: dict[DetailKey, bool | DetailInt | float | DetailText] = Field(default_factory=dict, max_length=32)

    @model_validator(mode="after")
    def _lifecycle(self) -> EventMessage:
        if self.phase is EventPhase.END and self.ended_at is None:
            raise ValueError("an 'end' message needs ended_at")
        if self.phase is not EventPhase.END and self.ended_at is not None:
            raise ValueError("only an 'end' message carries ended_at")
        if self.ended_at is not None and self.ended_at < self.started_at:
            raise ValueError("ended_at is before started_at")
        return self


class StateMessage(_Message):
    """Presence and sign state of one window, published retained on every change (and periodically).

    ``state_id`` makes redeliveries idempotent; ``changed_at`` is when the current state began, so the
    dashboard can rebuild presence intervals from the sequence of changes."""

    state_id: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    camera: SegmentId
    window: SegmentId
    at: UtcDatetime
    changed_at: UtcDatetime
    present: bool
    staff_count: int = Field(ge=0, le=1000)
    sign: bool
    sign_cue: Literal["aruco", "ocr", "detector"] | None = None
    customers: int = Field(ge=0, le=10_000, default=0)
    in_service_hours: bool
    observed: bool = Field(description="False while the camera is blind: presence is then unknown")


class NodeStatus(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


class StatusMessage(_Message):
    """Retained node availability; the ``offline`` form is registered as the MQTT Last Will."""

    status: NodeStatus
    at: UtcDatetime
    software_version: str | None = Field(default=None, max_length=64)
    model_version: str | None = Field(default=None, max_length=64)


class CameraHealth(_Message):
    """Retained per-camera health: a blind camera is camera health, never a clerk's absence."""

    camera: SegmentId
    at: UtcDatetime
    # error: the edge's analysis of this camera failed (detail: why); it restarts with back-off
    status: Literal["ok", "offline", "frozen", "obstructed", "dark", "error"]
    fps: float = Field(ge=0, le=FPS_MAX)
    last_frame_at: UtcDatetime | None = None
    detail: str | None = Field(default=None, max_length=256)


class RolloutReport(_NoNul):
    """What became of the last model rollout command, repeated in every heartbeat until the next one."""

    model_config = _BOUNDED

    version: str = Field(min_length=1, max_length=64)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    status: Literal["applied", "refused", "failed"] = Field(
        description="applied: running it; refused: wrong hash or no usable model, the old one keeps running and "
                    "the same command is not tried again; failed: could not fetch it, tried again when the "
                    "(retained) command comes back after a reconnect")
    detail: str | None = Field(default=None, max_length=256)
    at: UtcDatetime


class HeartbeatMessage(_Message):
    at: UtcDatetime
    uptime_s: float = Field(ge=0, le=1e10)
    outbox_depth: JsonCount
    outbox_clip_bytes: JsonCount = Field(default=0)
    outbox_full: bool = False
    outbox_awaiting_receipt: JsonCount = Field(default=0, description="sent, PUBACKed, no receipt yet")
    receipt_resends: JsonCount = Field(default=0, description="messages sent again for want of a receipt (total)")
    mqtt_reconnects: JsonCount = Field(default=0, description="broker connections re-established (this run)")
    dropped_clips: JsonCount = Field(default=0)
    clips_recovered: JsonCount = Field(default=0, description="clips finished after an edge restart (total)")
    clips_truncated: JsonCount = Field(default=0, description="clips recovered with their recording cut short")
    clips_lost_on_restart: JsonCount = Field(default=0, description="clips a crash left nothing playable of")
    cameras: dict[SegmentId, Annotated[str, Field(max_length=16)]] = Field(
        default_factory=dict, max_length=64, description="camera id -> health status")
    analysis_fps: dict[SegmentId, Figure] = Field(default_factory=dict, max_length=64)
    model_version: str | None = Field(default=None, max_length=64)
    model_rollout: RolloutReport | None = None
    clock_offset_s: float | None = Field(default=None, ge=-1e9, le=1e9)


class ReceiptMessage(_Message):
    """Dashboard -> device: the messages with these digests (``broker.receipts.message_digest``) are
    committed to the dashboard's database. The edge's outbox keeps each message until its receipt, not just
    until the broker's PUBACK: a broker that dies before delivering what it acknowledged loses nothing."""

    digests: list[Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]] = Field(min_length=1, max_length=1000)
    at: UtcDatetime


class ModelRollout(_Message):
    """Dashboard -> device command (retained): fetch this model, verify the hash, switch to it."""

    version: str = Field(min_length=1, max_length=64)
    url: str = Field(min_length=1, max_length=2048)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    issued_at: UtcDatetime
