"""/api/v1/users/{id}/sites: the halls a user may see (admins only). See dashboard/auth/scope.py."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request, status
from sqlalchemy import select

from dashboard.api.common import IdPath, get_or_404
from dashboard.api.schemas import UserSitesIn, UserSitesOut
from dashboard.auth.deps import ADMIN_ROLES, DbSession, client_ip, require_roles
from dashboard.auth.scope import grant_sites, granted_sites
from dashboard.db.audit import audit
from dashboard.db.models import Site, User
from dashboard.enums import Role

router = APIRouter(tags=["administration"])


def _out(db: DbSession, user: User) -> UserSitesOut:
    sites = sorted(granted_sites(db, user.id))
    return UserSitesOut(user_id=user.id, sites=sites, scoped=bool(sites) and user.role is not Role.ADMIN)


@router.get("/users/{user_id}/sites", response_model=UserSitesOut)
def user_sites(user_id: IdPath, db: DbSession, _: User = Depends(require_roles(*ADMIN_ROLES))) -> UserSitesOut:
    return _out(db, get_or_404(db, User, user_id, "user"))


@router.put("/users/{user_id}/sites", response_model=UserSitesOut)
def set_user_sites(user_id: IdPath, body: UserSitesIn, request: Request, db: DbSession,
                   admin: User = Depends(require_roles(*ADMIN_ROLES))) -> UserSitesOut:
    """Replace the user's halls; an empty list makes the user city-wide (every hall). Admins are never scoped."""
    user = get_or_404(db, User, user_id, "user")
    known = set(db.scalars(select(Site.id).where(Site.id.in_(body.sites))))
    unknown = sorted(set(body.sites) - known)
    if unknown:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"no such site: {', '.join(unknown)}")
    grant_sites(db, user.id, body.sites)
    audit(db, admin, "update", "user_sites", user.id, {"sites": sorted(set(body.sites))}, ip=client_ip(request))
    return _out(db, user)
