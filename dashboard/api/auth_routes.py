"""/api/v1/auth: sign in and out (browser session), who am I, personal API tokens."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from sqlalchemy import select

from dashboard.api.common import IdPath
from dashboard.api.schemas import LoginIn, LoginOut, TokenIn, TokenIssued, TokenOut, UserOut
from dashboard.auth.deps import DbSession, client_ip, current_user, get_ctx
from dashboard.auth.origin import require_same_origin
from dashboard.auth.ratelimit import LoginBusy
from dashboard.auth.users import LoginThrottled, authenticate, issue_api_token
from dashboard.db.audit import audit
from dashboard.db.models import ApiToken, User

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/login", response_model=LoginOut, dependencies=[Depends(require_same_origin)],
             responses={429: {"description": "too many failed logins from this source; see Retry-After"},
                        503: {"description": "too many logins in progress; retry shortly"}})
def login(body: LoginIn, request: Request, response: Response, db: DbSession) -> LoginOut:
    """Sign in with username and password; sets the session cookie and returns the CSRF token."""
    ctx = get_ctx(request)
    ip = client_ip(request)
    try:
        user = authenticate(db, ctx.login_limiter, body.username, body.password, ip,
                            ctx.sessions.known_client(request))
    except LoginThrottled as exc:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, str(exc),
                            headers={"Retry-After": str(int(exc.retry_after) + 1)}) from None
    except LoginBusy:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "too many logins in progress; retry shortly",
                            headers={"Retry-After": "1"}) from None
    if user is None:
        db.commit()  # keep the record of the failure: the error below rolls the request's session back
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "wrong username or password")
    session = ctx.sessions.start(response, db, user.id, user.session_version, username=user.username, ip=ip)
    audit(db, user, "login", "user", user.id, ip=ip)
    return LoginOut(user=UserOut.model_validate(user), csrf_token=session.csrf)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(request: Request, response: Response, user: User = Depends(current_user)) -> None:
    get_ctx(request).sessions.end(response, request)


@router.get("/me", response_model=UserOut)
def me(user: User = Depends(current_user)) -> User:
    return user


@router.get("/tokens", response_model=list[TokenOut])
def my_tokens(db: DbSession, user: User = Depends(current_user)) -> list[ApiToken]:
    return list(db.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id)))


@router.post("/tokens", response_model=TokenIssued, status_code=status.HTTP_201_CREATED)
def create_token(body: TokenIn, request: Request, db: DbSession, user: User = Depends(current_user)) -> TokenIssued:
    issued = issue_api_token(db, user, body.name, body.expires_at)
    audit(db, user, "create", "api_token", issued.row.id, {"name": body.name}, ip=client_ip(request))
    return TokenIssued(**TokenOut.model_validate(issued.row).model_dump(), token=issued.token)


@router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_token(token_id: IdPath, request: Request, db: DbSession, user: User = Depends(current_user)) -> None:
    row = db.get(ApiToken, token_id)
    if row is None or row.user_id != user.id:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such token")
    row.revoked = True
    audit(db, user, "revoke", "api_token", token_id, ip=client_ip(request))
