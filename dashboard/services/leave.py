"""Leave records: register, change, decide (approve / reject / cancel), import. Each change re-classifies
the absences the leave covers, before and after the change."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from dashboard.db.audit import audit
from dashboard.db.models import LeaveRecord
from dashboard.db.relink import Linker
from dashboard.enums import LeaveStatus, LeaveType
from dashboard.leave import RowError, check_leave, import_leave_csv, new_leave
from dashboard.services.base import Actor, clean_text
from dashboard.services.errors import Conflict, Invalid, NotFound
from dashboard.settings import LeavePolicy

REASON_MAX = 2000
# Which status a leave may come from, for each decision.
TRANSITIONS: dict[LeaveStatus, frozenset[LeaveStatus]] = {
    LeaveStatus.APPROVED: frozenset({LeaveStatus.PENDING}),
    LeaveStatus.REJECTED: frozenset({LeaveStatus.PENDING}),
    LeaveStatus.CANCELLED: frozenset({LeaveStatus.PENDING, LeaveStatus.APPROVED}),
}


def relink(db: Session, grace: timedelta, staff_id: int, start: datetime, end: datetime) -> None:
    """A leave entered or changed after the fact re-classifies the absences it covers (core's linker)."""
    db.flush()
    Linker(db, grace).relink_staff(staff_id, start, end)


def leave_by_id(db: Session, leave_id: int) -> LeaveRecord:
    row = db.get(LeaveRecord, leave_id)
    if row is None:
        raise NotFound(f"leave record {leave_id} not found")
    return row


def create_leave(
    db: Session, actor: Actor, *, staff_id: int, type_: LeaveType, start: datetime, end: datetime,
    reason: str | None, policy: LeavePolicy, grace: timedelta, status: LeaveStatus = LeaveStatus.PENDING,
) -> LeaveRecord:
    """Core's policy decides the approval level and refuses impossible leave (LeaveError, an Invalid)."""
    row = new_leave(db, staff_id=staff_id, type_=type_, start=start, end=end, policy=policy,
                    reason=clean_text(reason, REASON_MAX), status=status, actor=actor.user)
    relink(db, grace, row.staff_id, row.start, row.end)
    audit(db, actor.user, "create", "leave", row.id,
          {"staff_id": staff_id, "type": type_.value, "start": start.isoformat(), "end": end.isoformat(),
           "status": status.value, "reason": row.reason}, ip=actor.ip)
    return row


def update_leave(db: Session, leave: LeaveRecord, actor: Actor, changes: dict[str, Any], policy: LeavePolicy,
                 grace: timedelta) -> LeaveRecord:
    for required in ("type", "start", "end"):
        if required in changes and changes[required] is None:
            raise Invalid(f"{required} cannot be cleared")
    old_start, old_end = leave.start, leave.end
    for key, value in changes.items():
        setattr(leave, key, value)
    leave.approval_level = check_leave(leave.type, leave.start, leave.end, policy)
    relink(db, grace, leave.staff_id, min(old_start, leave.start), max(old_end, leave.end))
    audit(db, actor.user, "update", "leave", leave.id,
          {k: v.isoformat() if isinstance(v, datetime) else getattr(v, "value", v) for k, v in changes.items()},
          ip=actor.ip)
    return leave


def decide_leave(db: Session, leave: LeaveRecord, decision: LeaveStatus, actor: Actor,
                 grace: timedelta) -> LeaveRecord:
    """Approve or reject a pending leave, or cancel a pending or approved one. The approver is recorded in
    ``approved_by``, the rejecter in ``rejected_by``: never one in the other's place."""
    allowed = TRANSITIONS.get(decision)
    if allowed is None:
        raise Conflict(f"{decision.value} is not a decision")
    if leave.status not in allowed:
        raise Conflict(f"a {leave.status.value} leave cannot become {decision.value}")
    leave.status = decision
    if decision is LeaveStatus.APPROVED:
        leave.approved_by, leave.approved_at = actor.user.id, actor.now
    elif decision is LeaveStatus.REJECTED:
        leave.rejected_by, leave.rejected_at = actor.user.id, actor.now
    relink(db, grace, leave.staff_id, leave.start, leave.end)
    audit(db, actor.user, decision.value, "leave", leave.id, {"approval_level": leave.approval_level.value},
          ip=actor.ip)
    return leave


def import_leave(db: Session, actor: Actor, text: str, *, policy: LeavePolicy, tz: ZoneInfo, grace: timedelta,
                 filename: str | None = None) -> tuple[list[LeaveRecord], list[RowError]]:
    """All rows or none (the caller rolls back on errors)."""
    rows, errors = import_leave_csv(db, text, policy=policy, tz=tz, actor=actor.user)
    if errors:
        return [], errors
    linker = Linker(db, grace)
    for row in rows:
        linker.relink_staff(row.staff_id, row.start, row.end)
    audit(db, actor.user, "import", "leave", None, {"count": len(rows), "file": filename}, ip=actor.ip)
    return rows, []
