"""Vocabulary shared by the records, the linker and the API (pure: no I/O, no DB)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"  # everything, including users, devices and the audit log
    SUPERVISOR = "supervisor"  # reviews clips, manages leave
    DUTY = "duty"  # acknowledges alerts, registers off-post notices
    VIEWER = "viewer"  # reads


class LeaveType(StrEnum):
    SICK = "sick"
    PERSONAL = "personal"
    ANNUAL = "annual"
    MATERNITY = "maternity"
    OFFICIAL_BUSINESS = "official_business"
    OTHER = "other"


class LeaveStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class ApprovalLevel(StrEnum):
    HALL_HEAD = "hall_head"  # 大厅负责人
    DISTRICT_LEADER = "district_leader"  # 区分管领导
    PRINCIPAL_LEADERS = "principal_leaders"  # 主要领导 (both)


class PresenceState(StrEnum):
    PRESENT = "present"
    ABSENT = "absent"
    UNOBSERVED = "unobserved"  # camera blind: camera health, never a clerk's absence
    SIGN_ON = "sign_on"  # nobody there, but the "暂停服务" sign is up


class Classification(StrEnum):
    """Why a clerk was away from the window."""

    APPROVED_LEAVE = "approved_leave"
    NOTICE_ON_TIME = "notice_on_time"
    NOTICE_LATE = "notice_late"
    UNEXCUSED = "unexcused"  # 脱岗


class Verdict(StrEnum):
    CONFIRM = "confirm"
    DISMISS = "dismiss"


class ReviewReason(StrEnum):
    FALSE_ALARM = "false_alarm"
    EXCUSED = "excused"
    OTHER = "other"


class DeviceStatus(StrEnum):
    UNKNOWN = "unknown"
    ONLINE = "online"
    OFFLINE = "offline"


class EventState(StrEnum):
    """Where an event stands for the people handling it (derived, for filtering)."""

    OPEN = "open"  # not ended, not acknowledged
    ACKNOWLEDGED = "acknowledged"
    ENDED = "ended"
    CONFIRMED = "confirmed"
    DISMISSED = "dismissed"
