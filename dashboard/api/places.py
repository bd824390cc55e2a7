"""/api/v1/sites, /windows, /devices, /cameras."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request, status
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from dashboard.api.common import KeyPath, get_or_404
from dashboard.api.schemas import (
    CameraOut,
    DeviceIn,
    DeviceOut,
    DeviceRegistered,
    SiteIn,
    SiteOut,
    WindowIn,
    WindowOut,
)
from dashboard.auth.deps import ADMIN_ROLES, ALL_ROLES, DbSession, client_ip, require_roles
from dashboard.db.audit import audit
from dashboard.db.models import Camera, Device, Site, User, Window
from dashboard.registry import CameraSpec, ensure_window, register_device

router = APIRouter(tags=["sites and devices"])


@router.get("/sites", response_model=list[SiteOut])
def list_sites(db: DbSession, _: User = Depends(require_roles(*ALL_ROLES))) -> list[Site]:
    return list(db.scalars(select(Site).order_by(Site.id)))


@router.post("/sites", response_model=SiteOut, status_code=status.HTTP_201_CREATED)
def create_site(body: SiteIn, request: Request, db: DbSession,
                user: User = Depends(require_roles(*ADMIN_ROLES))) -> Site:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(body.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"unknown time zone {body.timezone!r}") from None
    if db.get(Site, body.id) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"site {body.id!r} exists")
    site = Site(**body.model_dump())
    db.add(site)
    audit(db, user, "create", "site", body.id, body.model_dump(), ip=client_ip(request))
    return site


@router.get("/windows", response_model=list[WindowOut])
def list_windows(db: DbSession, _: User = Depends(require_roles(*ALL_ROLES)),
                 site_id: str | None = None) -> list[Window]:
    stmt = select(Window).order_by(Window.site_id, Window.code)
    if site_id is not None:
        stmt = stmt.where(Window.site_id == site_id)
    return list(db.scalars(stmt))


@router.post("/windows", response_model=WindowOut, status_code=status.HTTP_201_CREATED)
def create_window(body: WindowIn, request: Request, db: DbSession,
                  user: User = Depends(require_roles(*ADMIN_ROLES))) -> Window:
    get_or_404(db, Site, body.site_id, "site")
    window = ensure_window(db, body.site_id, body.code, body.name)
    audit(db, user, "create", "window", window.id, body.model_dump(), ip=client_ip(request))
    return window


@router.get("/devices", response_model=list[DeviceOut])
def list_devices(db: DbSession, _: User = Depends(require_roles(*ALL_ROLES))) -> list[Device]:
    return list(db.scalars(select(Device).options(selectinload(Device.cameras)).order_by(Device.id)))


@router.post("/devices", response_model=DeviceRegistered, status_code=status.HTTP_201_CREATED)
def create_device(body: DeviceIn, request: Request, db: DbSession,
                  user: User = Depends(require_roles(*ADMIN_ROLES))) -> DeviceRegistered:
    """Register a device (its messages are ingested from now on); returns its upload token, once."""
    get_or_404(db, Site, body.site_id, "site")
    if db.get(Device, body.id) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"device {body.id!r} exists; rotate its token instead")
    registered = register_device(db, body.site_id, body.id,
                                 [CameraSpec(c.code, tuple(c.windows)) for c in body.cameras], name=body.name)
    db.refresh(registered.device, ["cameras"])
    audit(db, user, "create", "device", body.id, body.model_dump(), ip=client_ip(request))
    return DeviceRegistered(**DeviceOut.model_validate(registered.device).model_dump(),
                            upload_token=registered.upload_token)


@router.post("/devices/{device_id}/token", response_model=DeviceRegistered)
def rotate_device_token(device_id: KeyPath, request: Request, db: DbSession,
                        user: User = Depends(require_roles(*ADMIN_ROLES))) -> DeviceRegistered:
    """Issue a new upload token; the old one stops working at once."""
    device = get_or_404(db, Device, device_id, "device")
    registered = register_device(db, device.site_id, device.id)
    db.refresh(registered.device, ["cameras"])
    audit(db, user, "rotate_token", "device", device_id, ip=client_ip(request))
    return DeviceRegistered(**DeviceOut.model_validate(registered.device).model_dump(),
                            upload_token=registered.upload_token)


@router.delete("/devices/{device_id}", status_code=status.HTTP_204_NO_CONTENT)
def deactivate_device(device_id: KeyPath, request: Request, db: DbSession,
                      user: User = Depends(require_roles(*ADMIN_ROLES))) -> None:
    """Stop ingesting and accepting uploads from a device (its records stay)."""
    device = get_or_404(db, Device, device_id, "device")
    device.active = False
    device.upload_token_hash = None
    audit(db, user, "deactivate", "device", device_id, ip=client_ip(request))


@router.get("/cameras", response_model=list[CameraOut])
def list_cameras(db: DbSession, _: User = Depends(require_roles(*ALL_ROLES)),
                 device_id: str | None = None) -> list[Camera]:
    stmt = select(Camera).order_by(Camera.device_id, Camera.code)
    if device_id is not None:
        stmt = stmt.where(Camera.device_id == device_id)
    return list(db.scalars(stmt))
