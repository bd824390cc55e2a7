"""Administration pages: the generic sections and the camera zone editor (their content: web/admin.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response

from dashboard.api.common import IdPath
from dashboard.auth.deps import DbSession, actor, check_role, current_user, get_ctx, require_roles
from dashboard.db.models import User
from dashboard.web import admin, pages
from dashboard.web.render import render

router = pages.page_router()


async def section_user(section: str, user: User = Depends(current_user)) -> User:
    """Each section names its own roles (staff and rosters: supervisors too; the rest: admins)."""
    return check_role(user, admin.roles_for(section))


SectionUser = Annotated[User, Depends(section_user)]
AnyAdmin = Annotated[User, Depends(require_roles(*admin.ANY_ADMIN_ROLES))]
CameraAdmin = Annotated[User, Depends(require_roles(*admin.roles_for("cameras")))]


@router.get("/admin", name="web_admin")
def admin_index(request: Request, user: AnyAdmin) -> Response:
    first = admin.sections_for(user)[0]
    return RedirectResponse(str(request.app.url_path_for("web_admin_section", section=first)), status_code=303)


@router.get("/admin/{section}", name="web_admin_section")
def admin_section(request: Request, db: DbSession, user: SectionUser, section: str) -> Response:
    ctx = pages.page_context(request, db, user, "admin", "admin.title")
    ctx.update(admin.section_context(db, request, user, section, ctx))
    return render("admin/section.html", ctx)


@router.post("/admin/{section}", name="web_admin_section_post")
async def admin_section_post(request: Request, user: SectionUser, section: str) -> Response:
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    app = get_ctx(request)
    try:
        await run_in_threadpool(admin.create_in_section, app, request, user, section, form)
    except ValueError:
        with app.db.session() as db:
            ctx = pages.page_context(request, db, user, "admin", "admin.title")
            ctx.update(admin.section_context(db, request, user, section, ctx))
            ctx["flashes"] = [("error", "admin.invalid")]
            return render("admin/section.html", ctx, status_code=422)
    return pages.see_other(str(request.app.url_path_for("web_admin_section", section=section)), saved=1)


@router.get("/admin/cameras/{camera_id}/zones", name="web_admin_zones")
def admin_zones(request: Request, db: DbSession, user: CameraAdmin, camera_id: IdPath) -> Response:
    ctx = pages.page_context(request, db, user, "admin", "admin.title")
    ctx.update(admin.zones_context(db, request, camera_id))
    return render("admin/zones.html", ctx)


@router.post("/admin/cameras/{camera_id}/zones", name="web_admin_zones_post")
def admin_zones_post(
    request: Request, db: DbSession, user: CameraAdmin, camera_id: IdPath, zones: Annotated[str, Form()],
) -> Response:
    try:
        admin.save_zones(db, get_ctx(request), user, camera_id, zones, actor(request, user).ip)
    except ValueError:
        ctx = pages.page_context(request, db, user, "admin", "admin.title")
        ctx.update(admin.zones_context(db, request, camera_id))
        ctx["flashes"] = [("error", "zones.invalid")]
        return render("admin/zones.html", ctx, status_code=422)
    return pages.see_other(str(request.app.url_path_for("web_admin_zones", camera_id=str(camera_id))), saved=1)
