"""The web UI: server-rendered pages (zh-CN first, English second) with small progressive enhancement.

Every page works as plain HTML forms; ``static/app.js`` adds live updates (Server-Sent Events), in-place
form swaps and keyboard shortcuts. Authentication, roles and CSRF come from core (``dashboard.auth``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, replace
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, RedirectResponse, Response, StreamingResponse
from sqlalchemy.orm import Session

from broker.payloads import Rule
from dashboard.auth.deps import (
    ACK_ROLES,
    ALL_ROLES,
    LEAVE_ROLES,
    NOTICE_ROLES,
    REVIEW_ROLES,
    DbSession,
    client_ip,
    get_ctx,
    optional_user,
)
from dashboard.auth.origin import same_origin
from dashboard.auth.ratelimit import LoginBusy
from dashboard.auth.users import LoginThrottled, authenticate
from dashboard.db.models import AuditLog, Event, LeaveRecord, User, utcnow
from dashboard.enums import LeaveStatus, LeaveType, ReviewReason, Role, Verdict
from dashboard.retention import purged_ids
from dashboard.web import admin, queries
from dashboard.web.i18n import catalogue
from dashboard.web.render import (
    STATIC_DIR,
    base_context,
    render,
    render_fragment,
    request_language,
)

router = APIRouter(include_in_schema=False)

OptionalUser = Annotated[User | None, Depends(optional_user)]
LIVE_POLL_S = 0.25  # how often a live page's stream looks for changes (one tiny query; < 2 s alert budget)
LIVE_PING_S = 15.0
ESCALATION_RECHECK_S = 5.0


# -- helpers --------------------------------------------------------------------------------------------
def _now() -> datetime:
    return utcnow()


def _escalation(request: Request) -> timedelta:
    return timedelta(minutes=get_ctx(request).settings.escalation_minutes)


def _grace(request: Request) -> timedelta:
    return timedelta(minutes=get_ctx(request).settings.notice_grace_minutes)


def _safe_next(value: str | None) -> str:
    """Only same-site paths: ``//evil.example`` or ``https://...`` would make the login an open redirect."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/board"


def _login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)


def _nav_counts(db: Session, request: Request) -> dict[str, int]:
    counts = queries.alert_counts(db, _now(), _escalation(request))
    return {"alerts": counts["unacked"], "review": queries.review_counts(db)["pending"]}


def _page(request: Request, db: Session, user: User, page: str, title_key: str) -> dict[str, Any]:
    return base_context(request, user, page, title_key, counts=_nav_counts(db, request))


def _guard(request: Request, user: User | None, roles: Sequence[Role]) -> Response | None:
    """None when the user may see the page; otherwise the login redirect or a translated 403 page."""
    if user is None:
        return _login_redirect(request)
    if user.role not in roles:
        ctx = base_context(request, user, "", "error.forbidden_title")
        ctx.update(message_key="error.forbidden")
        return render("error.html", ctx, status_code=403)
    return None


def _not_found(request: Request, user: User | None) -> Response:
    ctx = base_context(request, user, "", "error.not_found_title")
    ctx.update(message_key="error.not_found")
    return render("error.html", ctx, status_code=404)


def _see_other(path: str, **params: object) -> RedirectResponse:
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return RedirectResponse(path + (f"?{query}" if query else ""), status_code=303)


def _local_datetime(value: str, zone: ZoneInfo) -> datetime:
    """``<input type=datetime-local>`` sends wall-clock time; it means the site's zone."""
    return datetime.fromisoformat(value).replace(tzinfo=zone)


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n"


def _stream(request: Request, generator: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(generator, media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


# -- static files and the front door --------------------------------------------------------------------
@router.get("/static/{path:path}", name="web_static")
def web_static(path: str) -> FileResponse:
    target = (STATIC_DIR / path).resolve()
    if STATIC_DIR not in target.parents or not target.is_file():
        raise HTTPException(404)
    return FileResponse(target, headers={"Cache-Control": "public, max-age=300"})


@router.get("/", name="web_home")
def home() -> RedirectResponse:
    return RedirectResponse("/board", status_code=303)


@router.get("/login", name="web_login")
def login_page(request: Request, user: OptionalUser, next: str | None = None) -> Response:
    if user is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    ctx = base_context(request, None, "login", "login.title")
    ctx.update(next=_safe_next(next), username=None, error_key=None, error_params={})
    return render("login.html", ctx)


@router.post("/login", name="web_login_post")
def login_submit(
    request: Request, db: DbSession, username: Annotated[str, Form()], password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/board",
) -> Response:
    app = get_ctx(request)
    error_key, error_params, status_code = None, {}, 401
    ip = client_ip(request)
    if not same_origin(request, tuple(app.settings.allowed_origins)):
        error_key, status_code = "login.cross_site", 403
        user = None
    else:
        try:
            user = authenticate(db, app.login_limiter, username, password, ip, app.sessions.known_client(request))
        except LoginThrottled as exc:
            user, error_key, status_code = None, "login.throttled", 429
            error_params = {"seconds": int(exc.retry_after) + 1}
        except LoginBusy:
            user, error_key, error_params, status_code = None, "login.throttled", {"seconds": 1}, 503
    if user is None:
        ctx = base_context(request, None, "login", "login.title")
        ctx.update(next=_safe_next(next), username=username[:64], error_key=error_key or "login.failed",
                   error_params=error_params)
        return render("login.html", ctx, status_code=status_code)
    db.add(AuditLog(user_id=user.id, actor=user.username, action="login", entity="user", entity_id=str(user.id),
                    ip=ip))
    response = RedirectResponse(_safe_next(next), status_code=303)
    app.sessions.start(response, db, user.id, user.session_version, username=user.username, ip=ip)
    return response


@router.post("/logout", name="web_logout")
def logout(request: Request, user: OptionalUser) -> Response:
    response = RedirectResponse("/login", status_code=303)
    get_ctx(request).sessions.end(response, request)
    return response


# -- hall board -----------------------------------------------------------------------------------------
def _board_context(request: Request, db: Session, user: User) -> dict[str, Any]:
    ctx = _page(request, db, user, "board", "board.title")
    ctx.update(windows=queries.hall_board(db, None, _now()), board_states=queries.BOARD_STATES)
    return ctx


@router.get("/board", name="web_board")
def board(request: Request, db: DbSession, user: OptionalUser) -> Response:
    if (denied := _guard(request, user, ALL_ROLES)) is not None:
        return denied
    assert user is not None
    return render("board.html", _board_context(request, db, user))


@router.get("/live/board", name="web_live_board")
def live_board(request: Request, user: OptionalUser) -> Response:
    if user is None:
        raise HTTPException(401)
    app = get_ctx(request)

    def snapshot() -> str:
        with app.db.session() as db:
            return render_fragment("partials/board_grid.html", _board_context(request, db, user))

    async def stream() -> AsyncIterator[str]:
        last, idle = None, 0.0
        yield "retry: 2000\n\n"
        while not await request.is_disconnected():
            html = await run_in_threadpool(snapshot)
            if html != last:
                if last is not None:
                    yield _sse("replace", {"html": html})
                last, idle = html, 0.0
            elif idle >= LIVE_PING_S:
                yield ": ping\n\n"
                idle = 0.0
            await asyncio.sleep(1.0)
            idle += 1.0

    return _stream(request, stream())


# -- alerts ---------------------------------------------------------------------------------------------
def _alert_filter(window: str | None, rule: str | None, status: str | None) -> queries.AlertFilter:
    valid_rules = {r.value for r in Rule}
    return queries.AlertFilter(
        window=int(window) if window and window.isdigit() else None,
        rule=rule if rule in valid_rules else None,
        status=status if status in ("all", "escalated") else "open",
    )


def _alert_context(ctx: dict[str, Any], user: User) -> dict[str, Any]:
    ctx.update(can_ack=user.role in ACK_ROLES, can_review=user.role in REVIEW_ROLES)
    return ctx


@router.get("/alerts", name="web_alerts")
def alerts_page(
    request: Request, db: DbSession, user: OptionalUser, window: str | None = None, rule: str | None = None,
    status: str | None = None,
) -> Response:
    if (denied := _guard(request, user, ALL_ROLES)) is not None:
        return denied
    assert user is not None
    flt = _alert_filter(window, rule, status)
    rows = queries.alerts(db, flt, _now(), _escalation(request))
    ctx = _alert_context(_page(request, db, user, "alerts", "alerts.title"), user)
    after = max((a.pk for a in rows), default=queries.latest_event_pk(db))
    live_query = urlencode({"window": flt.window or "", "rule": flt.rule or "", "status": flt.status,
                            "after": after})
    ctx.update(alerts=rows, filters=flt, all_windows=queries.windows(db), rules=[r.value for r in Rule],
               escalation_minutes=get_ctx(request).settings.escalation_minutes,
               live_url=f"{request.app.url_path_for('web_live_alerts')}?{live_query}", next_url=request.url.path)
    return render("alerts.html", ctx)


@router.get("/live/alerts", name="web_live_alerts")
def live_alerts(
    request: Request, user: OptionalUser, window: str | None = None, rule: str | None = None,
    status: str | None = None, after: int = 0, counts_only: bool = False,
) -> Response:
    """New and changed alerts as server-rendered rows. A row the page already shows is re-sent when it
    changes (acknowledged elsewhere, ended, escalated, reviewed); rows newer than ``after`` are new.
    ``counts_only``: just the menu badges (every other page keeps them current this way)."""
    if user is None:
        raise HTTPException(401)
    app = get_ctx(request)
    flt = _alert_filter(window, rule, status)
    wide = replace(flt, status="all")  # still follow rows that leave the "open" filter once acknowledged
    escalation = _escalation(request)
    cat = catalogue(request_language(request))

    def matches(a: queries.AlertView) -> bool:
        if flt.status == "all":
            return True
        return a.acked_at is None and (flt.status == "open" or a.escalated)

    def poll(known: tuple[Any, ...] | None) -> tuple[tuple[Any, ...], list[queries.AlertView] | None, dict[str, int]]:
        """The full query only when the version token moved (or escalation may have changed a row)."""
        with app.db.session() as db:
            version = queries.alerts_version(db)
            if version == known:
                return version, None, {}
            return version, queries.alerts(db, wide, _now(), escalation), _nav_counts(db, request)

    async def stream() -> AsyncIterator[str]:
        shown: dict[int, tuple[Any, ...]] = {}
        counts: dict[str, int] = {}
        first, idle, since_full = True, 0.0, 0.0
        version: tuple[Any, ...] | None = None
        yield "retry: 1000\n\n"
        while not await request.is_disconnected():
            # Escalation is a matter of time passing, not of a write: look again fully every few seconds.
            known = version if since_full < ESCALATION_RECHECK_S else None
            version, polled, new_counts = await run_in_threadpool(poll, known)
            since_full = since_full + LIVE_POLL_S if polled is None else 0.0
            rows = [] if counts_only else (polled or [])
            sent = False
            for a in reversed(rows):  # oldest first: prepending leaves the newest on top
                if first and a.pk <= after:
                    if matches(a):
                        shown[a.pk] = a.fingerprint()  # already rendered by the page
                    continue
                if a.pk not in shown and not matches(a):
                    continue  # not on the page and not wanted there (yet: an alert may still escalate)
                if shown.get(a.pk) == a.fingerprint():
                    continue
                is_new = a.pk not in shown
                shown[a.pk] = a.fingerprint()
                ctx = _alert_context(base_context(request, user, "alerts", "alerts.title"), user)
                ctx.update(a=a, next_url="/alerts")
                yield _sse("row", {
                    "html": render_fragment("partials/alert_row.html", ctx),
                    "alert": is_new and a.acked_at is None,
                    "announce": cat.t("alerts.announce", rule=cat.t(f"rule.{a.rule}"), window=a.window),
                })
                sent = True
            for name, value in new_counts.items():  # empty when nothing changed
                if counts.get(name) != value:
                    yield _sse("count", {"name": name, "value": value})
                    sent = True
            counts, first = (new_counts or counts), False
            idle = 0.0 if sent else idle + LIVE_POLL_S
            if idle >= LIVE_PING_S:
                yield ": ping\n\n"
                idle = 0.0
            await asyncio.sleep(LIVE_POLL_S)

    return _stream(request, stream())


@router.post("/alerts/{pk}/ack", name="web_alert_ack")
def alert_ack(
    request: Request, db: DbSession, user: OptionalUser, pk: int, note: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
) -> Response:
    if (denied := _guard(request, user, ACK_ROLES)) is not None:
        return denied
    assert user is not None
    event = db.get(Event, pk)
    if event is None:
        return _not_found(request, user)
    now = _now()
    queries.acknowledge(db, event, user, note[:500], now, client_ip(request))
    db.flush()
    if request.headers.get("x-requested-with") == "fetch":
        view = queries.alert(db, pk, now, _escalation(request))
        ctx = _alert_context(base_context(request, user, "alerts", "alerts.title"), user)
        ctx.update(a=view, next_url=next)
        return Response(render_fragment("partials/alert_row.html", ctx), media_type="text/html")
    return _see_other(_safe_next(next or "/alerts"))


# -- review ---------------------------------------------------------------------------------------------
def _evidence_url(evidence_id: str | None) -> str | None:
    # core's evidence endpoint (GET with Range support, audit-logged); see broker/evidence.py for the PUT.
    return f"/api/v1/evidence/{quote(evidence_id)}" if evidence_id else None


@router.get("/review", name="web_review")
def review_index(request: Request, db: DbSession, user: OptionalUser, status: str = "pending") -> Response:
    return _review_page(request, db, user, None, status)


@router.get("/review/{pk}", name="web_review_event")
def review_event(request: Request, db: DbSession, user: OptionalUser, pk: int, status: str = "pending") -> Response:
    return _review_page(request, db, user, pk, status)


def _review_page(request: Request, db: Session, user: User | None, pk: int | None, status: str,
                 flash: str | None = None) -> Response:
    if (denied := _guard(request, user, REVIEW_ROLES)) is not None:
        return denied
    assert user is not None
    status = "reviewed" if status == "reviewed" else "pending"
    queue = queries.review_queue(db, status)
    now, escalation = _now(), _escalation(request)
    queue_views = queries.alert_views(db, queue, now, escalation)
    current = None
    if pk is not None:
        current = queries.alert(db, pk, now, escalation)
        if current is None:
            return _not_found(request, user)
    elif queue_views:
        current = queue_views[0]
    pks = [q.pk for q in queue_views]
    prev_pk = next_pk = None
    if current is not None and current.pk in pks:
        i = pks.index(current.pk)
        prev_pk = pks[i - 1] if i > 0 else None
        next_pk = pks[i + 1] if i + 1 < len(pks) else None
    elif pks:
        next_pk = pks[0]
    ev = None
    if current is not None:
        purged = purged_ids(db, (current.clip_id, current.snapshot_id))  # deleted under the retention policy
        ev = {**asdict(current), "clip_url": None if current.clip_id in purged else _evidence_url(current.clip_id),
              "snapshot_url": None if current.snapshot_id in purged else _evidence_url(current.snapshot_id),
              "evidence_purged": bool(purged), "review": queries.latest_review(db, current.pk)}
    ctx = _page(request, db, user, "review", "review.title")
    ctx.update(ev=ev, queue=queue_views, status=status, counts=queries.review_counts(db), prev_pk=prev_pk,
               next_pk=next_pk, can_review=True, reasons=[r.value for r in ReviewReason],
               flashes=[("error", flash)] if flash else [])
    return render("review.html", ctx)


@router.post("/review/{pk}", name="web_review_event_post")
def review_submit(
    request: Request, db: DbSession, user: OptionalUser, pk: int, verdict: Annotated[str, Form()],
    reason: Annotated[str, Form()] = "", note: Annotated[str, Form()] = "", status: Annotated[str, Form()] = "pending",
) -> Response:
    if (denied := _guard(request, user, REVIEW_ROLES)) is not None:
        return denied
    assert user is not None
    event = db.get(Event, pk)
    if event is None:
        return _not_found(request, user)
    try:
        chosen = Verdict(verdict)
        why = ReviewReason(reason) if reason else None
        queries.record_review(db, event, user, chosen, why, note[:500], _now(), client_ip(request))
    except ValueError:
        db.rollback()
        response = _review_page(request, db, user, pk, status, flash="review.invalid")
        response.status_code = 422
        return response
    db.flush()
    # Straight on to the next event awaiting a verdict: reviewing is a queue.
    remaining = [e.id for e in queries.review_queue(db, "pending") if e.id != pk]
    later = [p for p in remaining if p > pk]
    if status == "pending" and (later or remaining):
        return _see_other(str(request.app.url_path_for("web_review_event", pk=str((later or remaining)[0]))))
    return _see_other(str(request.app.url_path_for("web_review_event", pk=str(pk))), status=status)


# -- leave and off-post notices -------------------------------------------------------------------------
@router.get("/leave", name="web_leave")
def leave_page(request: Request, db: DbSession, user: OptionalUser) -> Response:
    if (denied := _guard(request, user, ALL_ROLES)) is not None:
        return denied
    assert user is not None
    return render("leave.html", _leave_context(request, db, user))


def _leave_context(request: Request, db: Session, user: User, **extra: Any) -> dict[str, Any]:
    ctx = _page(request, db, user, "leave", "leave.title")
    ctx.update(
        absences=queries.recent_absences(db, _now() - timedelta(days=7)), leaves=queries.leave_records(db),
        notices=queries.recent_notices(db), staff=queries.active_staff(db), leave_types=[t.value for t in LeaveType],
        can_approve=user.role in LEAVE_ROLES, can_register_leave=user.role in LEAVE_ROLES,
        can_notice=user.role in NOTICE_ROLES, import_result=None,
    )
    ctx.update(extra)
    return ctx


def _leave_error(request: Request, db: Session, user: User, key: str) -> Response:
    db.rollback()
    ctx = _leave_context(request, db, user)
    ctx["flashes"] = [("error", key)]
    return render("leave.html", ctx, status_code=422)


@router.post("/leave/new", name="web_leave_create")
def leave_create(
    request: Request, db: DbSession, user: OptionalUser, staff_id: Annotated[int, Form()],
    type: Annotated[str, Form()], start: Annotated[str, Form()], end: Annotated[str, Form()],
    reason: Annotated[str, Form()] = "",
) -> Response:
    if (denied := _guard(request, user, LEAVE_ROLES)) is not None:
        return denied
    assert user is not None
    zone = ZoneInfo(get_ctx(request).settings.site.timezone)
    try:
        queries.create_leave(db, staff_id, LeaveType(type), _local_datetime(start, zone), _local_datetime(end, zone),
                             reason[:500], get_ctx(request).settings.leave_policy, user, client_ip(request),
                             _grace(request))
    except ValueError:
        return _leave_error(request, db, user, "leave.invalid")
    return _see_other("/leave")


@router.post("/leave/{leave_id}/decision", name="web_leave_decide")
def leave_decide(
    request: Request, db: DbSession, user: OptionalUser, leave_id: int, decision: Annotated[str, Form()],
) -> Response:
    if (denied := _guard(request, user, LEAVE_ROLES)) is not None:
        return denied
    assert user is not None
    leave = db.get(LeaveRecord, leave_id)
    if leave is None:
        return _not_found(request, user)
    try:
        outcome = LeaveStatus(decision)
        if outcome not in (LeaveStatus.APPROVED, LeaveStatus.REJECTED):
            raise ValueError(decision)
        queries.decide_leave(db, leave, outcome, user, _now(), client_ip(request), _grace(request))
    except ValueError:
        return _leave_error(request, db, user, "leave.invalid")
    return _see_other("/leave")


@router.post("/leave/import", name="web_leave_import")
async def leave_import(request: Request, user: OptionalUser) -> Response:
    if (denied := _guard(request, user, LEAVE_ROLES)) is not None:
        return denied
    assert user is not None
    form = await request.form()
    upload = form.get("file")
    content = await upload.read() if upload is not None and not isinstance(upload, str) else b""
    result = await run_in_threadpool(admin.import_leave_csv, get_ctx(request), user, content, client_ip(request))
    with get_ctx(request).db.session() as db:
        return render("leave.html", _leave_context(request, db, user, import_result=result),
                      status_code=200 if not result.errors else 422)


@router.post("/notices", name="web_notice_create")
def notice_create(
    request: Request, db: DbSession, user: OptionalUser, staff_id: Annotated[int, Form()],
    reason: Annotated[str, Form()], minutes: Annotated[int, Form()],
) -> Response:
    if (denied := _guard(request, user, NOTICE_ROLES)) is not None:
        return denied
    assert user is not None
    if not reason.strip() or not 1 <= minutes <= 480:
        return _leave_error(request, db, user, "leave.invalid")
    try:
        queries.create_notice(db, staff_id, reason[:256], minutes, _now(), user, client_ip(request), _grace(request))
    except ValueError:
        return _leave_error(request, db, user, "leave.invalid")
    return _see_other("/leave")


# -- reports (built by dashboard.reports; here only the way in) ------------------------------------------
@router.get("/reports", name="web_reports")
def reports_page(request: Request, db: DbSession, user: OptionalUser) -> Response:
    if (denied := _guard(request, user, (Role.ADMIN, Role.SUPERVISOR, Role.VIEWER))) is not None:
        return denied
    assert user is not None
    ctx = _page(request, db, user, "reports", "reports.title")
    ctx.update(report_links=admin.report_links(request))
    return render("reports.html", ctx)


# -- administration -------------------------------------------------------------------------------------
@router.get("/admin", name="web_admin")
def admin_index(request: Request, user: OptionalUser) -> Response:
    if (denied := _guard(request, user, admin.ANY_ADMIN_ROLES)) is not None:
        return denied
    assert user is not None
    first = admin.sections_for(user)[0]
    return RedirectResponse(str(request.app.url_path_for("web_admin_section", section=first)), status_code=303)


@router.get("/admin/{section}", name="web_admin_section")
def admin_section(request: Request, db: DbSession, user: OptionalUser, section: str) -> Response:
    if (denied := _guard(request, user, admin.roles_for(section))) is not None:
        return denied
    assert user is not None
    ctx = _page(request, db, user, "admin", "admin.title")
    ctx.update(admin.section_context(db, request, user, section, ctx))
    return render("admin/section.html", ctx)


@router.post("/admin/{section}", name="web_admin_section_post")
async def admin_section_post(request: Request, user: OptionalUser, section: str) -> Response:
    if (denied := _guard(request, user, admin.roles_for(section))) is not None:
        return denied
    assert user is not None
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    app = get_ctx(request)
    try:
        await run_in_threadpool(admin.create_in_section, app, request, user, section, form)
    except ValueError:
        with app.db.session() as db:
            ctx = _page(request, db, user, "admin", "admin.title")
            ctx.update(admin.section_context(db, request, user, section, ctx))
            ctx["flashes"] = [("error", "admin.invalid")]
            return render("admin/section.html", ctx, status_code=422)
    return _see_other(str(request.app.url_path_for("web_admin_section", section=section)), saved=1)


@router.get("/admin/cameras/{camera_id}/zones", name="web_admin_zones")
def admin_zones(request: Request, db: DbSession, user: OptionalUser, camera_id: int) -> Response:
    if (denied := _guard(request, user, admin.roles_for("cameras"))) is not None:
        return denied
    assert user is not None
    ctx = _page(request, db, user, "admin", "admin.title")
    ctx.update(admin.zones_context(db, request, camera_id))
    return render("admin/zones.html", ctx)


@router.post("/admin/cameras/{camera_id}/zones", name="web_admin_zones_post")
def admin_zones_post(
    request: Request, db: DbSession, user: OptionalUser, camera_id: int, zones: Annotated[str, Form()],
) -> Response:
    if (denied := _guard(request, user, admin.roles_for("cameras"))) is not None:
        return denied
    assert user is not None
    try:
        admin.save_zones(db, get_ctx(request), user, camera_id, zones, client_ip(request))
    except ValueError:
        ctx = _page(request, db, user, "admin", "admin.title")
        ctx.update(admin.zones_context(db, request, camera_id))
        ctx["flashes"] = [("error", "zones.invalid")]
        return render("admin/zones.html", ctx, status_code=422)
    return _see_other(str(request.app.url_path_for("web_admin_zones", camera_id=str(camera_id))), saved=1)


__all__ = ["router"]
