"""Read one site's month from the dashboard database into a :class:`MonthInput` (I/O only; no reckoning).

Mapping from the records (dashboard/db/models.py):

* ids: staff, roster rows, presence intervals, leave records and notices by their primary key (as text);
  windows by their ``code`` (what the edge and the people use); violations by the edge's ``event_id``.
* presence: ``presence_interval`` rows; one still open (``end`` NULL) ends at ``now``.
* leave: ``leave_record`` rows with status ``approved`` only (a pending leave excuses nothing).
* notices: ``off_post_notice`` covers ``[left_at, expected_return + grace)``, registered at ``created_at``.
  If the clerk was already seen away more than ``grace`` before ``left_at``, the notice is taken to
  explain that absence from its start, and so was registered late (``notice_late``).
* violations: events of the six clerk rules whose latest review verdict is ``confirm``; a single
  ``event_attribution`` names the clerk, otherwise the report attributes by the roster.
* The core's ``absence_classification`` rows (one class per whole interval, from its linker) are not read:
  the report classifies second by second from the same leave and notice records.
* Points overrides have no table yet: pass them in.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard.db import models as m
from dashboard.enums import LeaveStatus, PresenceState, Verdict
from dashboard.reports.inputs import (
    VIOLATION_RULES,
    ConfirmedViolation,
    LeaveRecord,
    MonthInput,
    OffPostNotice,
    PointsOverride,
    PresenceInterval,
    RosterAssignment,
    ServiceSchedule,
    SiteInfo,
    Staff,
    Window,
)

# Read this far around the month: overnight sessions, arrivals before the 1st, leaves across the edges.
MARGIN = timedelta(days=2)
_AWAY = (PresenceState.ABSENT, PresenceState.SIGN_ON)
_FAR_FUTURE = datetime.max.replace(tzinfo=UTC)


class UnknownSite(LookupError):
    pass


def month_bounds(year: int, month: int, schedule: ServiceSchedule) -> tuple[datetime, datetime]:
    """UTC instants bracketing the month's service days, with a margin on both sides."""
    zone = schedule.zone
    first = datetime(year, month, 1, tzinfo=zone)
    nxt = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone)
    return (first - MARGIN).astimezone(UTC), (nxt + MARGIN).astimezone(UTC)


def load_month_input(
    db: Session,
    *,
    site_id: str,
    year: int,
    month: int,
    schedule: ServiceSchedule,
    overrides: Iterable[PointsOverride] = (),
    now: datetime | None = None,
) -> MonthInput:
    site = db.get(m.Site, site_id)
    if site is None:
        raise UnknownSite(f"no site {site_id!r}")
    lo, hi = month_bounds(year, month, schedule)
    now = min(now or datetime.now(UTC), hi)
    grace = schedule.notice_grace

    windows = db.execute(
        select(m.Window.id, m.Window.code, m.Window.name).where(m.Window.site_id == site_id).order_by(m.Window.code)
    ).all()
    code = {w.id: w.code for w in windows}

    roster_rows = db.execute(
        select(m.Roster.id, m.Roster.staff_id, m.Roster.window_id, m.Roster.start, m.Roster.end)
        .where(m.Roster.window_id.in_(code), m.Roster.start < hi, m.Roster.end > lo)
        .order_by(m.Roster.start, m.Roster.id)
    ).all()
    rostered = {r.staff_id for r in roster_rows}
    # Everyone rostered in the month (active or not by now), and every active clerk of the site.
    staff_rows = [
        s for s in db.execute(
            select(m.Staff.id, m.Staff.name, m.Staff.employee_no, m.Staff.active)
            .where(m.Staff.site_id == site_id)
            .order_by(m.Staff.employee_no)
        ).all()
        if s.active or s.id in rostered
    ]
    staff_ids = [s.id for s in staff_rows]

    presence_rows = db.execute(
        select(m.PresenceInterval.id, m.PresenceInterval.window_id, m.PresenceInterval.state,
               m.PresenceInterval.start, m.PresenceInterval.end)
        .where(m.PresenceInterval.window_id.in_(code), m.PresenceInterval.start < hi,
               (m.PresenceInterval.end.is_(None)) | (m.PresenceInterval.end > lo))
        .order_by(m.PresenceInterval.window_id, m.PresenceInterval.start)
    ).all()
    presence = [
        PresenceInterval(id=str(p.id), window_id=code[p.window_id], state=p.state, start=p.start,
                         end=p.end if p.end is not None else now)
        for p in presence_rows
        if (p.end if p.end is not None else now) > p.start
    ]

    leaves = [
        LeaveRecord(id=str(lv.id), staff_id=str(lv.staff_id), leave_type=lv.type.value, start=lv.start, end=lv.end)
        for lv in db.execute(
            select(m.LeaveRecord.id, m.LeaveRecord.staff_id, m.LeaveRecord.type, m.LeaveRecord.start,
                   m.LeaveRecord.end)
            .where(m.LeaveRecord.staff_id.in_(staff_ids), m.LeaveRecord.status == LeaveStatus.APPROVED,
                   m.LeaveRecord.start < hi, m.LeaveRecord.end > lo)
            .order_by(m.LeaveRecord.start)
        ).all()
        if lv.end > lv.start
    ]

    notice_rows = db.execute(
        select(m.OffPostNotice.id, m.OffPostNotice.staff_id, m.OffPostNotice.window_id, m.OffPostNotice.left_at,
               m.OffPostNotice.expected_return, m.OffPostNotice.created_at)
        .where(m.OffPostNotice.staff_id.in_(staff_ids), m.OffPostNotice.left_at < hi,
               m.OffPostNotice.expected_return > lo - grace)
        .order_by(m.OffPostNotice.left_at)
    ).all()
    away = _away_runs(presence)
    roster_by_staff: dict[int, list[Any]] = defaultdict(list)
    for r in roster_rows:
        roster_by_staff[r.staff_id].append(r)
    notices = []
    for n in notice_rows:
        window = code.get(n.window_id) if n.window_id is not None else next(
            (code[r.window_id] for r in roster_by_staff[n.staff_id] if r.start <= n.left_at < r.end), None
        )
        start = n.left_at
        run_start = _run_start(away.get(window or "", []), n.left_at)
        if run_start is not None and run_start < n.left_at - grace:
            start = run_start  # already away before the notice was registered: it came late
        end = n.expected_return + grace
        if end > start:
            notices.append(OffPostNotice(id=str(n.id), staff_id=str(n.staff_id), start=start, end=end,
                                         registered_at=n.created_at))

    return MonthInput(
        site=SiteInfo(id=site.id, name=site.name),
        year=year,
        month=month,
        schedule=schedule,
        staff=tuple(Staff(id=str(s.id), name=s.name, employee_no=s.employee_no) for s in staff_rows),
        windows=tuple(Window(id=w.code, name=w.name or "") for w in windows),
        roster=tuple(
            RosterAssignment(id=str(r.id), staff_id=str(r.staff_id), window_id=code[r.window_id],
                             start=r.start, end=r.end)
            for r in roster_rows if r.end > r.start
        ),
        presence=tuple(presence),
        leaves=tuple(leaves),
        notices=tuple(notices),
        violations=tuple(_violations(db, code, lo, hi, set(staff_ids))),
        point_overrides=tuple(o for o in overrides if o.staff_id in {str(i) for i in staff_ids}),
    )


def _away_runs(presence: Sequence[PresenceInterval]) -> dict[str, list[tuple[datetime, datetime]]]:
    """Per window, the maximal runs of seen-away time (absent or sign up), in time order."""
    runs: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    for p in presence:
        if p.state not in _AWAY:
            continue
        window_runs = runs[p.window_id]
        if window_runs and window_runs[-1][1] >= p.start:
            window_runs[-1] = (window_runs[-1][0], max(window_runs[-1][1], p.end))
        else:
            window_runs.append((p.start, p.end))
    return runs


def _run_start(runs: list[tuple[datetime, datetime]], instant: datetime) -> datetime | None:
    i = bisect_right(runs, (instant, _FAR_FUTURE)) - 1
    if i >= 0 and runs[i][0] <= instant < runs[i][1]:
        return runs[i][0]
    return None


def _violations(
    db: Session, code: dict[int, str], lo: datetime, hi: datetime, staff_ids: set[int]
) -> list[ConfirmedViolation]:
    rules = [r.value for r in VIOLATION_RULES]
    events = db.execute(
        select(m.Event.id, m.Event.event_id, m.Event.rule, m.Event.window_id, m.Event.started_at,
               m.Event.ended_at)
        .where(m.Event.window_id.in_(code), m.Event.verdict == Verdict.CONFIRM, m.Event.rule.in_(rules),
               m.Event.started_at >= lo, m.Event.started_at < hi)
        .order_by(m.Event.started_at)
    ).all()
    attributed: dict[int, list[int]] = defaultdict(list)
    if events:
        for a in db.execute(
            select(m.EventAttribution.event_pk, m.EventAttribution.staff_id)
            .where(m.EventAttribution.event_pk.in_([e.id for e in events]))
        ).all():
            attributed[a.event_pk].append(a.staff_id)
    out = []
    for e in events:
        named = attributed.get(e.id, [])
        staff = str(named[0]) if len(named) == 1 and named[0] in staff_ids else None
        out.append(ConfirmedViolation(
            event_id=e.event_id, rule=e.rule, window_id=code[e.window_id], started_at=e.started_at,
            ended_at=e.ended_at, staff_id=staff,
        ))
    return out
