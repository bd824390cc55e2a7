"""Login CSRF: refuse a sign-in that a browser says comes from another site.

Without this a hostile page can sign the victim's browser in as the attacker (then read what the victim
enters). The session CSRF token cannot protect the login, which comes before any session."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import HTTPException, Request, status

from dashboard.auth.deps import get_ctx


def _origin_of(url: str) -> tuple[str, str] | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return parts.scheme.lower(), parts.netloc.lower()


def same_origin(request: Request, allowed_origins: tuple[str, ...] = ()) -> bool:
    """False when a browser says the request comes from another site (login CSRF).

    The Origin header (sent by every current browser on a cross-origin POST) must name this server (the Host
    header) or one of ``allowed_origins`` (a reverse proxy's public origin); without Origin the Referer is
    checked the same way; a request with neither is not from a browser page and passes. ``Origin: null``
    (sandboxed frames, opaque redirects) is refused."""
    origin = request.headers.get("origin")
    source = origin if origin is not None else request.headers.get("referer")
    if source is None:
        return True
    if source.strip().lower() == "null":
        return False
    found = _origin_of(source.strip())
    if found is None:
        return False
    host = request.headers.get("host", "").lower()
    if host and found[1] == host:
        return True
    return any(_origin_of(a) == found for a in allowed_origins)



def require_same_origin(request: Request) -> None:
    """Dependency of the login endpoints: 403 on a cross-site sign-in."""
    if not same_origin(request, tuple(get_ctx(request).settings.allowed_origins)):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "cross-site sign-in refused (Origin/Referer)")
