"""Leave records on the page: register, approve or reject, import. Through dashboard.services, as the API."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlalchemy.orm import Session

from dashboard.api.common import IdForm, IdPath
from dashboard.auth.deps import (
    LEAVE_ROLES,
    NOTICE_ROLES,
    AnyUser,
    DbSession,
    LeaveManager,
    NoticeWriter,
    actor,
    get_ctx,
)
from dashboard.db.models import User
from dashboard.enums import LeaveStatus, LeaveType
from dashboard.services import leave as leave_service
from dashboard.services import notices as notice_service
from dashboard.services.errors import Conflict, Invalid
from dashboard.web import admin, pages, queries
from dashboard.web.render import render

router = pages.page_router()
DECISIONS = {s.value: s for s in (LeaveStatus.APPROVED, LeaveStatus.REJECTED)}


def local_datetime(value: str, zone: ZoneInfo) -> datetime:
    """``<input type=datetime-local>`` sends wall-clock time; it means the site's zone."""
    return datetime.fromisoformat(value).replace(tzinfo=zone)


def leave_context(request: Request, db: Session, user: User, **extra: Any) -> dict[str, Any]:
    ctx = pages.page_context(request, db, user, "leave", "leave.title")
    notices = queries.recent_notices(db)
    ctx.update(
        absences=queries.recent_absences(db, pages.now() - timedelta(days=7)), leaves=queries.leave_records(db),
        notices=notices, staff=queries.active_staff(db), leave_types=[t.value for t in LeaveType],
        can_approve=user.role in LEAVE_ROLES, can_register_leave=user.role in LEAVE_ROLES,
        can_notice=user.role in NOTICE_ROLES, import_result=None,
        editable_notices={n.id for n in notices if user.role in NOTICE_ROLES
                          and notice_service.may_edit(user, n.created_by)},
    )
    ctx.update(extra)
    return ctx


def leave_error(request: Request, db: Session, user: User, key: str) -> Response:
    db.rollback()
    ctx = leave_context(request, db, user)
    ctx["flashes"] = [("error", key)]
    return render("leave.html", ctx, status_code=422)


@router.get("/leave", name="web_leave")
def leave_page(request: Request, db: DbSession, user: AnyUser) -> Response:
    return render("leave.html", leave_context(request, db, user))


@router.post("/leave/new", name="web_leave_create")
def leave_create(
    request: Request, db: DbSession, user: LeaveManager, staff_id: IdForm,
    type: Annotated[str, Form()], start: Annotated[str, Form()], end: Annotated[str, Form()],
    reason: Annotated[str, Form()] = "",
) -> Response:
    settings = get_ctx(request).settings
    zone = ZoneInfo(settings.site.timezone)
    try:
        leave_service.create_leave(
            db, actor(request, user), staff_id=staff_id, type_=LeaveType(type), start=local_datetime(start, zone),
            end=local_datetime(end, zone), reason=reason, policy=settings.leave_policy, grace=pages.grace(request))
    except ValueError:  # a bad type or time, or the policy's refusal (a service Invalid)
        return leave_error(request, db, user, "leave.invalid")
    return pages.see_other("/leave")


@router.post("/leave/{leave_id}/decision", name="web_leave_decide")
def leave_decide(
    request: Request, db: DbSession, user: LeaveManager, leave_id: IdPath, decision: Annotated[str, Form()],
) -> Response:
    row = leave_service.leave_by_id(db, leave_id)
    if decision not in DECISIONS:
        return leave_error(request, db, user, "leave.invalid")
    try:
        leave_service.decide_leave(db, row, DECISIONS[decision], actor(request, user), pages.grace(request))
    except Conflict:
        return leave_error(request, db, user, "leave.invalid")
    return pages.see_other("/leave")


@router.post("/leave/import", name="web_leave_import")
async def leave_import(request: Request, user: LeaveManager) -> Response:
    form = await request.form()
    upload = form.get("file")
    content = await upload.read() if upload is not None and not isinstance(upload, str) else b""
    result = await run_in_threadpool(admin.import_leave_csv, get_ctx(request), user, content, actor(request, user).ip)
    with get_ctx(request).db.session() as db:
        return render("leave.html", leave_context(request, db, user, import_result=result),
                      status_code=200 if not result.errors else 422)


# -- off-post notices -----------------------------------------------------------------------------------
@router.post("/notices", name="web_notice_create")
def notice_create(
    request: Request, db: DbSession, user: NoticeWriter, staff_id: IdForm,
    reason: Annotated[str, Form()], minutes: Annotated[int, Form()],
) -> Response:
    if not 1 <= minutes <= 480:
        return leave_error(request, db, user, "leave.invalid")
    left_at = pages.now()
    try:
        notice_service.create_notice(db, actor(request, user), staff_id=staff_id, reason=reason, left_at=left_at,
                                     expected_return=left_at + timedelta(minutes=minutes), grace=pages.grace(request))
    except ValueError:  # unknown clerk, empty reason
        return leave_error(request, db, user, "leave.invalid")
    return pages.see_other("/leave")


@router.post("/notices/{notice_id}", name="web_notice_update")
def notice_update(
    request: Request, db: DbSession, user: NoticeWriter, notice_id: IdPath,
    minutes: Annotated[int, Form()], reason: Annotated[str | None, Form()] = None,
) -> Response:
    """Change how long the clerk expects to be away (counted from leaving), and the reason. Only the person
    who registered the notice, a supervisor or an admin may (the same check as the API's PATCH)."""
    row = notice_service.notice_by_id(db, notice_id)
    notice_service.check_may_edit(user, row)
    if not 1 <= minutes <= 480:
        return leave_error(request, db, user, "leave.invalid")
    changes: dict[str, Any] = {"expected_return": row.left_at + timedelta(minutes=minutes)}
    if reason is not None:
        changes["reason"] = reason
    try:
        notice_service.update_notice(db, row, actor(request, user), changes, pages.grace(request))
    except Invalid:
        return leave_error(request, db, user, "leave.invalid")
    return pages.see_other("/leave")
