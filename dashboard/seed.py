"""Demo data for ``counterwatch up``: site hall1 (Asia/Shanghai), four windows, their clerks and rosters.

Office sessions on weekdays by default; with ``all_day`` (the dashboard's ``demo`` setting, which
``counterwatch up`` sets for its demo) every clerk is rostered around the clock every day, so that an alert
of the looping demo clip is attributed to someone whenever a newcomer tries it.
Idempotent: running it again adds only what is missing (rosters for days not yet rostered)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard.db.engine import Database
from dashboard.db.models import LeaveRecord, Roster, Staff
from dashboard.enums import LeaveStatus, LeaveType
from dashboard.leave import new_leave
from dashboard.registry import ensure_site, ensure_window
from dashboard.settings import DashboardSettings, LeavePolicy

SITE_ID = "hall1"
SITE_NAME = "政务服务中心一楼大厅 Service hall 1"
TIMEZONE = "Asia/Shanghai"
WINDOWS = [("w01", "1号窗口 综合受理"), ("w02", "2号窗口 社保医保"), ("w03", "3号窗口 不动产登记"),
           ("w04", "4号窗口 企业开办")]
STAFF = [("E001", "张敏", "综合受理科", "w01"), ("E002", "李强", "社保科", "w02"), ("E003", "王芳", "不动产科", "w03"),
         ("E004", "陈磊", "市场监管科", "w04"), ("E005", "刘洋", "综合受理科", None)]
# Service hours (local): morning and afternoon sessions.
SESSIONS = [(time(9, 0), time(12, 0)), (time(13, 30), time(17, 0))]
ALL_DAY = [(time(0, 0), None)]  # None: midnight at the end of the day


@dataclass(frozen=True)
class SeedSummary:
    site: str
    windows: int
    staff: int
    rosters_added: int


def seed_demo(db: Database, *, days: int = 7, start: date | None = None,
              policy: LeavePolicy | None = None, all_day: bool = False) -> SeedSummary:
    tz = ZoneInfo(TIMEZONE)
    first_day = start or datetime.now(tz).date()
    with db.session() as s:
        ensure_site(s, SITE_ID, SITE_NAME, TIMEZONE)
        windows = {code: ensure_window(s, SITE_ID, code, name) for code, name in WINDOWS}
        staff = {no: _ensure_staff(s, no, name, dept) for no, name, dept, _ in STAFF}
        added = 0
        for offset in range(-1, days):
            day = first_day + timedelta(days=offset)
            if day.weekday() >= 5 and not all_day:  # the hall is closed at weekends
                continue
            sessions: list[tuple[time, time | None]] = list(ALL_DAY if all_day else SESSIONS)
            for no, _, _, window_code in STAFF:
                if window_code is None:
                    continue
                for begin, end in sessions:
                    until = datetime.combine(day + timedelta(days=end is None), end or time(0), tz)
                    added += _ensure_roster(s, staff[no].id, windows[window_code].id,
                                            datetime.combine(day, begin, tz), until)
        # E005 (the stand-in) is on approved annual leave for a day: the seed's leave example.
        if s.scalar(select(LeaveRecord).where(LeaveRecord.staff_id == staff["E005"].id)) is None:
            leave_day = datetime.combine(first_day + timedelta(days=1), time(0), tz)
            new_leave(s, staff_id=staff["E005"].id, type_=LeaveType.ANNUAL, start=leave_day,
                      end=leave_day + timedelta(days=1), policy=policy or LeavePolicy(), reason="年休假 (demo)",
                      status=LeaveStatus.APPROVED)
        return SeedSummary(SITE_ID, len(windows), len(staff), added)


def seed_from_settings(settings: DashboardSettings, db: Database, days: int = 7) -> SeedSummary:
    return seed_demo(db, days=days, policy=settings.leave_policy, all_day=settings.demo)


def _ensure_staff(s: Session, employee_no: str, name: str, department: str) -> Staff:
    staff = s.scalar(select(Staff).where(Staff.employee_no == employee_no))
    if staff is None:
        staff = Staff(site_id=SITE_ID, employee_no=employee_no, name=name, department=department)
        s.add(staff)
        s.flush()
    return staff


def _ensure_roster(s: Session, staff_id: int, window_id: int, start: datetime, end: datetime) -> int:
    exists = s.scalar(select(Roster.id).where(Roster.staff_id == staff_id, Roster.window_id == window_id,
                                              Roster.start == start))
    if exists is not None:
        return 0
    s.add(Roster(staff_id=staff_id, window_id=window_id, start=start, end=end))
    return 1
