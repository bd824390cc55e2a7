"""Versioned message payloads.

Every payload carries ``v`` (the contract's schema version). A reader accepts exactly the versions it knows
and rejects the rest with a reason, so an old dashboard never half-reads a newer edge. Times are UTC,
timezone-aware; naive datetimes are refused at the boundary.
"""

from __future__ import annotations

from datetime import UTC, datetime
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


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = 1
    site: SegmentId
    device: SegmentId


class EvidenceRef(BaseModel):
    """A snapshot or clip uploaded (or to be uploaded) to the dashboard's evidence store."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["snapshot", "clip"]
    id: SegmentId
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    content_type: Literal["image/jpeg", "video/mp4"]
    size: int = Field(ge=0)
    duration_s: float | None = Field(default=None, ge=0)


class EventMessage(_Message):
    """One step of an event's lifecycle. ``event_id`` is stable across start/update/end and redeliveries;
    ``seq`` increases by one per message of the same event so a reader can order them."""

    event_id: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    seq: int = Field(ge=0)
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
    details: dict[str, str | int | float | bool] = Field(default_factory=dict, max_length=32)

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
    staff_count: int = Field(ge=0)
    sign: bool
    sign_cue: Literal["aruco", "ocr", "detector"] | None = None
    customers: int = Field(ge=0, default=0)
    in_service_hours: bool
    observed: bool = Field(description="False while the camera is blind: presence is then unknown")


class NodeStatus(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


class StatusMessage(_Message):
    """Retained node availability; the ``offline`` form is registered as the MQTT Last Will."""

    status: NodeStatus
    at: UtcDatetime
    software_version: str | None = None
    model_version: str | None = None


class CameraHealth(_Message):
    """Retained per-camera health: a blind camera is camera health, never a clerk's absence."""

    camera: SegmentId
    at: UtcDatetime
    status: Literal["ok", "offline", "frozen", "obstructed", "dark"]
    fps: float = Field(ge=0)
    last_frame_at: UtcDatetime | None = None
    detail: str | None = Field(default=None, max_length=256)


class RolloutReport(BaseModel):
    """What became of the last model rollout command, repeated in every heartbeat until the next one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

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
    uptime_s: float = Field(ge=0)
    outbox_depth: int = Field(ge=0)
    outbox_clip_bytes: int = Field(ge=0, default=0)
    outbox_full: bool = False
    outbox_awaiting_receipt: int = Field(ge=0, default=0, description="sent, PUBACKed, no receipt yet")
    receipt_resends: int = Field(ge=0, default=0, description="messages sent again for want of a receipt (total)")
    mqtt_reconnects: int = Field(ge=0, default=0, description="broker connections re-established (this run)")
    dropped_clips: int = Field(ge=0, default=0)
    clips_recovered: int = Field(ge=0, default=0, description="clips finished after an edge restart (total)")
    clips_truncated: int = Field(ge=0, default=0, description="clips recovered with their recording cut short")
    clips_lost_on_restart: int = Field(ge=0, default=0, description="clips a crash left nothing playable of")
    cameras: dict[str, str] = Field(default_factory=dict, description="camera id -> health status")
    analysis_fps: dict[str, float] = Field(default_factory=dict)
    model_version: str | None = None
    model_rollout: RolloutReport | None = None
    clock_offset_s: float | None = None


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
