"""The web UI: server-rendered pages (zh-CN first, English second) with small progressive enhancement.

Every page works as plain HTML forms; ``static/app.js`` adds live updates (Server-Sent Events), in-place
form swaps and keyboard shortcuts. Authentication, roles and CSRF come from core (``dashboard.auth``);
what a page does goes through ``dashboard.services``, the same code the API calls.

This module holds the front door (static files, sign-in); the pages live one module per concern:
board.py, alerts.py, review.py, leave.py (and off-post notices), reports.py, admin_pages.py, on the shared
page machinery in pages.py.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse, Response

from dashboard.auth.deps import DbSession, client_ip, get_ctx, optional_user
from dashboard.auth.origin import same_origin
from dashboard.auth.ratelimit import LoginBusy
from dashboard.auth.users import LoginThrottled, authenticate
from dashboard.db.models import AuditLog, User
from dashboard.web import admin_pages, alerts, board, leave, reports, review
from dashboard.web.pages import safe_next as _safe_next
from dashboard.web.render import STATIC_DIR, base_context, render

router = APIRouter(include_in_schema=False)

OptionalUser = Annotated[User | None, Depends(optional_user)]


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


# -- the pages, one module per concern -------------------------------------------------------------------
for part in (board, alerts, review, leave, reports, admin_pages):
    router.include_router(part.router)
for part in (board, alerts):
    router.include_router(part.live)


__all__ = ["router"]
