"""/api/v1/staff, /rosters, /leave, /notices. Every change re-runs the linker over the span it touches."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, HTTPException, Query, Request, UploadFile, status
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime
from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard.api.common import IdPath, IdQuery, LimitQ, OffsetQ, get_or_404, paginate
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
    ALL_ROLES,
    LEAVE_ROLES,
    NOTICE_ROLES,
    ROSTER_ROLES,
    DbSession,
    client_ip,
    get_ctx,
    require_roles,
)
from dashboard.db.audit import audit
from dashboard.db.models import LeaveRecord, OffPostNotice, Roster, Site, Staff, User, Window, utcnow
from dashboard.db.relink import Linker
from dashboard.enums import LeaveStatus
from dashboard.leave import LeaveError, check_leave, import_leave_csv, new_leave

router = APIRouter(tags=["people"])


def _linker(request: Request, db: Session) -> Linker:
    return Linker(db, timedelta(minutes=get_ctx(request).settings.notice_grace_minutes))


# -- staff --------------------------------------------------------------------------------------------
@router.get("/staff", response_model=list[StaffOut])
def list_staff(db: DbSession, _: User = Depends(require_roles(*ALL_ROLES)), site_id: str | None = None,
               active: bool | None = None) -> list[Staff]:
    stmt = select(Staff).order_by(Staff.employee_no)
    if site_id is not None:
        stmt = stmt.where(Staff.site_id == site_id)
    if active is not None:
        stmt = stmt.where(Staff.active == active)
    return list(db.scalars(stmt))


@router.post("/staff", response_model=StaffOut, status_code=status.HTTP_201_CREATED)
def create_staff(body: StaffIn, request: Request, db: DbSession,
                 user: User = Depends(require_roles(*ROSTER_ROLES))) -> Staff:
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
                 user: User = Depends(require_roles(*ROSTER_ROLES))) -> Staff:
    staff = get_or_404(db, Staff, staff_id, "staff")
    changes = body.model_dump(exclude_unset=True)
    for key, value in changes.items():
        setattr(staff, key, value)
    audit(db, user, "update", "staff", staff_id, changes, ip=client_ip(request))
    return staff


# -- rosters ------------------------------------------------------------------------------------------
@router.get("/rosters", response_model=list[RosterOut])
def list_rosters(
    db: DbSession, _: User = Depends(require_roles(*ALL_ROLES)), window_id: IdQuery = None,
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
                  user: User = Depends(require_roles(*ROSTER_ROLES))) -> Roster:
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
                  user: User = Depends(require_roles(*ROSTER_ROLES))) -> None:
    row = get_or_404(db, Roster, roster_id, "roster")
    window_id, start, end = row.window_id, row.start, row.end
    db.delete(row)
    db.flush()
    _linker(request, db).relink_window(window_id, start, end)
    audit(db, user, "delete", "roster", roster_id, ip=client_ip(request))


# -- leave --------------------------------------------------------------------------------------------
@router.get("/leave", response_model=Page[LeaveOut])
def list_leave(
    db: DbSession, _: User = Depends(require_roles(*ALL_ROLES)), staff_id: IdQuery = None,
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
def create_leave(body: LeaveIn, request: Request, db: DbSession,
                 user: User = Depends(require_roles(*LEAVE_ROLES))) -> LeaveRecord:
    try:
        row = new_leave(db, staff_id=body.staff_id, type_=body.type, start=body.start, end=body.end,
                        policy=get_ctx(request).settings.leave_policy, reason=body.reason, status=body.status,
                        actor=user)
    except LeaveError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    _linker(request, db).relink_staff(row.staff_id, row.start, row.end)
    audit(db, user, "create", "leave", row.id, body.model_dump(mode="json"), ip=client_ip(request))
    return row


@router.patch("/leave/{leave_id}", response_model=LeaveOut)
def update_leave(leave_id: IdPath, body: LeavePatch, request: Request, db: DbSession,
                 user: User = Depends(require_roles(*LEAVE_ROLES))) -> LeaveRecord:
    row = get_or_404(db, LeaveRecord, leave_id, "leave record")
    old_span = (row.start, row.end)
    changes = body.model_dump(exclude_unset=True)
    for key, value in changes.items():
        setattr(row, key, value)
    try:
        row.approval_level = check_leave(row.type, row.start, row.end, get_ctx(request).settings.leave_policy)
    except LeaveError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    db.flush()
    _relink_leave(request, db, row, old_span)
    audit(db, user, "update", "leave", leave_id, body.model_dump(mode="json", exclude_unset=True),
          ip=client_ip(request))
    return row


def _relink_leave(request: Request, db: Session, row: LeaveRecord, old: tuple[datetime, datetime]) -> None:
    _linker(request, db).relink_staff(row.staff_id, min(old[0], row.start), max(old[1], row.end))


def _set_status(request: Request, db: Session, user: User, leave_id: int, new: LeaveStatus) -> LeaveRecord:
    row = get_or_404(db, LeaveRecord, leave_id, "leave record")
    allowed = {
        LeaveStatus.APPROVED: {LeaveStatus.PENDING},
        LeaveStatus.REJECTED: {LeaveStatus.PENDING},
        LeaveStatus.CANCELLED: {LeaveStatus.PENDING, LeaveStatus.APPROVED},
    }[new]
    if row.status not in allowed:
        raise HTTPException(status.HTTP_409_CONFLICT, f"a {row.status.value} leave cannot become {new.value}")
    row.status = new
    if new is LeaveStatus.APPROVED:
        row.approved_by, row.approved_at = user.id, utcnow()
    db.flush()
    _relink_leave(request, db, row, (row.start, row.end))
    audit(db, user, new.value, "leave", leave_id, {"approval_level": row.approval_level.value},
          ip=client_ip(request))
    return row


@router.post("/leave/{leave_id}/approve", response_model=LeaveOut)
def approve_leave(leave_id: IdPath, request: Request, db: DbSession,
                  user: User = Depends(require_roles(*LEAVE_ROLES))) -> LeaveRecord:
    """Record that the approval the leave's ``approval_level`` requires has been given."""
    return _set_status(request, db, user, leave_id, LeaveStatus.APPROVED)


@router.post("/leave/{leave_id}/reject", response_model=LeaveOut)
def reject_leave(leave_id: IdPath, request: Request, db: DbSession,
                 user: User = Depends(require_roles(*LEAVE_ROLES))) -> LeaveRecord:
    return _set_status(request, db, user, leave_id, LeaveStatus.REJECTED)


@router.post("/leave/{leave_id}/cancel", response_model=LeaveOut)
def cancel_leave(leave_id: IdPath, request: Request, db: DbSession,
                 user: User = Depends(require_roles(*LEAVE_ROLES))) -> LeaveRecord:
    return _set_status(request, db, user, leave_id, LeaveStatus.CANCELLED)


@router.post(
    "/leave/import", response_model=LeaveImportOut, status_code=status.HTTP_201_CREATED,
    responses={422: {"model": LeaveImportRejected, "description": "row-by-row errors; nothing imported"}},
)
async def import_leave(
    request: Request, file: UploadFile, db: DbSession, user: User = Depends(require_roles(*LEAVE_ROLES)),
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
    rows, errors = import_leave_csv(db, text, policy=ctx.settings.leave_policy, tz=tz, actor=user)
    if errors:
        return JSONResponse(status_code=422, content={
            "detail": "nothing imported: fix these rows and upload the whole file again",
            "errors": [{"row": e.row, "error": e.error} for e in errors],
        })
    linker = _linker(request, db)
    for row in rows:
        linker.relink_staff(row.staff_id, row.start, row.end)
    audit(db, user, "import", "leave", None, {"count": len(rows), "file": file.filename}, ip=client_ip(request))
    return LeaveImportOut(imported=len(rows), ids=[r.id for r in rows])


# -- off-post notices ---------------------------------------------------------------------------------
@router.get("/notices", response_model=Page[NoticeOut])
def list_notices(
    db: DbSession, _: User = Depends(require_roles(*ALL_ROLES)), staff_id: IdQuery = None,
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
def create_notice(body: NoticeIn, request: Request, db: DbSession,
                  user: User = Depends(require_roles(*NOTICE_ROLES))) -> OffPostNotice:
    """离岗登记. Without ``window_id`` the window the clerk is rostered on at ``left_at`` is used."""
    get_or_404(db, Staff, body.staff_id, "staff")
    window_id = body.window_id
    if window_id is None:
        window_id = db.scalar(select(Roster.window_id).where(
            Roster.staff_id == body.staff_id, Roster.start <= body.left_at, Roster.end > body.left_at))
    row = OffPostNotice(staff_id=body.staff_id, window_id=window_id, reason=body.reason, left_at=body.left_at,
                        expected_return=body.expected_return, created_by=user.id)
    db.add(row)
    db.flush()
    linker = _linker(request, db)
    if window_id is not None:
        linker.rebuild_presence(window_id, body.left_at)  # fills the actual return if already back
    linker.relink_staff(row.staff_id, row.left_at, row.expected_return)
    audit(db, user, "create", "notice", row.id, body.model_dump(mode="json"), ip=client_ip(request))
    return row


@router.patch("/notices/{notice_id}", response_model=NoticeOut)
def update_notice(notice_id: IdPath, body: NoticePatch, request: Request, db: DbSession,
                  user: User = Depends(require_roles(*NOTICE_ROLES))) -> OffPostNotice:
    row = get_or_404(db, OffPostNotice, notice_id, "notice")
    changes = body.model_dump(exclude_unset=True)
    for key, value in changes.items():
        setattr(row, key, value)
    if row.expected_return <= row.left_at:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "expected_return must be after left_at")
    db.flush()
    _linker(request, db).relink_staff(row.staff_id, row.left_at, row.expected_return)
    audit(db, user, "update", "notice", notice_id, body.model_dump(mode="json", exclude_unset=True),
          ip=client_ip(request))
    return row


