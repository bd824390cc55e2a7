"""Template rendering shared by every page: language, translation, times in the site's zone, navigation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from dashboard.auth.deps import ADMIN_ROLES, ALL_ROLES, REVIEW_ROLES, ROSTER_ROLES, get_ctx
from dashboard.auth.sessions import CSRF_COOKIE
from dashboard.db.models import User
from dashboard.enums import Role
from dashboard.web.i18n import Catalogue, catalogue, normalise_language

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
LANG_COOKIE = "cw_lang"
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.autoescape = True


@dataclass(frozen=True)
class NavItem:
    name: str  # route name
    key: str  # catalogue key
    roles: tuple[Role, ...]
    count_name: str | None = None


NAV = (
    NavItem("board", "nav.board", ALL_ROLES),
    NavItem("alerts", "nav.alerts", ALL_ROLES, count_name="alerts"),
    NavItem("review", "nav.review", REVIEW_ROLES, count_name="review"),
    NavItem("leave", "nav.leave", ALL_ROLES),
    NavItem("reports", "nav.reports", (Role.ADMIN, Role.SUPERVISOR, Role.VIEWER)),
    NavItem("admin", "nav.admin", tuple(set(ADMIN_ROLES) | set(ROSTER_ROLES))),
)


def request_language(request: Request) -> str:
    """``?lang=`` wins (and is remembered in a cookie), then the cookie, then zh-CN."""
    return normalise_language(request.query_params.get("lang") or request.cookies.get(LANG_COOKIE))


def site_zone(request: Request) -> ZoneInfo:
    return ZoneInfo(get_ctx(request).settings.site.timezone)


def format_duration(cat: Catalogue, seconds: float) -> str:
    s = max(0, int(seconds))
    h, m, sec = s // 3600, (s % 3600) // 60, s % 60
    if h:
        return cat.t("js.duration_hm", h=h, m=m)
    if m:
        return cat.t("js.duration_ms", m=m, s=sec)
    return cat.t("js.duration_s", s=sec)


def base_context(request: Request, user: User | None, page: str, title_key: str,
                 counts: dict[str, int] | None = None) -> dict[str, Any]:
    lang = request_language(request)
    cat = catalogue(lang)
    zone = site_zone(request)

    def url(name: str, **params: Any) -> str:
        """Path of one of this package's routes (all named ``web_*``: core's API has its own ``login``...)."""
        return str(request.app.url_path_for(f"web_{name}", **{k: str(v) for k, v in params.items()}))

    def fmt_dt(value: datetime | None) -> str:
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S") if value else ""

    nav = []
    if user is not None:
        for item in NAV:
            if user.role in item.roles:
                nav.append({"href": url(item.name), "key": item.key, "current": page == item.name,
                            "count_name": item.count_name,
                            "count": (counts or {}).get(item.count_name or "", 0)})
    session = get_ctx(request).sessions.read(request)
    return {
        "request": request, "lang": lang, "t": cat.t, "user": user, "page": page, "title_key": title_key,
        "nav": nav, "url": url, "fmt_dt": fmt_dt, "fmt_duration": lambda s: format_duration(cat, s),
        "static_url": lambda name: url("static", path=name),
        "csrf": session.csrf if session else request.cookies.get(CSRF_COOKIE, ""),
        "js_messages": cat.subset("js."), "flashes": [], "demo": get_ctx(request).settings.demo,
    }


def render(name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    request: Request = context["request"]
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    remember_language(request, response)
    return response


def render_fragment(name: str, context: dict[str, Any]) -> str:
    return templates.get_template(name).render(context)


def remember_language(request: Request, response: Any) -> None:
    chosen = request.query_params.get("lang")
    if chosen:
        response.set_cookie(LANG_COOKIE, normalise_language(chosen), max_age=365 * 86400, samesite="lax",
                            path="/")
