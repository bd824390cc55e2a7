"""Request and response bodies of the API (pydantic at the boundary)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from broker.payloads import SegmentId
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

T = TypeVar("T")
DbId = Annotated[int, Field(ge=1, le=2**31 - 1)]


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def Keep(**constraints: Any) -> Any:
    """A PATCH field whose column requires a value: leave it out to keep the current value; an explicit
    ``null`` is refused (422), and the schema says so (no ``null`` in its type, no ``default``)."""
    return Field(default=None, json_schema_extra=_no_default, **constraints)


class ORM(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


# -- auth ---------------------------------------------------------------------------------------------
class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class UserOut(ORM):
    id: int
    username: str
    display_name: str | None
    role: Role
    active: bool
    created_at: datetime
    last_login_at: datetime | None


class LoginOut(BaseModel):
    user: UserOut
    csrf_token: str


class UserIn(BaseModel):
    username: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    password: str = Field(min_length=8, max_length=256)
    role: Role
    display_name: str | None = Field(default=None, max_length=128)


class UserPatch(BaseModel):
    role: Role = Keep()
    active: bool = Keep()
    display_name: str | None = Field(default=None, max_length=128)
    password: str = Keep(min_length=8, max_length=256)


class UserSitesIn(BaseModel):
    sites: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]] = Field(
        max_length=1000, description="hall (site) ids; empty: every hall")


class UserSitesOut(BaseModel):
    user_id: int
    sites: list[str]
    scoped: bool = Field(description="true when the user sees only these halls")


class TokenIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    expires_at: AwareDatetime | None = None


class TokenOut(ORM):
    id: int
    name: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked: bool


class TokenIssued(TokenOut):
    token: str = Field(description="shown once; keep it secret")


# -- places and devices -----------------------------------------------------------------------------
class SiteIn(BaseModel):
    id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    name: str = Field(min_length=1, max_length=128)
    timezone: str = "Asia/Shanghai"


class SiteOut(ORM):
    id: str
    name: str
    timezone: str


class WindowIn(BaseModel):
    site_id: str
    code: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    name: str | None = Field(default=None, max_length=128)


class WindowOut(ORM):
    id: int
    site_id: str
    code: str
    name: str | None
    camera_id: int | None
    active: bool


class CameraOut(ORM):
    id: int
    device_id: str
    code: str
    name: str | None
    health: str | None
    health_at: datetime | None
    health_detail: str | None
    fps: float | None
    last_frame_at: datetime | None


class CameraSpecIn(BaseModel):
    # Topic segments (broker/topics.py): a bad code is a 422 here, never a TopicError deeper down.
    code: SegmentId
    windows: list[SegmentId] = Field(default_factory=list, max_length=64)


class DeviceIn(BaseModel):
    id: SegmentId
    site_id: str
    name: str | None = None
    cameras: list[CameraSpecIn] = Field(default_factory=list, max_length=64)


class DeviceOut(ORM):
    id: str
    site_id: str
    name: str | None
    status: DeviceStatus
    status_at: datetime | None
    last_seen_at: datetime | None
    software_version: str | None
    model_version: str | None
    heartbeat: dict[str, Any] | None
    active: bool
    token_issued_at: datetime | None
    cameras: list[CameraOut] = Field(default_factory=list)


class DeviceRegistered(DeviceOut):
    upload_token: str = Field(description="evidence upload token; shown once")


# -- people -------------------------------------------------------------------------------------------
class StaffIn(BaseModel):
    site_id: str
    employee_no: str = Field(min_length=1, max_length=32)
    name: str = Field(min_length=1, max_length=64)
    department: str | None = Field(default=None, max_length=128)


class StaffPatch(BaseModel):
    name: str = Keep(min_length=1, max_length=64)
    department: str | None = Field(default=None, max_length=128)
    active: bool = Keep()


class StaffOut(ORM):
    id: int
    site_id: str
    employee_no: str
    name: str
    department: str | None
    active: bool


class _Span(BaseModel):
    start: AwareDatetime
    end: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> _Span:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class RosterIn(_Span):
    staff_id: DbId
    window_id: DbId


class RosterOut(ORM):
    id: int
    staff_id: int
    window_id: int
    start: datetime
    end: datetime


class LeaveIn(BaseModel):
    staff_id: DbId
    type: LeaveType
    start: AwareDatetime
    end: AwareDatetime
    reason: str | None = Field(default=None, max_length=2000)
    status: LeaveStatus = LeaveStatus.PENDING


class LeavePatch(BaseModel):
    type: LeaveType = Keep()
    start: AwareDatetime = Keep()
    end: AwareDatetime = Keep()
    reason: str | None = Field(default=None, max_length=2000)


class LeaveOut(ORM):
    id: int
    staff_id: int
    type: LeaveType
    start: datetime
    end: datetime
    status: LeaveStatus
    reason: str | None
    approval_level: ApprovalLevel
    approved_by: int | None
    approved_at: datetime | None
    rejected_by: int | None
    rejected_at: datetime | None
    created_at: datetime


class LeaveImportError(BaseModel):
    row: int
    error: str


class LeaveImportRejected(BaseModel):
    """422 of the leave import: the row-by-row errors (nothing imported), or why the file was not read."""

    detail: str | list[Any] = Field(description="a message, or FastAPI's validation errors")
    errors: list[LeaveImportError] = Field(default_factory=list)


class LeaveImportOut(BaseModel):
    imported: int
    ids: list[int]


class NoticeIn(BaseModel):
    staff_id: DbId
    window_id: DbId | None = None
    reason: str = Field(min_length=1, max_length=256)
    left_at: AwareDatetime
    expected_return: AwareDatetime

    @model_validator(mode="after")
    def _ordered(self) -> NoticeIn:
        if self.expected_return <= self.left_at:
            raise ValueError("expected_return must be after left_at")
        return self


class NoticePatch(BaseModel):
    expected_return: AwareDatetime = Keep()
    actual_return: AwareDatetime | None = None
    reason: str = Keep(min_length=1, max_length=256)


class NoticeOut(ORM):
    id: int
    staff_id: int
    window_id: int | None
    reason: str
    left_at: datetime
    expected_return: datetime
    actual_return: datetime | None
    created_at: datetime


# -- events -------------------------------------------------------------------------------------------
class AttributionOut(ORM):
    staff_id: int
    classification: Classification | None
    leave_id: int | None
    notice_id: int | None


class EventOut(ORM):
    id: int
    event_id: str
    site_id: str
    device_id: str
    camera_id: int
    window_id: int
    rule: str
    severity: str
    phase: str
    seq: int
    started_at: datetime
    ended_at: datetime | None
    confidence: float
    subtype: str | None
    model_version: str | None
    evidence: list[dict[str, Any]]
    details: dict[str, Any]
    received_at: datetime
    acknowledged_at: datetime | None
    verdict: Verdict | None
    attributions: list[AttributionOut]


class AlertOut(EventOut):
    escalated: bool


class AckIn(BaseModel):
    note: str | None = Field(default=None, max_length=2000)


class AckOut(ORM):
    id: int
    event_pk: int
    user_id: int
    at: datetime
    note: str | None


class ReviewIn(BaseModel):
    verdict: Verdict
    reason: ReviewReason | None = None
    note: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _reason_for_dismissal(self) -> ReviewIn:
        if self.verdict is Verdict.DISMISS and self.reason is None:
            raise ValueError("a dismissal needs a reason: false_alarm, excused or other")
        return self


class ReviewOut(ORM):
    id: int
    event_pk: int
    user_id: int
    verdict: Verdict
    reason: ReviewReason | None
    note: str | None
    at: datetime


class IntervalOut(ORM):
    id: int
    window_id: int
    state: PresenceState
    start: datetime
    end: datetime | None


# -- operations ---------------------------------------------------------------------------------------
class AuditOut(ORM):
    id: int
    at: datetime
    user_id: int | None
    actor: str
    action: str
    entity: str
    entity_id: str | None
    detail: dict[str, Any]
    ip: str | None


class DeadLetterOut(BaseModel):
    id: int
    received_at: datetime
    topic: str
    code: str
    reason: str
    payload: str = Field(description="the raw payload, decoded as UTF-8 with replacement characters")


class ModelVersionIn(BaseModel):
    version: str = Field(min_length=1, max_length=64)
    url: str = Field(min_length=1, max_length=2048)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    notes: str | None = None


class ModelVersionOut(ORM):
    id: int
    version: str
    url: str
    sha256: str
    notes: str | None
    created_at: datetime


class RolloutIn(BaseModel):
    devices: list[str] | None = Field(default=None, description="device ids; omitted: every active device")


class RolloutOut(BaseModel):
    version: str
    devices: list[str]
