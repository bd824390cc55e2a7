"""Monthly attendance reconciliation: pure logic from a :class:`MonthInput` to a :class:`MonthReport`.

How one clerk's day is reckoned
-------------------------------
* **Service day.** A session belongs to the local date on which it opens (a session past midnight too).
* **Scheduled** time is the day's opening hours (breaks and holidays excluded) ∩ the clerk's roster
  assignments; each piece belongs to the window the clerk was assigned to then (mid-day changes split it).
* Every scheduled second falls in exactly one bucket, decided in this order:

  1. ``present`` — the window's camera saw a clerk there;
  2. ``approved_leave`` — an approved leave covers it (whatever the camera saw, or if it saw nothing);
  3. ``unobserved`` — the camera was blind or no presence record covers it: never counted as absence;
  4. otherwise the clerk was seen away (``absent`` or ``sign_on``) and the absence is classified: a
     supervisor's ruling if one covers it, else an off-post notice (``notice_on_time`` when registered no
     later than ``notice_grace`` after the notice's start, ``notice_late`` otherwise; on time wins when
     several cover it), else ``unexcused``.

  So ``present + approved_leave + notice_on_time + notice_late + unexcused + unobserved == scheduled``.
* **Duty** is scheduled time minus approved leave. **Arrival**: the clerk must be present at the window
  of the first duty span at the reference instant — ``in_place_before`` (10 min) before it when the span
  starts at a session's opening, at its start otherwise (after a morning leave, a mid-session roster
  start). Present there: on time, arrival = start of that unbroken presence. Seen away: late by
  (first presence − reference), or absent if never seen present during the day. Camera blind: unknown.
* **Departure**: the clerk must be present just before the end of the last duty span. Seen away there:
  early by (end of duty − end of the last presence). Notices do not excuse leaving early; only approved
  leave does (it ends duty sooner).
* **Violations** (confirmed only) count on the service day of their start, against the clerk the reviewer
  named, else the single clerk rostered at the window then (none if nobody or several were).

The parts: ``spans`` (scheduled pieces and how each second is bucketed), ``punctuality`` (arrival and
departure), ``tally`` (accumulation into day, clerk, window and site totals); this module walks the month.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from itertools import pairwise

from dashboard.enums import Classification, PresenceState
from dashboard.reports.inputs import MonthInput, RosterAssignment
from dashboard.reports.model import (
    ClerkTotals,
    DayRow,
    DayType,
    Measure,
    MonthReport,
    SiteDay,
    ViolationRow,
    WindowTotals,
)
from dashboard.reports.punctuality import LOOKBACK_S, punctuality
from dashboard.reports.spans import Chunk, Cover, Piece, absence_spans, classify, duty_spans, union, utc
from dashboard.reports.tally import ABSENCE_BUCKETS, BUCKETS, PRESENT, UNOBSERVED, ClerkMonth, Ref, Tally, by_rule
from dashboard.reports.timeline import WindowTimeline, empty_timeline, epoch

__all__ = ["ABSENCE_BUCKETS", "BUCKETS", "LOOKBACK_S", "PRESENT", "UNOBSERVED", "Ref", "build_month"]

# Roster rows longer than this are refused (a bound that lets a day's rows be found by bisection).
_MAX_ROSTER_S = 45 * 24 * 3600


def build_month(data: MonthInput) -> MonthReport:
    return _Month(data).build()


class _Month:
    def __init__(self, data: MonthInput):
        self.data = data
        sched = data.schedule
        self.zone = sched.zone
        self.in_place_s = int(sched.in_place_before.total_seconds())
        self.days = data.days
        # Sessions of the month's days, plus the day before (a night session may run into the 1st).
        self.sessions: dict[date, list[tuple[int, int]]] = {}
        for day in [self.days[0] - timedelta(days=1), *self.days]:
            self.sessions[day] = [self._session_span(day, s.open, s.close) for s in sched.sessions_on(day)]
        self.session_index = sorted((a, b, d) for d, spans in self.sessions.items() for a, b in spans)

        by_window: dict[str, list[tuple[int, int, PresenceState, str]]] = defaultdict(list)
        for p in data.presence:
            by_window[p.window_id].append((epoch(p.start), epoch(p.end), p.state, p.id))
        self.timelines = {w: WindowTimeline(rows) for w, rows in by_window.items()}

        self.roster: dict[str, list[RosterAssignment]] = defaultdict(list)
        for r in sorted(data.roster, key=lambda r: r.start):
            self.roster[r.staff_id].append(r)
        _check_roster_overlaps(self.roster)
        # The same rows as epoch seconds, once: (start, end, window, roster id), per clerk in time order.
        self.duty_rows = {
            staff: [(epoch(r.start), epoch(r.end), r.window_id, r.id) for r in rows]
            for staff, rows in self.roster.items()
        }
        by_window_rows: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for rows in self.duty_rows.values():
            for rs, re_, w, _ in rows:
                by_window_rows[w].append((rs, re_))
        self.rostered = {w: union(spans) for w, spans in by_window_rows.items()}

        grace = int(sched.notice_grace.total_seconds())
        self.covers: dict[str, list[Cover]] = defaultdict(list)
        for lv in data.leaves:
            self.covers[lv.staff_id].append(
                Cover(epoch(lv.start), epoch(lv.end), ("leave", lv.id), Classification.APPROVED_LEAVE.value)
            )
        for n in data.notices:
            on_time = epoch(n.registered_at) <= epoch(n.start) + grace
            label = Classification.NOTICE_ON_TIME if on_time else Classification.NOTICE_LATE
            self.covers[n.staff_id].append(Cover(epoch(n.start), epoch(n.end), ("notice", n.id), label.value))
        for ruling in data.rulings:
            self.covers[ruling.staff_id].append(Cover(
                epoch(ruling.start), epoch(ruling.end), ("ruling", ruling.id), ruling.classification.value
            ))

    def _session_span(self, day: date, opens: time, closes: time) -> tuple[int, int]:
        start = datetime.combine(day, opens, tzinfo=self.zone)
        end_day = day + timedelta(days=1) if closes <= opens else day
        end = datetime.combine(end_day, closes, tzinfo=self.zone)
        return epoch(start), epoch(end)

    def day_type(self, day: date) -> DayType:
        if day in self.data.schedule.holidays:
            return DayType.HOLIDAY
        return DayType.OPEN if self.sessions[day] else DayType.CLOSED

    # -- build -------------------------------------------------------------------------------------------

    def build(self) -> MonthReport:
        data = self.data
        violations = self._violations()
        by_clerk_day: dict[tuple[str, date], list[ViolationRow]] = defaultdict(list)
        by_window_v: dict[str, list[ViolationRow]] = defaultdict(list)
        for v in violations:
            by_window_v[v.window_id].append(v)
            if v.staff_id is not None:
                by_clerk_day[(v.staff_id, v.service_date)].append(v)

        window_ids = data.window_ids
        window_tally = {w: Tally() for w in window_ids}
        site_tally = {d: Tally(keep_refs=False) for d in self.days}
        overrides = {o.staff_id: o for o in data.point_overrides}
        rows: list[DayRow] = []
        clerks: list[ClerkTotals] = []
        for staff in data.staff:
            clerk = ClerkMonth()
            for day in self.days:
                day_violations = by_clerk_day.get((staff.id, day), [])
                row, tally, chunks, pieces = self._day(staff.id, day, day_violations)
                rows.append(row)
                clerk.add(row, tally, day_violations)
                for c in chunks:
                    window_tally[c.window].add(c.bucket, c.end - c.start, c.refs)
                    site_tally[day].add(c.bucket, c.end - c.start, ())
                for p in pieces:
                    window_tally[p.window].roster.add(("roster", p.roster_id))
            override = overrides.get(staff.id)
            clerks.append(clerk.totals(staff, override.points if override else None,
                                       override.note if override else ""))

        names = {w.id: w.name for w in data.windows}
        windows = tuple(
            WindowTotals(
                window_id=w,
                name=names.get(w, ""),
                attendance=window_tally[w].freeze(),
                unrostered=Measure(seconds=self._unrostered(w)),
                violations=by_rule(by_window_v.get(w, [])),
            )
            for w in window_ids
        )
        site_days = tuple(
            SiteDay(date=d, day_type=self.day_type(d), attendance=site_tally[d].freeze()) for d in self.days
        )
        return MonthReport(
            site_id=data.site.id,
            site_name=data.site.name,
            year=data.year,
            month=data.month,
            timezone=data.schedule.timezone,
            days=tuple(rows),
            clerks=tuple(clerks),
            windows=windows,
            site_days=site_days,
            violations=tuple(violations),
        )

    # -- one clerk, one day ------------------------------------------------------------------------------

    def _pieces(self, staff_id: str, day: date) -> list[Piece]:
        pieces = []
        rows = self.duty_rows.get(staff_id, [])
        for a, b in self.sessions[day]:
            for rs, re_, window, roster_id in rows[bisect_left(rows, (a - _MAX_ROSTER_S,)):]:
                if rs >= b:
                    break
                lo, hi = max(a, rs), min(b, re_)
                if lo < hi:
                    pieces.append(Piece(lo, hi, window, roster_id, opens_session=lo == a))
        return sorted(pieces, key=lambda p: p.start)

    def _day(
        self, staff_id: str, day: date, violations: list[ViolationRow]
    ) -> tuple[DayRow, Tally, list[Chunk], list[Piece]]:
        pieces = self._pieces(staff_id, day)
        covers = self.covers.get(staff_id, [])
        chunks: list[Chunk] = []
        for p in pieces:
            near = [c for c in covers if c.start < p.end and c.end > p.start]
            tl = self.timelines.get(p.window, empty_timeline())
            for seg in tl.covering(p.start, p.end):
                chunks += classify(seg, p.window, near)

        tally = Tally()
        for c in chunks:
            tally.add(c.bucket, c.end - c.start, c.refs)
        tally.roster.update(("roster", p.roster_id) for p in pieces)

        leaves = [c for c in covers if c.ref[0] == "leave"]
        duty = duty_spans(pieces, leaves)
        arrival, departure = punctuality(pieces, duty, chunks, self.timelines, self.in_place_s)
        row = DayRow.model_construct(
            staff_id=staff_id,
            date=day,
            day_type=self.day_type(day),
            windows=tuple(dict.fromkeys(p.window for p in pieces)),
            attendance=tally.freeze(),
            arrival=arrival,
            departure=departure,
            absences=tuple(absence_spans(staff_id, day, chunks)),
            violations=by_rule(violations),
        )
        return row, tally, chunks, pieces

    # -- violations, unrostered time ---------------------------------------------------------------------

    def _service_date(self, instant: int) -> date:
        for a, b, d in self.session_index:
            if a <= instant < b:
                return d
        return utc(instant).astimezone(self.zone).date()

    def _violations(self) -> list[ViolationRow]:
        by_window: dict[str, list[RosterAssignment]] = defaultdict(list)
        for r in self.data.roster:
            by_window[r.window_id].append(r)
        month = set(self.days)
        out = []
        for v in sorted(self.data.violations, key=lambda v: (v.started_at, v.event_id)):
            service_date = self._service_date(epoch(v.started_at))
            if service_date not in month:
                continue
            staff = v.staff_id
            if staff is None:
                rostered = {r.staff_id for r in by_window[v.window_id] if r.start <= v.started_at < r.end}
                staff = rostered.pop() if len(rostered) == 1 else None
            out.append(ViolationRow(
                event_id=v.event_id, rule=v.rule.value, window_id=v.window_id, staff_id=staff,
                service_date=service_date, started_at=v.started_at, ended_at=v.ended_at,
            ))
        return out

    def _unrostered(self, window: str) -> int:
        assigned = self.rostered.get(window, [])
        total = 0
        for day in self.days:
            for a, b in self.sessions[day]:
                total += (b - a) - sum(max(0, min(b, e) - max(a, s)) for s, e in assigned)
        return total


def _check_roster_overlaps(roster: dict[str, list[RosterAssignment]]) -> None:
    for staff, rows in roster.items():
        for r in rows:
            if (r.end - r.start).total_seconds() > _MAX_ROSTER_S:
                raise ValueError(f"roster row {r.id} of clerk {staff} spans more than 45 days")
        for a, b in pairwise(rows):
            if b.start < a.end:
                raise ValueError(
                    f"roster rows {a.id} and {b.id} put clerk {staff} at two places at once "
                    f"({b.start.isoformat()} < {a.end.isoformat()})"
                )
