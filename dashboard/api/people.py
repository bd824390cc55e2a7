"""/api/v1/staff, /rosters, /leave, /notices. Every change re-runs the linker over the span it touches; leave
and notices go through dashboard.services, as the web pages do."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Query, Request, UploadFile, status
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime
from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard.api.common import IdPath, IdQuery, LimitQ, OffsetQ, ServiceRoute, get_or_404, paginate
from dashboard.api.schemas import (
    LeaveImportOut,
    LeaveImportRejected,
    LeaveIn,
    LeaveOut,
    LeavePatch,
    NoticeIn,
    NoticeOut,
    NoticePatch,
    Page,
    RosterIn,
    RosterOut,
    StaffIn,
    StaffOut,
    StaffPatch,
)
from dashboard.auth.deps import (
    AnyUser,
    DbSession,
    LeaveManager,
    NoticeWriter,
    RosterManager,
    actor,
    client_ip,
    get_ctx,
)
from dashboard.db.audit import audit
from dashboard.db.models import LeaveRecord, OffPostNotice, Roster, Site, Staff, Window
from dashboard.db.relink import Linker
from dashboard.enums import LeaveStatus
from dashboard.services import leave as leave_service
from dashboard.services import notices as notice_service

router = APIRouter(tags=["people"], route_class=ServiceRoute)


def _grace(request: Request) -> timedelta:
    return timedelta(minutes=get_ctx(request).settings.notice_grace_minutes)


def _linker(request: Request, db: Session) -> Linker:
    return Linker(db, _grace(request))


# -- staff --------------------------------------------------------------------------------------------
@router.get("/staff", response_model=list[StaffOut])
def list_staff(db: DbSession, _: AnyUser, site_id: str | None = None,
               active: bool | None = None) -> list[Staff]:
    stmt = select(Staff).order_by(Staff.employee_no)
    if site_id is not None:
        stmt = stmt.where(Staff.site_id == site_id)
    if active is not None:
        stmt = stmt.where(Staff.active == active)
    return list(db.scalars(stmt))


@router.post("/staff", response_model=StaffOut, status_code=status.HTTP_201_CREATED)
def create_staff(body: StaffIn, request: Request, db: DbSession,
                 user: RosterManager) -> Staff:
    get_or_404(db, Site, body.site_id, "site")
    if db.scalar(select(Staff).where(Staff.employee_no == body.employee_no)) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"employee_no {body.employee_no!r} exists")
    staff = Staff(**body.model_dump())
    db.add(staff)
    db.flush()
    audit(db, user, "create", "staff", staff.id, body.model_dump(), ip=client_ip(request))
    return staff


@router.patch("/staff/{staff_id}", response_model=StaffOut)
def update_staff(staff_id: IdPath, body: StaffPatch, request: Request, db: DbSession,
                 user: RosterManager) -> Staff:
    staff = get_or_404(db, Staff, staff_id, "staff")
    changes = body.model_dump(exclude_unset=True)
    for key, value in changes.items():
        setattr(staff, key, value)
    audit(db, user, "update", "staff", staff_id, changes, ip=client_ip(request))
    return staff


# -- rosters ------------------------------------------------------------------------------------------
@router.get("/rosters", response_model=list[RosterOut])
def list_rosters(
    db: DbSession, _: AnyUser, window_id: IdQuery = None,
    staff_id: IdQuery = None, since: AwareDatetime | None = None, until: AwareDatetime | None = None,
) -> list[Roster]:
    stmt = select(Roster).order_by(Roster.start, Roster.id)
    if window_id is not None:
        stmt = stmt.where(Roster.window_id == window_id)
    if staff_id is not None:
        stmt = stmt.where(Roster.staff_id == staff_id)
    if since is not None:
        stmt = stmt.where(Roster.end > since)
    if until is not None:
        stmt = stmt.where(Roster.start < until)
    return list(db.scalars(stmt))


@router.post("/rosters", response_model=RosterOut, status_code=status.HTTP_201_CREATED)
def create_roster(body: RosterIn, request: Request, db: DbSession,
                  user: RosterManager) -> Roster:
    get_or_404(db, Staff, body.staff_id, "staff")
    get_or_404(db, Window, body.window_id, "window")
    row = Roster(**body.model_dump())
    db.add(row)
    db.flush()
    _linker(request, db).relink_window(row.window_id, row.start, row.end)
    audit(db, user, "create", "roster", row.id, body.model_dump(mode="json"), ip=client_ip(request))
    return row


@router.delete("/rosters/{roster_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_roster(roster_id: IdPath, request: Request, db: DbSession,
                  user: RosterManager) -> None:
    row = get_or_404(db, Roster, roster_id, "roster")
    window_id, start, end = row.window_id, row.start, row.end
    db.delete(row)
    db.flush()
    _linker(request, db).relink_window(window_id, start, end)
    audit(db, user, "delete", "roster", roster_id, ip=client_ip(request))


# -- leave --------------------------------------------------------------------------------------------
@router.get("/leave", response_model=Page[LeaveOut])
def list_leave(
    db: DbSession, _: AnyUser, staff_id: IdQuery = None,
    leave_status: LeaveStatus | None = Query(None, alias="status"), since: AwareDatetime | None = None,
    until: AwareDatetime | None = None, limit: int = LimitQ, offset: int = OffsetQ,
) -> dict[str, object]:
    stmt = select(LeaveRecord).order_by(LeaveRecord.start.desc(), LeaveRecord.id.desc())
    if staff_id is not None:
        stmt = stmt.where(LeaveRecord.staff_id == staff_id)
    if leave_status is not None:
        stmt = stmt.where(LeaveRecord.status == leave_status)
    if since is not None:
        stmt = stmt.where(LeaveRecord.end > since)
    if until is not None:
        stmt = stmt.where(LeaveRecord.start < until)
    items, total = paginate(db, stmt, limit, offset)
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.post("/leave", response_model=LeaveOut, status_code=status.HTTP_201_CREATED)
def create_leave(body: LeaveIn, request: Request, db: DbSession, user: LeaveManager) -> LeaveRecord:
    return leave_service.create_leave(
        db, actor(request, user), staff_id=body.staff_id, type_=body.type, start=body.start, end=body.end,
        reason=body.reason, status=body.status, policy=get_ctx(request).settings.leave_policy, grace=_grace(request))


@router.patch("/leave/{leave_id}", response_model=LeaveOut)
def update_leave(leave_id: IdPath, body: LeavePatch, request: Request, db: DbSession,
                 user: LeaveManager) -> LeaveRecord:
    row = leave_service.leave_by_id(db, leave_id)
    return leave_service.update_leave(db, row, actor(request, user), body.model_dump(exclude_unset=True),
                                      get_ctx(request).settings.leave_policy, _grace(request))


def _decide(request: Request, db: Session, user: LeaveManager, leave_id: int, decision: LeaveStatus) -> LeaveRecord:
    row = leave_service.leave_by_id(db, leave_id)
    return leave_service.decide_leave(db, row, decision, actor(request, user), _grace(request))


@router.post("/leave/{leave_id}/approve", response_model=LeaveOut)
def approve_leave(leave_id: IdPath, request: Request, db: DbSession, user: LeaveManager) -> LeaveRecord:
    """Record that the approval the leave's ``approval_level`` requires has been given."""
    return _decide(request, db, user, leave_id, LeaveStatus.APPROVED)


@router.post("/leave/{leave_id}/reject", response_model=LeaveOut)
def reject_leave(leave_id: IdPath, request: Request, db: DbSession, user: LeaveManager) -> LeaveRecord:
    """Turn the request down; the rejecter is recorded in ``rejected_by``."""
    return _decide(request, db, user, leave_id, LeaveStatus.REJECTED)


@router.post("/leave/{leave_id}/cancel", response_model=LeaveOut)
def cancel_leave(leave_id: IdPath, request: Request, db: DbSession, user: LeaveManager) -> LeaveRecord:
    return _decide(request, db, user, leave_id, LeaveStatus.CANCELLED)


@router.post(
    "/leave/import", response_model=LeaveImportOut, status_code=status.HTTP_201_CREATED,
    responses={422: {"model": LeaveImportRejected, "description": "row-by-row errors; nothing imported"}},
)
async def import_leave(
    request: Request, file: UploadFile, db: DbSession, user: LeaveManager,
    site_id: str | None = Query(None, description="site whose time zone applies to dates without offset"),
) -> object:
    """CSV with columns employee_no,type,start,end[,status,reason]. All rows or none."""
    ctx = get_ctx(request)
    raw = await file.read(2 * 1024 * 1024 + 1)
    if len(raw) > 2 * 1024 * 1024:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "CSV larger than 2 MiB")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "the CSV must be UTF-8") from None
    site = db.get(Site, site_id or ctx.settings.site.site_id)
    tz = ZoneInfo(site.timezone if site else ctx.settings.site.timezone)
    rows, errors = leave_service.import_leave(db, actor(request, user), text, policy=ctx.settings.leave_policy,
                                              tz=tz, grace=_grace(request), filename=file.filename)
    if errors:
        return JSONResponse(status_code=422, content={
            "detail": "nothing imported: fix these rows and upload the whole file again",
            "errors": [{"row": e.row, "error": e.error} for e in errors],
        })
    return LeaveImportOut(imported=len(rows), ids=[r.id for r in rows])


# -- off-post notices ---------------------------------------------------------------------------------
@router.get("/notices", response_model=Page[NoticeOut])
def list_notices(
    db: DbSession, _: AnyUser, staff_id: IdQuery = None,
    window_id: IdQuery = None, since: AwareDatetime | None = None, until: AwareDatetime | None = None,
    limit: int = LimitQ, offset: int = OffsetQ,
) -> dict[str, object]:
    stmt = select(OffPostNotice).order_by(OffPostNotice.left_at.desc(), OffPostNotice.id.desc())
    if staff_id is not None:
        stmt = stmt.where(OffPostNotice.staff_id == staff_id)
    if window_id is not None:
        stmt = stmt.where(OffPostNotice.window_id == window_id)
    if since is not None:
        stmt = stmt.where(OffPostNotice.left_at >= since)
    if until is not None:
        stmt = stmt.where(OffPostNotice.left_at < until)
    items, total = paginate(db, stmt, limit, offset)
    return {"items": items, "total": total, "limit": limit, "offset": offset}


@router.post("/notices", response_model=NoticeOut, status_code=status.HTTP_201_CREATED)
def create_notice(body: NoticeIn, request: Request, db: DbSession, user: NoticeWriter) -> OffPostNotice:
    """离岗登记. Without ``window_id`` the window the clerk is rostered on at ``left_at`` is used."""
    return notice_service.create_notice(
        db, actor(request, user), staff_id=body.staff_id, window_id=body.window_id, reason=body.reason,
        left_at=body.left_at, expected_return=body.expected_return, grace=_grace(request))


@router.patch("/notices/{notice_id}", response_model=NoticeOut)
def update_notice(notice_id: IdPath, body: NoticePatch, request: Request, db: DbSession,
                  user: NoticeWriter) -> OffPostNotice:
    """Only the person who registered the notice, a supervisor or an admin may change it (403 otherwise)."""
    row = notice_service.notice_by_id(db, notice_id)
    return notice_service.update_notice(db, row, actor(request, user), body.model_dump(exclude_unset=True),
                                        _grace(request))
