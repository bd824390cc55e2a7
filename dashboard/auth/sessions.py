"""Browser sessions: a signed cookie (HttpOnly, SameSite=Lax, Secure configurable) holding the user id,
the user's session version (bumped on password change, which logs out every browser) and a CSRF token.

CSRF is double-submit: the token also goes out in a script-readable cookie, and every unsafe request
authenticated by the session cookie must echo it in the ``X-CSRF-Token`` header or a ``csrf_token``
form field. A cross-site page can make the browser send the cookies but cannot read them."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from fastapi import Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

SESSION_COOKIE = "cw_session"
CSRF_COOKIE = "cw_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FORM_FIELD = "csrf_token"


@dataclass(frozen=True)
class SessionData:
    user_id: int
    session_version: int
    csrf: str


class SessionCodec:
    def __init__(self, secret: str, max_age_s: int, secure: bool) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt="cw-session")
        self.max_age_s = max_age_s
        self.secure = secure

    def start(self, response: Response, user_id: int, session_version: int) -> SessionData:
        data = SessionData(user_id, session_version, secrets.token_urlsafe(24))
        value = self._serializer.dumps({"u": data.user_id, "v": data.session_version, "c": data.csrf})
        common = {"max_age": self.max_age_s, "secure": self.secure, "samesite": "lax", "path": "/"}
        response.set_cookie(SESSION_COOKIE, value, httponly=True, **common)  # type: ignore[arg-type]
        response.set_cookie(CSRF_COOKIE, data.csrf, httponly=False, **common)  # type: ignore[arg-type]
        return data

    def end(self, response: Response) -> None:
        response.delete_cookie(SESSION_COOKIE, path="/")
        response.delete_cookie(CSRF_COOKIE, path="/")

    def read(self, request: Request) -> SessionData | None:
        raw = request.cookies.get(SESSION_COOKIE)
        if not raw:
            return None
        try:
            payload = self._serializer.loads(raw, max_age=self.max_age_s)
            return SessionData(int(payload["u"]), int(payload["v"]), str(payload["c"]))
        except (BadSignature, KeyError, TypeError, ValueError):
            return None


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
