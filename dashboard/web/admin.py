"""Administration pages: one generic "list + add" layout per section, and the camera zone editor.

A section is described by its columns and its form fields; the template renders any of them, so adding a
section is a table builder and a create function here, not a new page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import HTTPException, Request
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.routing import NoMatchFound

from broker.topics import TopicError, check_segment
from dashboard.api.evidence import evidence_url
from dashboard.auth.deps import ADMIN_ROLES, ROSTER_ROLES
from dashboard.auth.scope import grant_sites, granted_sites
from dashboard.auth.users import create_user
from dashboard.context import AppContext
from dashboard.db.audit import audit
from dashboard.db.models import Camera, Device, Roster, Site, Staff, User, Window
from dashboard.db.relink import Linker
from dashboard.enums import Role
from dashboard.registry import ensure_site, ensure_window
from dashboard.services import leave as leave_service
from dashboard.services.base import Actor
from dashboard.web import queries

SECTIONS = ("sites", "devices", "windows", "cameras", "staff", "rosters", "users", "halls", "hours", "retention")
_SECTION_ROLES = {s: ADMIN_ROLES for s in SECTIONS} | {"staff": ROSTER_ROLES, "rosters": ROSTER_ROLES}
ANY_ADMIN_ROLES = tuple(set(ADMIN_ROLES) | set(ROSTER_ROLES))
# The edge's per-window zone kinds (edge/settings.py Zones): same names end to end.
ZONE_KINDS = ("staff", "counter", "floor", "customer")


def roles_for(section: str) -> tuple[Role, ...]:
    return _SECTION_ROLES.get(section, ADMIN_ROLES)


def sections_for(user: User) -> list[str]:
    return [s for s in SECTIONS if user.role in roles_for(s)]


@dataclass(frozen=True)
class Cell:
    text: str
    raw: bool = True  # False: ``text`` is a catalogue key
    href: str | None = None


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    type: str = "text"
    required: bool = True
    value: str | None = None
    options: list[tuple[str, str, bool]] | None = None  # (value, text, text is raw)


@dataclass
class Section:
    columns: list[str]
    rows: list[dict[str, list[Cell]]] = field(default_factory=list)
    form: list[FormField] = field(default_factory=list)
    note_key: str | None = None
    yaml_editor: str | None = None  # the service schedule's YAML, edited as text (hours section)


def _delivery(heartbeat: dict[str, Any] | None) -> str:
    """The device's delivery figures from its last heartbeat: unsettled outbox rows, rows waiting for the
    dashboard's receipt, broker reconnects, messages sent again for want of a receipt."""
    if not heartbeat or not isinstance(heartbeat, dict):
        return "—"
    keys = ("outbox_depth", "outbox_awaiting_receipt", "mqtt_reconnects", "receipt_resends")
    return " / ".join(_clip(str(heartbeat.get(k, 0)), 20) for k in keys)


def _clip(text: str | None, limit: int = 64) -> str:
    """Whatever a device once stored, the page shows a bounded line of it."""
    if not text:
        return "—"
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _fmt(value: datetime | None, zone: ZoneInfo) -> str:
    if not value:
        return "—"
    try:  # a stored 9999-12-31T23:59Z cannot move to UTC+8: show it as it is rather than fail the page
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    except (OverflowError, ValueError):
        return value.strftime("%Y-%m-%d %H:%M UTC")


def _row(*cells: Cell) -> dict[str, list[Cell]]:
    return {"cells": list(cells)}


def _key(text: str) -> Cell:
    return Cell(text, raw=False)


def section_context(db: Session, request: Request, user: User, section: str, ctx: dict[str, Any]) -> dict[str, Any]:
    if section not in SECTIONS:
        section = "sites"
    app: AppContext = request.app.state.ctx
    zone = ZoneInfo(app.settings.site.timezone)
    url = ctx["url"]
    sites = list(db.scalars(select(Site).order_by(Site.id)))
    site_options = [(s.id, f"{s.name} ({s.id})", True) for s in sites]
    s: Section
    if section == "sites":
        s = Section(["admin.col.id", "admin.col.name", "admin.col.timezone"],
                    [_row(Cell(x.id), Cell(x.name), Cell(x.timezone)) for x in sites],
                    [FormField("id", "admin.col.id"), FormField("name", "admin.col.name"),
                     FormField("timezone", "admin.col.timezone", value=app.settings.site.timezone)])
    elif section == "devices":
        s = Section(["admin.col.id", "admin.col.site", "admin.col.status", "admin.col.last_seen",
                     "admin.col.delivery", "admin.col.software", "admin.col.model"],
                    [_row(Cell(d.id), Cell(d.site_id), _key(f"device_status.{d.status.value}"),
                          Cell(_fmt(d.last_seen_at, zone)), Cell(_delivery(d.heartbeat)),
                          Cell(_clip(d.software_version)), Cell(_clip(d.model_version)))
                     for d in db.scalars(select(Device).order_by(Device.id))], note_key="admin.devices_note")
    elif section == "windows":
        cameras = list(db.scalars(select(Camera).order_by(Camera.device_id, Camera.code)))
        by_id = {c.id: c for c in cameras}
        s = Section(["admin.col.site", "admin.col.code", "admin.col.name", "admin.col.camera"],
                    [_row(Cell(w.site_id), Cell(w.code), Cell(w.name or "—"),
                          Cell(f"{by_id[w.camera_id].device_id}/{by_id[w.camera_id].code}"
                               if w.camera_id in by_id else "—"))
                     for w in queries.windows(db)],
                    [FormField("site_id", "admin.col.site", options=site_options),
                     FormField("code", "admin.col.code"), FormField("name", "admin.col.name", required=False),
                     FormField("camera_id", "admin.col.camera", required=False,
                               options=[("", "common.none", False)]
                               + [(str(c.id), f"{c.device_id}/{c.code}", True) for c in cameras])])
    elif section == "cameras":
        s = Section(["admin.col.device", "admin.col.code", "admin.col.name", "admin.col.health", "admin.col.zones"],
                    [_row(Cell(c.device_id), Cell(c.code), Cell(c.name or "—"),
                          _key(f"health.{c.health}") if c.health else Cell("—"),
                          Cell("admin.edit_zones", raw=False, href=url("admin_zones", camera_id=c.id)))
                     for c in db.scalars(select(Camera).order_by(Camera.device_id, Camera.code))])
    elif section == "staff":
        s = Section(["admin.col.employee_no", "admin.col.name", "admin.col.department", "admin.col.site",
                     "admin.col.active"],
                    [_row(Cell(x.employee_no), Cell(x.name), Cell(x.department or "—"), Cell(x.site_id),
                          _key("common.yes" if x.active else "common.no"))
                     for x in db.scalars(select(Staff).order_by(Staff.employee_no))],
                    [FormField("employee_no", "admin.col.employee_no"), FormField("name", "admin.col.name"),
                     FormField("department", "admin.col.department", required=False),
                     FormField("site_id", "admin.col.site", options=site_options)])
    elif section == "rosters":
        now = datetime.now(ZoneInfo("UTC"))
        rows = db.execute(
            select(Roster, Staff.name, Window.code, Window.name).join(Staff, Staff.id == Roster.staff_id)
            .join(Window, Window.id == Roster.window_id).where(Roster.end > now - timedelta(days=1))
            .order_by(Roster.start).limit(200)
        )
        s = Section(["admin.col.staff", "admin.col.window", "admin.col.start", "admin.col.end"],
                    [_row(Cell(name), Cell(wname or wcode), Cell(_fmt(r.start, zone)), Cell(_fmt(r.end, zone)))
                     for r, name, wcode, wname in rows],
                    [FormField("staff_id", "admin.col.staff",
                               options=[(str(x.id), f"{x.name} ({x.employee_no})", True)
                                        for x in queries.active_staff(db)]),
                     FormField("window_id", "admin.col.window",
                               options=[(str(w.id), w.name or w.code, True) for w in queries.windows(db)]),
                     FormField("start", "admin.col.start", type="datetime-local"),
                     FormField("end", "admin.col.end", type="datetime-local")])
    elif section == "users":
        s = Section(["admin.col.username", "admin.col.name", "admin.col.role", "admin.col.active",
                     "admin.col.last_login"],
                    [_row(Cell(u.username), Cell(u.display_name or "—"), _key(f"role.{u.role.value}"),
                          _key("common.yes" if u.active else "common.no"), Cell(_fmt(u.last_login_at, zone)))
                     for u in db.scalars(select(User).order_by(User.username))],
                    [FormField("username", "admin.col.username"), FormField("display_name", "admin.col.name",
                                                                             required=False),
                     FormField("role", "admin.col.role", options=[(r.value, f"role.{r.value}", False) for r in Role]),
                     FormField("password", "admin.col.password", type="password")])
    elif section == "halls":  # hall-scoped users (dashboard/auth/scope.py)
        users = [u for u in db.scalars(select(User).order_by(User.username)) if u.role is not Role.ADMIN]
        s = Section(["admin.col.username", "admin.col.role", "admin.col.halls"],
                    [_row(Cell(u.username), _key(f"role.{u.role.value}"),
                          Cell(", ".join(sorted(granted_sites(db, u.id)))) if granted_sites(db, u.id)
                          else _key("admin.halls.all")) for u in users],
                    [FormField("username", "admin.col.username", options=[(u.username, u.username, True)
                                                                           for u in users]),
                     FormField("sites", "admin.col.halls", required=False)],
                    note_key="admin.halls_note")
    elif section == "hours":
        s = _hours_section(app, zone)
    else:  # retention
        s = _retention_section(app, db, zone)
    return {"section": section, "sections": sections_for(user), "columns": s.columns, "rows": s.rows,
            "form_fields": s.form, "note_key": s.note_key, "yaml_editor": s.yaml_editor}


# -- service hours and holidays: the reports' schedule file (dashboard.reports.schedule) ------------------
WEEKDAY_KEYS = {1: "admin.weekday.1", 2: "admin.weekday.2", 3: "admin.weekday.3", 4: "admin.weekday.4",
                5: "admin.weekday.5", 6: "admin.weekday.6", 7: "admin.weekday.7"}


def _schedule_path(app: AppContext) -> Path:
    from dashboard.reports.schedule import SCHEDULE_FILE

    return Path(app.settings.state_dir) / SCHEDULE_FILE


def _hours_section(app: AppContext, zone: ZoneInfo) -> Section:
    from dashboard.reports.schedule import ScheduleError, load_schedule

    path = _schedule_path(app)
    text = path.read_text(encoding="utf-8") if path.is_file() else DEFAULT_SCHEDULE_YAML
    try:
        schedule = load_schedule(Path(app.settings.state_dir), timezone=zone.key,
                                 notice_grace=timedelta(minutes=app.settings.notice_grace_minutes))
    except ScheduleError as exc:
        return Section(["admin.col.setting", "admin.col.value"], [_row(_key("admin.schedule_invalid"), Cell(str(exc)))],
                       note_key="admin.hours_note", yaml_editor=text)

    def hours(sessions: tuple[Any, ...]) -> str:
        return "、".join(f"{x.open:%H:%M}–{x.close:%H:%M}" for x in sessions) or "—"

    rows = [_row(_key(WEEKDAY_KEYS[d]), Cell(hours(schedule.weekly.get(d, ())))) for d in range(1, 8)]
    rows += [_row(_key("admin.holiday"), Cell(day.isoformat())) for day in sorted(schedule.holidays)]
    rows += [_row(_key("admin.special_day"), Cell(f"{day.isoformat()} {hours(sessions)}"))
             for day, sessions in sorted(schedule.special_days.items())]
    return Section(["admin.col.setting", "admin.col.value"], rows, note_key="admin.hours_note", yaml_editor=text)


DEFAULT_SCHEDULE_YAML = """\
# 服务时间（ISO 星期：1=周一 … 7=周日）/ service hours (ISO weekday: 1 = Monday … 7 = Sunday)
weekly:
  1: [["09:00", "12:00"], ["13:30", "17:00"]]
  2: [["09:00", "12:00"], ["13:30", "17:00"]]
  3: [["09:00", "12:00"], ["13:30", "17:00"]]
  4: [["09:00", "12:00"], ["13:30", "17:00"]]
  5: [["09:00", "12:00"], ["13:30", "17:00"]]
# 节假日 / holidays
holidays: []
# 调休及特殊日期 / make-up working days and special hours
special_days: {}
in_place_before_minutes: 10
"""


def save_schedule(app: AppContext, text: str) -> None:
    """Validate with the reports' own parser first: a schedule the reports cannot read is never written."""
    from dashboard.reports.schedule import ScheduleError, parse_schedule

    try:
        parse_schedule(text, timezone=app.settings.site.timezone,
                       notice_grace=timedelta(minutes=app.settings.notice_grace_minutes))
    except ScheduleError as exc:
        raise ValueError(str(exc)) from exc
    path = _schedule_path(app)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _retention_section(app: AppContext, db: Session, zone: ZoneInfo) -> Section:
    """The retention policy (read-only: it is configuration) and what the job has done and will do."""
    from sqlalchemy import func

    from dashboard.db.models import AuditLog, Evidence
    from dashboard.retention import run_retention

    policy = app.settings.retention
    kept = db.scalar(select(func.count()).select_from(Evidence).where(Evidence.purged_at.is_(None))) or 0
    purged = db.scalar(select(func.count()).select_from(Evidence).where(Evidence.purged_at.is_not(None))) or 0
    last = db.scalar(select(func.max(AuditLog.at)).where(AuditLog.action == "purge", AuditLog.entity == "evidence"))
    due = run_retention(app.db, app.evidence, policy, dry_run=True).due  # reads only: no file is touched
    rows = [
        _row(_key("admin.setting.evidence_dir"), Cell(str(app.settings.evidence_dir))),
        _row(_key("admin.retention.days"), Cell(str(policy.days))),
        _row(_key("admin.retention.confirmed_days"), Cell(str(policy.confirmed_days))),
        _row(_key("admin.retention.unreviewed_days"), Cell(str(policy.unreviewed_days or policy.days))),
        _row(_key("admin.retention.schedule"),
             Cell(f"{policy.interval_s / 60:g}") if policy.schedule else _key("common.no")),
        _row(_key("admin.retention.kept"), Cell(str(kept))),
        _row(_key("admin.retention.purged"), Cell(str(purged))),
        _row(_key("admin.retention.due"), Cell(str(due))),
        _row(_key("admin.retention.last_run"), Cell(_fmt(last, zone))),
    ]
    return Section(["admin.col.setting", "admin.col.value"], rows, note_key="admin.retention_note")


def create_in_section(app: AppContext, request: Request, user: User, section: str, form: dict[str, str]) -> None:
    """Create one row from the section's form. ValueError (shown as a translated message) on bad input."""
    ip = request.client.host if request.client else None
    zone = ZoneInfo(app.settings.site.timezone)
    with app.db.session() as db:
        try:
            if section == "sites":
                site = ensure_site(db, check_segment(form["id"].strip(), "site"), form["name"].strip(),
                                   ZoneInfo(form.get("timezone") or "Asia/Shanghai").key)
                audit(db, user, "create", "site", site.id, ip=ip)
            elif section == "windows":
                window = ensure_window(db, form["site_id"], form["code"].strip(), form.get("name") or None)
                if form.get("camera_id"):
                    if db.get(Camera, int(form["camera_id"])) is None:
                        raise ValueError("unknown camera")
                    window.camera_id = int(form["camera_id"])
                audit(db, user, "create", "window", window.id, ip=ip)
            elif section == "staff":
                if not form["employee_no"].strip() or not form["name"].strip():
                    raise ValueError("employee number and name are required")
                if db.scalar(select(Staff).where(Staff.employee_no == form["employee_no"].strip())):
                    raise ValueError("employee number exists")
                staff = Staff(employee_no=form["employee_no"].strip(), name=form["name"].strip(),
                              department=form.get("department") or None, site_id=form["site_id"])
                db.add(staff)
                db.flush()
                audit(db, user, "create", "staff", staff.id, ip=ip)
            elif section == "rosters":
                start = datetime.fromisoformat(form["start"]).replace(tzinfo=zone)
                end = datetime.fromisoformat(form["end"]).replace(tzinfo=zone)
                if end <= start:
                    raise ValueError("end before start")
                roster = Roster(staff_id=int(form["staff_id"]), window_id=int(form["window_id"]), start=start, end=end)
                db.add(roster)
                db.flush()
                Linker(db, timedelta(minutes=app.settings.notice_grace_minutes)).relink_window(
                    roster.window_id, start, end)
                audit(db, user, "create", "roster", roster.id, ip=ip)
            elif section == "halls":
                target = db.scalar(select(User).where(User.username == form["username"]))
                if target is None:
                    raise ValueError("unknown user")
                wanted = sorted({x.strip() for x in form.get("sites", "").replace("，", ",").split(",") if x.strip()})
                if any(db.get(Site, x) is None for x in wanted):
                    raise ValueError("unknown site")
                grant_sites(db, target.id, wanted)
                audit(db, user, "update", "user_sites", target.id, {"sites": wanted}, ip=ip)
            elif section == "hours":
                save_schedule(app, form.get("schedule_yaml", ""))
                audit(db, user, "update", "service_schedule", None, ip=ip)
            elif section == "users":
                if len(form["password"]) < 8:
                    raise ValueError("password too short")
                created = create_user(db, form["username"].strip(), form["password"], Role(form["role"]),
                                      form.get("display_name") or None)
                audit(db, user, "create", "user", created.id, ip=ip)
            else:
                raise ValueError(f"nothing to create in {section}")
        except (KeyError, TopicError, LookupError) as exc:
            raise ValueError(str(exc)) from exc


# -- zones ----------------------------------------------------------------------------------------------
def _zones_path(app: AppContext, camera_id: int) -> Path:
    return Path(app.settings.state_dir) / "zones" / f"camera-{camera_id}.json"


def load_zones(app: AppContext, camera_id: int) -> list[dict[str, Any]]:
    path = _zones_path(app, camera_id)
    if not path.is_file():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    return data.get("zones", []) if isinstance(data, dict) else []


def parse_zones(raw: str) -> list[dict[str, Any]]:
    """Validate the editor's output: named polygons of >= 3 points, coordinates normalised to 0..1."""
    data = json.loads(raw)
    if not isinstance(data, list):
        raise ValueError("zones must be a list")
    zones = []
    for z in data:
        points = z.get("points") if isinstance(z, dict) else None
        if not isinstance(points, list) or len(points) < 3:
            raise ValueError("a zone needs at least 3 points")
        pts = [(float(p[0]), float(p[1])) for p in points]
        if not all(0.0 <= c <= 1.0 for p in pts for c in p):
            raise ValueError("zone coordinates are normalised to 0..1")
        kind = str(z.get("kind", "counter"))
        if kind not in ZONE_KINDS:
            raise ValueError(f"unknown zone kind {kind!r}")
        zones.append({"name": str(z.get("name") or kind)[:64], "kind": kind, "points": [list(p) for p in pts]})
    return zones


def save_zones(db: Session, app: AppContext, user: User, camera_id: int, raw: str, ip: str | None) -> None:
    camera = db.get(Camera, camera_id)
    if camera is None:
        raise ValueError("unknown camera")
    try:
        zones = parse_zones(raw)
    except (json.JSONDecodeError, TypeError, IndexError) as exc:
        raise ValueError(str(exc)) from exc
    path = _zones_path(app, camera_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"device": camera.device_id, "camera": camera.code, "zones": zones},
                              ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(path)
    audit(db, user, "update", "camera_zones", camera_id, detail={"zones": len(zones)}, ip=ip)


def zones_context(db: Session, request: Request, camera_id: int) -> dict[str, Any]:
    app: AppContext = request.app.state.ctx
    camera = db.get(Camera, camera_id)
    if camera is None:
        raise HTTPException(404, "no such camera")
    snapshot = queries.latest_snapshot_id(db, camera_id)
    return {"camera_id": camera_id, "camera_label": f"{camera.device_id}/{camera.code}",
            "snapshot_url": evidence_url(camera.device_id, snapshot) if snapshot else None,
            "zones_json": json.dumps(load_zones(app, camera_id), ensure_ascii=False), "zone_kinds": ZONE_KINDS}


# -- leave import and report links (owned by core and dashboard.reports) ---------------------------------
@dataclass
class ImportResult:
    created: int = 0
    errors: list[str] = field(default_factory=list)


def import_leave_csv(app: AppContext, user: User, content: bytes, ip: str | None) -> ImportResult:
    """Core's all-or-nothing importer (through dashboard.services, as the API); its row errors are shown as
    they come (they name the line)."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return ImportResult(errors=["UTF-8"])
    with app.db.session() as db:
        rows, errors = leave_service.import_leave(
            db, Actor(user, ip), text, policy=app.settings.leave_policy, tz=ZoneInfo(app.settings.site.timezone),
            grace=timedelta(minutes=app.settings.notice_grace_minutes))
        if errors:
            db.rollback()
            return ImportResult(errors=[f"{e.row}: {e.error}" for e in errors])
        return ImportResult(created=len(rows))


def report_links(request: Request) -> list[dict[str, str]]:
    """Links to dashboard.reports' pages/downloads, by route name, when its router is mounted."""
    links = []
    for name, key in (("reports_index", "reports.link_index"), ("monthly_report", "reports.link_monthly"),
                      ("monthly_report_xlsx", "reports.link_xlsx"), ("monthly_report_csv", "reports.link_csv")):
        try:
            links.append({"href": str(request.app.url_path_for(name)), "key": key})
        except NoMatchFound:  # not mounted (or it needs parameters a plain link cannot give)
            continue
    return links
