"""Write a :class:`MonthInput` into the dashboard database (the loader's inverse), for the benchmark and the
database tests. Bulk inserts: a realistic month is a quarter of a million presence rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from dashboard.db import models as m
from dashboard.enums import ApprovalLevel, LeaveStatus, LeaveType, Verdict
from dashboard.reports.inputs import MonthInput

SEED_DEVICE = "report-seed"


@dataclass(frozen=True)
class Seeded:
    staff: dict[str, int]  # input staff id -> staff.id
    windows: dict[str, int]  # window code -> window.id


def seed_month(db: Session, data: MonthInput, *, site_id: str | None = None) -> Seeded:
    site_id = site_id or data.site.id
    if db.get(m.Site, site_id) is None:
        db.add(m.Site(id=site_id, name=data.site.name or site_id, timezone=data.schedule.timezone))
    if db.get(m.Device, SEED_DEVICE) is None:
        db.add(m.Device(id=SEED_DEVICE, site_id=site_id, name="report seed"))
    db.flush()
    camera = db.scalar(select(m.Camera).where(m.Camera.device_id == SEED_DEVICE, m.Camera.code == "cam1"))
    if camera is None:
        camera = m.Camera(device_id=SEED_DEVICE, code="cam1")
        db.add(camera)

    names = {w.id: w.name for w in data.windows}
    windows: dict[str, int] = {}
    for code in data.window_ids:
        row = db.scalar(select(m.Window).where(m.Window.site_id == site_id, m.Window.code == code))
        if row is None:
            row = m.Window(site_id=site_id, code=code, name=names.get(code) or None)
            db.add(row)
            db.flush()
        windows[code] = row.id
    staff: dict[str, int] = {}
    for s in data.staff:
        srow = m.Staff(site_id=site_id, employee_no=s.employee_no or s.id, name=s.name or s.id)
        db.add(srow)
        db.flush()
        staff[s.id] = srow.id

    def bulk(model: type[m.Base], rows: list[dict[str, object]]) -> None:
        for i in range(0, len(rows), 5000):
            db.execute(insert(model), rows[i:i + 5000])

    bulk(m.Roster, [
        {"staff_id": staff[r.staff_id], "window_id": windows[r.window_id], "start": r.start, "end": r.end}
        for r in data.roster
    ])
    bulk(m.PresenceInterval, [
        {"window_id": windows[p.window_id], "state": p.state, "start": p.start, "end": p.end}
        for p in data.presence
    ])
    leave_types = {t.value for t in LeaveType}
    bulk(m.LeaveRecord, [
        {"staff_id": staff[lv.staff_id],
         "type": LeaveType(lv.leave_type) if lv.leave_type in leave_types else LeaveType.OTHER,
         "start": lv.start, "end": lv.end, "status": LeaveStatus.APPROVED, "approval_level": ApprovalLevel.HALL_HEAD,
         "approved_at": lv.start}
        for lv in data.leaves
    ])
    grace = data.schedule.notice_grace
    bulk(m.OffPostNotice, [
        {"staff_id": staff[n.staff_id], "window_id": None, "reason": "seed", "left_at": n.start,
         "expected_return": max(n.start, n.end - grace), "created_at": n.registered_at}
        for n in data.notices
    ])
    db.flush()
    for v in data.violations:
        event = m.Event(
            event_id=v.event_id, site_id=site_id, device_id=SEED_DEVICE, camera_id=camera.id,
            window_id=windows[v.window_id], rule=v.rule.value, severity="medium",
            phase="end" if v.ended_at else "start", seq=1, started_at=v.started_at, ended_at=v.ended_at,
            sent_at=v.ended_at or v.started_at, confidence=0.9, verdict=Verdict.CONFIRM,
        )
        if v.staff_id is not None:
            event.attributions.append(m.EventAttribution(staff_id=staff[v.staff_id]))
        db.add(event)
    db.flush()
    return Seeded(staff=staff, windows=windows)


def latest(data: MonthInput) -> datetime:
    """The last instant the input knows about (a sensible ``now`` for loading it back)."""
    ends = [p.end for p in data.presence] + [r.end for r in data.roster]
    return max(ends)
