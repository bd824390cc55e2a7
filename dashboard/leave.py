"""Leave policy (who must approve, how long at most) and the all-or-nothing CSV import."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard.db.models import LeaveRecord, Staff, User, utcnow
from dashboard.enums import ApprovalLevel, LeaveStatus, LeaveType
from dashboard.services.errors import Invalid
from dashboard.settings import LeavePolicy


class LeaveError(Invalid):
    """Leave the policy refuses (a ValueError, and a service refusal: the API answers 422)."""


def leave_days(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 86400


def required_approval(start: datetime, end: datetime, policy: LeavePolicy) -> ApprovalLevel:
    """<= 1 day: hall head; <= 2 days: district leader; longer: both principal leaders (defaults)."""
    days = leave_days(start, end)
    if days <= policy.hall_head_max_days:
        return ApprovalLevel.HALL_HEAD
    if days <= policy.district_leader_max_days:
        return ApprovalLevel.DISTRICT_LEADER
    return ApprovalLevel.PRINCIPAL_LEADERS


def check_leave(type_: LeaveType, start: datetime, end: datetime, policy: LeavePolicy) -> ApprovalLevel:
    if start.tzinfo is None or end.tzinfo is None:
        raise LeaveError("start and end need a time zone")
    if end <= start:
        raise LeaveError("end must be after start")
    days = leave_days(start, end)
    if days > policy.max_days and type_.value not in policy.unlimited_types:
        raise LeaveError(f"{math.ceil(days)} days is longer than the {policy.max_days:g}-day maximum "
                         f"for {type_.value} leave")
    return required_approval(start, end, policy)


def new_leave(
    db: Session, *, staff_id: int, type_: LeaveType, start: datetime, end: datetime, policy: LeavePolicy,
    reason: str | None = None, status: LeaveStatus = LeaveStatus.PENDING, actor: User | None = None,
) -> LeaveRecord:
    if db.get(Staff, staff_id) is None:
        raise LeaveError(f"no staff with id {staff_id}")
    level = check_leave(type_, start, end, policy)
    row = LeaveRecord(
        staff_id=staff_id, type=type_, start=start, end=end, status=status, reason=reason,
        approval_level=level, created_by=actor.id if actor else None,
    )
    if status is LeaveStatus.APPROVED:
        row.approved_by = actor.id if actor else None
        row.approved_at = utcnow()
    db.add(row)
    db.flush()
    return row


# -- CSV import ---------------------------------------------------------------------------------------
CSV_COLUMNS = ("employee_no", "type", "start", "end", "status", "reason")


@dataclass(frozen=True)
class RowError:
    row: int  # 1-based line number in the file, header = 1
    error: str


def _parse_when(text: str, tz: ZoneInfo, is_end: bool) -> datetime:
    """``2026-11-02`` (a whole day: an end date is inclusive) or ``2026-11-02T09:00`` (site local time)
    or an ISO time with an offset."""
    text = text.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            if is_end:
                day += timedelta(days=1)
            return datetime.combine(day, time(0), tz)
        value = datetime.fromisoformat(text)
    except ValueError:
        raise LeaveError(f"{text!r} is not a date (YYYY-MM-DD) or date-time (YYYY-MM-DDTHH:MM)") from None
    return value if value.tzinfo else value.replace(tzinfo=tz)


def import_leave_csv(
    db: Session, text: str, *, policy: LeavePolicy, tz: ZoneInfo, actor: User | None = None
) -> tuple[list[LeaveRecord], list[RowError]]:
    """Validate every row first; add nothing unless all rows are good (the caller's transaction commits)."""
    # newline="": the csv module handles \r\n, \n and quoted line breaks itself.
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    try:
        rows = list(reader)
    except csv.Error as exc:
        return [], [RowError(reader.line_num or 1, f"not a readable CSV: {exc}")]
    missing = [c for c in ("employee_no", "type", "start", "end") if c not in (reader.fieldnames or [])]
    if missing:
        return [], [RowError(1, f"missing column(s): {', '.join(missing)} (expected {', '.join(CSV_COLUMNS)})")]
    staff_by_no = {s.employee_no: s.id for s in db.scalars(select(Staff))}
    errors: list[RowError] = []
    parsed: list[dict[str, object]] = []
    for line, row in enumerate(rows, start=2):
        try:
            no = (row.get("employee_no") or "").strip()
            if no not in staff_by_no:
                raise LeaveError(f"unknown employee_no {no!r}")
            try:
                type_ = LeaveType((row.get("type") or "").strip())
            except ValueError:
                raise LeaveError(f"type must be one of {', '.join(t.value for t in LeaveType)}") from None
            try:
                status = LeaveStatus((row.get("status") or "pending").strip() or "pending")
            except ValueError:
                raise LeaveError(f"status must be one of {', '.join(s.value for s in LeaveStatus)}") from None
            start = _parse_when(row.get("start") or "", tz, is_end=False)
            end = _parse_when(row.get("end") or "", tz, is_end=True)
            check_leave(type_, start, end, policy)
            parsed.append({"staff_id": staff_by_no[no], "type_": type_, "start": start, "end": end,
                           "status": status, "reason": (row.get("reason") or "").strip() or None})
        except LeaveError as exc:
            errors.append(RowError(line, str(exc)))
    if errors:
        return [], errors
    records = [new_leave(db, policy=policy, actor=actor, **p) for p in parsed]  # type: ignore[arg-type]
    return records, []
