"""Off-post notices (离岗登记): register, and change (by the person who registered it, or a supervisor)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard.db.audit import audit
from dashboard.db.models import OffPostNotice, Roster, Staff, User
from dashboard.db.relink import Linker
from dashboard.enums import Role
from dashboard.services.base import Actor
from dashboard.services.errors import Forbidden, Invalid, NotFound

# Beyond its author, who may change a notice: those who oversee the hall.
NOTICE_OVERSEERS = frozenset({Role.ADMIN, Role.SUPERVISOR})
REASON_MAX = 256


def notice_by_id(db: Session, notice_id: int) -> OffPostNotice:
    row = db.get(OffPostNotice, notice_id)
    if row is None:
        raise NotFound(f"notice {notice_id} not found")
    return row


def may_edit(user: User, owner_id: int | None) -> bool:
    """The notice's author (``created_by``), or one of those who oversee the hall."""
    return user.role in NOTICE_OVERSEERS or (owner_id is not None and owner_id == user.id)


def check_may_edit(user: User, notice: OffPostNotice) -> None:
    if not may_edit(user, notice.created_by):
        raise Forbidden("only the person who registered this notice, a supervisor or an admin may change it")


def _reason(value: str) -> str:
    reason = value.strip()[:REASON_MAX]
    if not reason:
        raise Invalid("a notice needs a reason")
    return reason


def create_notice(db: Session, actor: Actor, *, staff_id: int, reason: str, left_at: datetime,
                  expected_return: datetime, grace: timedelta, window_id: int | None = None) -> OffPostNotice:
    """Without ``window_id`` the window the clerk is rostered on at ``left_at`` is used."""
    if db.get(Staff, staff_id) is None:
        raise NotFound(f"staff {staff_id} not found")
    if expected_return <= left_at:
        raise Invalid("expected_return must be after left_at")
    if window_id is None:
        window_id = db.scalar(select(Roster.window_id).where(
            Roster.staff_id == staff_id, Roster.start <= left_at, Roster.end > left_at).limit(1))
    row = OffPostNotice(staff_id=staff_id, window_id=window_id, reason=_reason(reason), left_at=left_at,
                        expected_return=expected_return, created_by=actor.user.id)
    db.add(row)
    db.flush()
    linker = Linker(db, grace)
    if window_id is not None:
        linker.rebuild_presence(window_id, left_at)  # fills the actual return if already back
    linker.relink_staff(staff_id, left_at, expected_return)
    audit(db, actor.user, "create", "notice", row.id,
          {"staff_id": staff_id, "window_id": window_id, "reason": row.reason, "left_at": left_at.isoformat(),
           "expected_return": expected_return.isoformat()}, ip=actor.ip)
    return row


def update_notice(db: Session, notice: OffPostNotice, actor: Actor, changes: dict[str, Any],
                  grace: timedelta) -> OffPostNotice:
    check_may_edit(actor.user, notice)
    for required in ("reason", "expected_return"):
        if required in changes and changes[required] is None:
            raise Invalid(f"{required} cannot be cleared")
    if "reason" in changes:
        changes = {**changes, "reason": _reason(changes["reason"])}
    old_return = notice.expected_return
    for key, value in changes.items():
        setattr(notice, key, value)
    if notice.expected_return <= notice.left_at:
        raise Invalid("expected_return must be after left_at")
    db.flush()
    Linker(db, grace).relink_staff(notice.staff_id, notice.left_at, max(old_return, notice.expected_return))
    audit(db, actor.user, "update", "notice", notice.id,
          {k: v.isoformat() if isinstance(v, datetime) else v for k, v in changes.items()}, ip=actor.ip)
    return notice
