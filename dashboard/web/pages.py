"""What every page module shares: the page route (refusals become pages), times and settings, small helpers.

Pages name their permission in the signature, with the same dependencies the API uses
(``user: Reviewer``, dashboard/auth/deps.py). :class:`PageRoute` turns what those dependencies and the
services raise into what a browser should see: 401 -> the login page (coming back here afterwards),
403 -> the translated "forbidden" page, a missing record or an id no row can have -> the "not found" page.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session

from dashboard.auth.deps import get_ctx
from dashboard.db.models import User, utcnow
from dashboard.services.errors import Forbidden, NotFound, ServiceError
from dashboard.web import queries
from dashboard.web.render import base_context, render

LIVE_POLL_S = 0.25  # how often a live page's stream looks for changes (one tiny query; < 2 s alert budget)
LIVE_PING_S = 15.0
ESCALATION_RECHECK_S = 5.0


def now() -> datetime:
    return utcnow()


def escalation(request: Request) -> timedelta:
    return timedelta(minutes=get_ctx(request).settings.escalation_minutes)


def grace(request: Request) -> timedelta:
    return timedelta(minutes=get_ctx(request).settings.notice_grace_minutes)


def safe_next(value: str | None) -> str:
    """Only same-site paths: ``//evil.example`` or ``https://...`` would make the login an open redirect."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/board"


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target)}", status_code=303)


def see_other(path: str, **params: object) -> RedirectResponse:
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return RedirectResponse(path + (f"?{query}" if query else ""), status_code=303)


def nav_counts(db: Session, request: Request) -> dict[str, int]:
    counts = queries.alert_counts(db, now(), escalation(request))
    return {"alerts": counts["unacked"], "review": queries.review_counts(db)["pending"]}


def page_context(request: Request, db: Session, user: User, page: str, title_key: str) -> dict[str, Any]:
    return base_context(request, user, page, title_key, counts=nav_counts(db, request))


def error_page(request: Request, status_code: int, title_key: str, message_key: str) -> Response:
    user = getattr(request.state, "user", None)  # set once the session was read (absent: a CSRF refusal)
    ctx = base_context(request, user, "", title_key)
    ctx.update(message_key=message_key)
    return render("error.html", ctx, status_code=status_code)


def not_found(request: Request) -> Response:
    return error_page(request, 404, "error.not_found_title", "error.not_found")


def forbidden(request: Request) -> Response:
    return error_page(request, 403, "error.forbidden_title", "error.forbidden")


def _bad_path(exc: RequestValidationError) -> bool:
    return any(err.get("loc", ("",))[0] == "path" for err in exc.errors())


class PageRoute(APIRoute):
    """A page: refusals from the permission dependencies and the services are answered as pages."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except HTTPException as exc:
                if exc.status_code == 401:
                    return login_redirect(request)
                if exc.status_code == 403:
                    return forbidden(request)
                if exc.status_code == 404:
                    return not_found(request)
                raise
            except RequestValidationError as exc:
                if _bad_path(exc):  # /review/99999999999999999999 names no record
                    return not_found(request)
                raise
            except NotFound:
                return not_found(request)
            except Forbidden:
                return forbidden(request)
            except ServiceError as exc:
                raise HTTPException(exc.status_code, str(exc)) from None

        return handle


def page_router() -> APIRouter:
    return APIRouter(include_in_schema=False, route_class=PageRoute)


def live_router() -> APIRouter:
    """Server-Sent Event streams: plain 401 / 403 (a stream is not a page to redirect)."""
    return APIRouter(include_in_schema=False)


def sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n"


def stream(generator: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(generator, media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
