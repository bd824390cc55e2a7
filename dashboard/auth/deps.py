"""FastAPI dependencies: database session, the signed-in user, role checks, the uploading device.

A request is authenticated by ``Authorization: Bearer cwt_...`` (scripts) or by the session cookie
(browsers). Cookie-authenticated unsafe requests must carry the CSRF token (see sessions.py).

Typical use (the API and the web pages name the same checks)::

    @router.post("/reviews")
    def review(..., user: Reviewer): ...

A refused check raises 401 / 403; the API answers that as JSON, the web pages as the login redirect or
the translated "forbidden" page (dashboard/web/pages.py). Further checks (a hall scope, ...) belong here
as more ``require_*`` factories and ``Annotated`` aliases of the same shape.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Coroutine, Iterator
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard.auth.scope import apply_user_scope
from dashboard.auth.sessions import csrf_matches, submitted_csrf
from dashboard.auth.tokens import DEVICE_TOKEN_PREFIX, bearer_token, token_hash
from dashboard.auth.users import user_for_token
from dashboard.context import AppContext
from dashboard.db.models import Device, User
from dashboard.enums import Role
from dashboard.services.base import Actor

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

# Who may do what (routes name these sets rather than listing roles ad hoc).
ALL_ROLES = (Role.ADMIN, Role.SUPERVISOR, Role.DUTY, Role.VIEWER)
ACK_ROLES = (Role.ADMIN, Role.SUPERVISOR, Role.DUTY)
NOTICE_ROLES = (Role.ADMIN, Role.SUPERVISOR, Role.DUTY)
REVIEW_ROLES = (Role.ADMIN, Role.SUPERVISOR)
LEAVE_ROLES = (Role.ADMIN, Role.SUPERVISOR)
ROSTER_ROLES = (Role.ADMIN, Role.SUPERVISOR)
ADMIN_ROLES = (Role.ADMIN,)
REPORT_ROLES = (Role.ADMIN, Role.SUPERVISOR, Role.VIEWER)


def get_ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


def get_db(request: Request) -> Iterator[Session]:
    """One session per request, committed when the handler returns without error."""
    with get_ctx(request).db.session() as session:
        yield session


# Ends (commits) before the response is sent, so a client never reads its own write before it is committed.
DbSession = Annotated[Session, Depends(get_db, scope="function")]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def optional_user(request: Request, db: DbSession) -> User | None:
    """The authenticated user, or None. Raises 403 on a cookie request with a missing/wrong CSRF token."""
    cached = getattr(request.state, "user", None)
    if cached is not None:
        return cached
    token = bearer_token(request.headers.get("authorization"))
    user: User | None = None
    if token is not None:
        if token.startswith(DEVICE_TOKEN_PREFIX):
            return None  # a device token opens the evidence upload and nothing else
        user = user_for_token(db, token)
    else:
        session = get_ctx(request).sessions.live(request, db)
        if session is not None:
            candidate = db.get(User, session.user_id)
            if candidate is not None and candidate.active and candidate.session_version == session.session_version:
                if request.method not in SAFE_METHODS and not csrf_matches(
                    session.csrf, await submitted_csrf(request)
                ):
                    raise HTTPException(status.HTTP_403_FORBIDDEN, "CSRF token missing or wrong")
                user = candidate
    request.state.user = user
    apply_user_scope(db, user)  # hall-scoped users see only their halls from here on (scope.py)
    return user


async def current_user(user: User | None = Depends(optional_user)) -> User:
    if user is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "not signed in", headers={"WWW-Authenticate": "Bearer"}
        )
    return user


def check_role(user: User, allowed: Collection[Role]) -> User:
    """The user, or 403 when their role is not among ``allowed``."""
    if user.role not in allowed:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"role {user.role.value} may not do this (needs one of "
            f"{', '.join(sorted(r.value for r in allowed))})"
        )
    return user


def require_roles(*roles: Role) -> Callable[..., Coroutine[Any, Any, User]]:
    allowed = frozenset(roles)

    async def check(user: User = Depends(current_user)) -> User:
        return check_role(user, allowed)

    return check


# Ready-made role checks: a route names who may call it in its signature (``user: Reviewer``).
AnyUser = Annotated[User, Depends(require_roles(*ALL_ROLES))]
Acknowledger = Annotated[User, Depends(require_roles(*ACK_ROLES))]
Reviewer = Annotated[User, Depends(require_roles(*REVIEW_ROLES))]
LeaveManager = Annotated[User, Depends(require_roles(*LEAVE_ROLES))]
NoticeWriter = Annotated[User, Depends(require_roles(*NOTICE_ROLES))]
RosterManager = Annotated[User, Depends(require_roles(*ROSTER_ROLES))]
Administrator = Annotated[User, Depends(require_roles(*ADMIN_ROLES))]
ReportReader = Annotated[User, Depends(require_roles(*REPORT_ROLES))]


def actor(request: Request, user: User) -> Actor:
    """Who acts, from where, now: what a service records in the audit trail."""
    return Actor(user, client_ip(request))


def current_device(request: Request, db: DbSession) -> Device:
    """The device whose upload token is presented (evidence upload only)."""
    token = bearer_token(request.headers.get("authorization"))
    device = None
    if token is not None and token.startswith(DEVICE_TOKEN_PREFIX):
        device = db.scalar(select(Device).where(Device.upload_token_hash == token_hash(token)))
    if device is None or not device.active:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "device upload token missing or unknown",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return device
