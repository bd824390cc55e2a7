"""Browser sessions: a signed cookie (HttpOnly, SameSite=Lax, Secure configurable) holding the user id, the
user's session version, a random session id and a CSRF token.

The session id's sha256 is a row of ``user_session``: signing out revokes that row, a password change or a
deactivation revokes every row of the user (and bumps the session version), so a copied cookie stops
working on the server, not only in the browser that deleted it.

CSRF is double-submit: the token also goes out in a script-readable cookie, and every unsafe request
authenticated by the session cookie must echo it in the ``X-CSRF-Token`` header or a ``csrf_token``
form field. A cross-site page can make the browser send the cookies but cannot read them. The login itself
(no session yet) is protected by an Origin/Referer check (origin.py)."""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from dashboard.db.engine import Database
from dashboard.db.models import UserSession, utcnow

log = logging.getLogger("counterwatch.dashboard.auth")

SESSION_COOKIE = "cw_session"
CSRF_COOKIE = "cw_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FORM_FIELD = "csrf_token"
# Long-lived proof that this browser once signed in as a user: its failed logins are counted apart from
# everybody else's, so an attacker cannot lock the user out (see ratelimit.py).
KNOWN_CLIENT_COOKIE = "cw_known"
KNOWN_CLIENT_MAX_AGE_S = 180 * 24 * 3600


@dataclass(frozen=True)
class SessionData:
    user_id: int
    session_version: int
    csrf: str
    session_id: str = ""


@dataclass(frozen=True)
class KnownClient:
    username: str
    nonce: str


def _sid_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class SessionCodec:
    def __init__(self, secret: str, max_age_s: int, secure: bool, db: Database | None = None) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="cw-session")
        self._known = URLSafeTimedSerializer(secret, salt="cw-known-client")
        self.max_age_s = max_age_s
        self.secure = secure
        self._db = db  # for revoking at sign-out (the logout handlers hold no write transaction)

    def _cookie_options(self, max_age: int) -> dict[str, object]:
        return {"max_age": max_age, "secure": self.secure, "samesite": "lax", "path": "/"}

    def start(self, response: Response, db: Session, user_id: int, session_version: int, *, username: str,
              ip: str | None = None) -> SessionData:
        """Record a new session in the caller's transaction and set its cookies."""
        data = SessionData(user_id, session_version, secrets.token_urlsafe(24), secrets.token_urlsafe(32))
        purge_ended_sessions(db, user_id)  # the table stays as small as the number of live sessions
        db.add(UserSession(user_id=user_id, token_hash=_sid_hash(data.session_id), ip=ip,
                           expires_at=utcnow() + timedelta(seconds=self.max_age_s)))
        value = self._serializer.dumps(
            {"u": data.user_id, "v": data.session_version, "c": data.csrf, "s": data.session_id})
        common = self._cookie_options(self.max_age_s)
        response.set_cookie(SESSION_COOKIE, value, httponly=True, **common)  # type: ignore[arg-type]
        response.set_cookie(CSRF_COOKIE, data.csrf, httponly=False, **common)  # type: ignore[arg-type]
        known = self._known.dumps({"u": username, "n": secrets.token_urlsafe(16)})
        response.set_cookie(KNOWN_CLIENT_COOKIE, known, httponly=True,
                            **self._cookie_options(KNOWN_CLIENT_MAX_AGE_S))  # type: ignore[arg-type]
        return data

    def end(self, response: Response, request: Request | None = None) -> None:
        """Delete the cookies and revoke the request's session on the server."""
        response.delete_cookie(SESSION_COOKIE, path="/")
        response.delete_cookie(CSRF_COOKIE, path="/")
        data = self.read(request) if request is not None else None
        if data is not None and data.session_id and self._db is not None:
            with self._db.session() as s:
                revoke_session(s, data.session_id)

    def read(self, request: Request) -> SessionData | None:
        """The cookie's content when its signature and age are good (not checked against the database)."""
        raw = request.cookies.get(SESSION_COOKIE)
        if not raw:
            return None
        try:
            payload = self._serializer.loads(raw, max_age=self.max_age_s)
            return SessionData(int(payload["u"]), int(payload["v"]), str(payload["c"]), str(payload.get("s", "")))
        except (BadSignature, KeyError, TypeError, ValueError, AttributeError):
            return None

    def live(self, request: Request, db: Session) -> SessionData | None:
        """The cookie's session when it is also live on the server (not revoked, not expired)."""
        data = self.read(request)
        if data is None or not data.session_id:
            return None  # cookies from before server-side sessions carry no id: sign in again
        row = db.scalar(select(UserSession).where(UserSession.token_hash == _sid_hash(data.session_id)))
        if row is None or row.user_id != data.user_id or row.revoked_at is not None or row.expires_at <= utcnow():
            return None
        return data

    def known_client(self, request: Request) -> KnownClient | None:
        raw = request.cookies.get(KNOWN_CLIENT_COOKIE)
        if not raw:
            return None
        try:
            payload = self._known.loads(raw, max_age=KNOWN_CLIENT_MAX_AGE_S)
            return KnownClient(str(payload["u"]), str(payload["n"]))
        except (BadSignature, KeyError, TypeError, ValueError, AttributeError):
            return None


def revoke_session(db: Session, session_id: str) -> None:
    db.execute(update(UserSession).where(UserSession.token_hash == _sid_hash(session_id),
                                         UserSession.revoked_at.is_(None)).values(revoked_at=utcnow()))


def revoke_user_sessions(db: Session, user_id: int) -> int:
    """End every browser session of a user (password change, deactivation). Returns how many were live."""
    result = db.execute(update(UserSession).where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
                        .values(revoked_at=utcnow()))
    return int(getattr(result, "rowcount", 0) or 0)


def purge_ended_sessions(db: Session, user_id: int, older_than: timedelta = timedelta(days=1)) -> None:
    """Forget a user's sessions that ended (expired or revoked) more than ``older_than`` ago."""
    cutoff = utcnow() - older_than
    db.execute(delete(UserSession).where(UserSession.user_id == user_id,
                                         or_(UserSession.expires_at < cutoff, UserSession.revoked_at < cutoff)))


async def submitted_csrf(request: Request) -> str | None:
    token = request.headers.get(CSRF_HEADER)
    if token:
        return token
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()  # Starlette caches it: Form() parameters still see the body
        value = form.get(CSRF_FORM_FIELD)
        return value if isinstance(value, str) else None
    return None


def csrf_matches(expected: str, submitted: str | None) -> bool:
    return submitted is not None and secrets.compare_digest(expected, submitted)
