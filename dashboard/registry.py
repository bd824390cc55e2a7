"""Sites, devices, cameras and windows: registration (the trust boundary of the ingest)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from broker.topics import check_segment
from dashboard.auth.tokens import DEVICE_TOKEN_PREFIX, new_token, token_hash
from dashboard.db.models import Camera, Device, Site, Window, utcnow


def ensure_site(db: Session, site_id: str, name: str | None = None, timezone: str = "Asia/Shanghai") -> Site:
    check_segment(site_id, "site")
    site = db.get(Site, site_id)
    if site is None:
        site = Site(id=site_id, name=name or site_id, timezone=timezone)
        db.add(site)
        db.flush()
    return site


@dataclass(frozen=True)
class CameraSpec:
    code: str
    windows: tuple[str, ...] = ()


@dataclass(frozen=True)
class RegisteredDevice:
    device: Device
    upload_token: str  # shown once; only its hash is stored


def register_device(
    db: Session, site_id: str, device_id: str, cameras: Iterable[CameraSpec] = (), name: str | None = None
) -> RegisteredDevice:
    """Register (or re-register) a device and issue a new evidence upload token."""
    check_segment(device_id, "device")
    ensure_site(db, site_id)
    device = db.get(Device, device_id)
    if device is None:
        device = Device(id=device_id, site_id=site_id, name=name)
        db.add(device)
    elif device.site_id != site_id:
        raise ValueError(f"device {device_id!r} is registered at site {device.site_id!r}")
    device.active = True
    token = new_token(DEVICE_TOKEN_PREFIX)
    device.upload_token_hash = token_hash(token)
    device.token_issued_at = utcnow()
    db.flush()
    for spec in cameras:
        camera = ensure_camera(db, device, spec.code)
        for code in spec.windows:
            window = ensure_window(db, site_id, code)
            window.camera_id = camera.id
    db.flush()
    return RegisteredDevice(device, token)


def ensure_camera(db: Session, device: Device, code: str) -> Camera:
    check_segment(code, "camera")
    camera = db.scalar(select(Camera).where(Camera.device_id == device.id, Camera.code == code))
    if camera is None:
        camera = Camera(device_id=device.id, code=code)
        db.add(camera)
        db.flush()
    return camera


def ensure_window(db: Session, site_id: str, code: str, name: str | None = None) -> Window:
    check_segment(code, "window")
    window = db.scalar(select(Window).where(Window.site_id == site_id, Window.code == code))
    if window is None:
        window = Window(site_id=site_id, code=code, name=name)
        db.add(window)
        db.flush()
    elif name and not window.name:
        window.name = name
    return window
