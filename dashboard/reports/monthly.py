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
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise

from dashboard.enums import Classification, PresenceState
from dashboard.reports.inputs import VIOLATION_RULES, MonthInput, RosterAssignment, Staff
from dashboard.reports.model import (
    AbsenceSpan,
    Attendance,
    ClerkTotals,
    Count,
    DayRow,
    DayType,
    Measure,
    MonthReport,
    Points,
    Punctual,
    Punctuality,
    Refs,
    SiteDay,
    ViolationRow,
    WindowTotals,
)
from dashboard.reports.points import suggest_points
from dashboard.reports.timeline import Segment, WindowTimeline, empty_timeline, epoch

PRESENT = "present"
UNOBSERVED = "unobserved"
BUCKETS: tuple[str, ...] = (PRESENT, *(c.value for c in Classification), UNOBSERVED)
ABSENCE_BUCKETS = frozenset(c.value for c in Classification)

# Roster rows longer than this are refused (a bound that lets a day's rows be found by bisection).
_MAX_ROSTER_S = 45 * 24 * 3600
# How far arrival/departure look past the reference instant for the unbroken presence around it.
LOOKBACK_S = 4 * 3600

Ref = tuple[str, str]  # (kind, id)


def build_month(data: MonthInput) -> MonthReport:
    return _Month(data).build()


# The many small result objects are built with ``model_construct``: their values come from validated inputs
# and this module's own arithmetic, and validating ~100k of them again would double the build time.


# --- accumulation -----------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Tally:
    """Seconds and drill-down refs per bucket, plus the roster rows behind the scheduled time."""

    seconds: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BUCKETS, 0))
    refs: dict[str, set[Ref]] = field(default_factory=lambda: {b: set() for b in BUCKETS})
    roster: set[Ref] = field(default_factory=set)
    keep_refs: bool = True

    def add(self, bucket: str, seconds: int, refs: Iterable[Ref]) -> None:
        self.seconds[bucket] += seconds
        if self.keep_refs:
            self.refs[bucket].update(refs)

    def merge(self, other: _Tally) -> None:
        for b in BUCKETS:
            self.seconds[b] += other.seconds[b]
            if self.keep_refs:
                self.refs[b] |= other.refs[b]
        if self.keep_refs:
            self.roster |= other.roster

    def freeze(self) -> Attendance:
        def measure(seconds: int, refs: set[Ref]) -> Measure:
            return Measure.model_construct(seconds=seconds, refs=_refs(refs))

        parts = {b: measure(self.seconds[b], self.refs[b]) for b in BUCKETS}
        scheduled = measure(sum(self.seconds.values()), self.roster)
        return Attendance.model_construct(
            scheduled=scheduled, present=parts[PRESENT], approved_leave=parts["approved_leave"],
            notice_on_time=parts["notice_on_time"], notice_late=parts["notice_late"],
            unexcused=parts["unexcused"], unobserved=parts[UNOBSERVED],
        )


def _refs(refs: Iterable[Ref]) -> Refs:
    grouped: dict[str, list[str]] = defaultdict(list)
    for kind, ident in refs:
        grouped[kind].append(ident)
    return {k: tuple(sorted(v)) for k, v in sorted(grouped.items())}


def _count(refs: Sequence[Ref]) -> Count:
    return Count.model_construct(count=len(refs), refs=_refs(refs))


@dataclass(slots=True)
class _ClerkMonth:
    """One clerk's day rows folded into month totals."""

    tally: _Tally = field(default_factory=_Tally)
    windows: dict[str, None] = field(default_factory=dict)
    violations: list[ViolationRow] = field(default_factory=list)
    late: list[Ref] = field(default_factory=list)
    early: list[Ref] = field(default_factory=list)
    absent: list[Ref] = field(default_factory=list)
    late_days: int = 0
    early_days: int = 0
    absent_days: int = 0
    late_s: int = 0
    early_s: int = 0
    days_on_duty: int = 0
    days_present: int = 0

    def add(self, row: DayRow, tally: _Tally, violations: list[ViolationRow]) -> None:
        self.tally.merge(tally)
        self.violations += violations
        self.windows.update(dict.fromkeys(row.windows))
        if row.on_duty:
            self.days_on_duty += 1
            self.days_present += row.attendance.present.seconds > 0
        if row.arrival.status is Punctual.LATE:
            self.late_days += 1
            self.late += _flat(row.arrival.refs)
            self.late_s += row.arrival.seconds
        elif row.arrival.status is Punctual.ABSENT:
            self.absent_days += 1
            self.absent += _flat(row.arrival.refs)
        if row.departure.status is Punctual.EARLY:
            self.early_days += 1
            self.early += _flat(row.departure.refs)
            self.early_s += row.departure.seconds

    def totals(self, staff: Staff, override: int | None, note: str) -> ClerkTotals:
        attendance = self.tally.freeze()
        suggestion = suggest_points(
            days_on_duty=self.days_on_duty,
            on_post_rate=attendance.on_post_rate,
            violations=len(self.violations),
            late_days=self.late_days,
            early_days=self.early_days,
            absent_days=self.absent_days,
            unexcused_seconds=attendance.unexcused.seconds,
        )
        return ClerkTotals(
            staff_id=staff.id,
            name=staff.name,
            employee_no=staff.employee_no,
            windows=tuple(self.windows),
            days_on_duty=self.days_on_duty,
            days_present=self.days_present,
            late=Count(count=self.late_days, refs=_refs(self.late)),
            late_seconds=self.late_s,
            early=Count(count=self.early_days, refs=_refs(self.early)),
            early_seconds=self.early_s,
            absent_days=Count(count=self.absent_days, refs=_refs(self.absent)),
            attendance=attendance,
            violations=_by_rule(self.violations),
            points=Points(suggested=suggestion.points, reasons=suggestion.reasons, override=override, note=note),
        )


@dataclass(frozen=True, slots=True)
class _Piece:
    """Scheduled time of one clerk at one window: a session ∩ a roster assignment."""

    start: int
    end: int
    window: str
    roster_id: str
    opens_session: bool


@dataclass(frozen=True, slots=True)
class _Chunk:
    start: int
    end: int
    window: str
    bucket: str
    refs: tuple[Ref, ...]

    def presence_ids(self) -> tuple[str, ...]:
        return tuple(i for kind, i in self.refs if kind == "presence")


@dataclass(frozen=True, slots=True)
class _Cover:
    """A leave, notice or ruling of one clerk, as epoch seconds."""

    start: int
    end: int
    ref: Ref
    label: str  # the bucket it assigns


def _utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


# --- the month --------------------------------------------------------------------------------------------


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
        self.rostered = {w: _union(spans) for w, spans in by_window_rows.items()}

        grace = int(sched.notice_grace.total_seconds())
        self.covers: dict[str, list[_Cover]] = defaultdict(list)
        for lv in data.leaves:
            self.covers[lv.staff_id].append(
                _Cover(epoch(lv.start), epoch(lv.end), ("leave", lv.id), Classification.APPROVED_LEAVE.value)
            )
        for n in data.notices:
            on_time = epoch(n.registered_at) <= epoch(n.start) + grace
            label = Classification.NOTICE_ON_TIME if on_time else Classification.NOTICE_LATE
            self.covers[n.staff_id].append(_Cover(epoch(n.start), epoch(n.end), ("notice", n.id), label.value))
        for ruling in data.rulings:
            self.covers[ruling.staff_id].append(_Cover(
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
        window_tally = {w: _Tally() for w in window_ids}
        site_tally = {d: _Tally(keep_refs=False) for d in self.days}
        overrides = {o.staff_id: o for o in data.point_overrides}
        rows: list[DayRow] = []
        clerks: list[ClerkTotals] = []
        for staff in data.staff:
            clerk = _ClerkMonth()
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
                violations=_by_rule(by_window_v.get(w, [])),
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

    def _pieces(self, staff_id: str, day: date) -> list[_Piece]:
        pieces = []
        rows = self.duty_rows.get(staff_id, [])
        for a, b in self.sessions[day]:
            for rs, re_, window, roster_id in rows[bisect_left(rows, (a - _MAX_ROSTER_S,)):]:
                if rs >= b:
                    break
                lo, hi = max(a, rs), min(b, re_)
                if lo < hi:
                    pieces.append(_Piece(lo, hi, window, roster_id, opens_session=lo == a))
        return sorted(pieces, key=lambda p: p.start)

    def _day(
        self, staff_id: str, day: date, violations: list[ViolationRow]
    ) -> tuple[DayRow, _Tally, list[_Chunk], list[_Piece]]:
        pieces = self._pieces(staff_id, day)
        covers = self.covers.get(staff_id, [])
        chunks: list[_Chunk] = []
        for p in pieces:
            near = [c for c in covers if c.start < p.end and c.end > p.start]
            tl = self.timelines.get(p.window, empty_timeline())
            for seg in tl.covering(p.start, p.end):
                chunks += _classify(seg, p.window, near)

        tally = _Tally()
        for c in chunks:
            tally.add(c.bucket, c.end - c.start, c.refs)
        tally.roster.update(("roster", p.roster_id) for p in pieces)

        leaves = [c for c in covers if c.ref[0] == "leave"]
        duty = _duty_spans(pieces, leaves)
        arrival, departure = self._punctuality(pieces, duty, chunks)
        row = DayRow.model_construct(
            staff_id=staff_id,
            date=day,
            day_type=self.day_type(day),
            windows=tuple(dict.fromkeys(p.window for p in pieces)),
            attendance=tally.freeze(),
            arrival=arrival,
            departure=departure,
            absences=tuple(_absence_spans(staff_id, day, chunks)),
            violations=_by_rule(violations),
        )
        return row, tally, chunks, pieces

    def _punctuality(
        self, pieces: list[_Piece], duty: list[_Piece], chunks: list[_Chunk]
    ) -> tuple[Punctuality, Punctuality]:
        if not pieces:
            off = _OFF
            return off, off
        if not duty:
            leave = _ON_LEAVE
            return leave, leave
        present = [c for c in chunks if c.bucket == PRESENT]

        first = duty[0]
        ref = first.start - self.in_place_s if first.opens_session else first.start
        tl = self.timelines.get(first.window, empty_timeline())
        seg = tl.at(ref)
        arrival: Punctuality
        if seg.present:
            at, ids = tl.present_run_start(ref, floor=ref - LOOKBACK_S)
            arrival = _punct(Punctual.ON_TIME, ref, at, 0, first.window, ids)
        elif not seg.observed_absent:
            arrival = _punct(Punctual.UNKNOWN, ref, None, 0, first.window, seg.ids)
        else:
            # Look at this window only while the clerk stays assigned to it; elsewhere, the duty chunks.
            same = _same_window_run(duty)
            found = tl.first_present(ref, same[-1].end)
            later = [c for c in present if c.start >= ref][:1]  # present during a leave before duty: not it
            starts = [s.start for s in [found] if s is not None] + [c.start for c in later]
            if not starts:
                arrival = _punct(Punctual.ABSENT, ref, None, 0, first.window, seg.ids)
            else:
                at = min(starts)
                ids = seg.ids + (found.ids if found is not None and found.start == at else later[0].presence_ids())
                arrival = _punct(Punctual.LATE, ref, at, at - ref, first.window, ids)

        last = duty[-1]
        tl = self.timelines.get(last.window, empty_timeline())
        seg = tl.at(last.end - 1)
        departure: Punctuality
        if seg.present:
            at, ids = tl.present_run_end(last.end - 1, ceiling=last.end + LOOKBACK_S)
            departure = _punct(Punctual.ON_TIME, last.end, at, 0, last.window, ids)
        elif not seg.observed_absent:
            departure = _punct(Punctual.UNKNOWN, last.end, None, 0, last.window, seg.ids)
        else:
            same = _same_window_run(duty[::-1])
            found = tl.last_present(ref if len(same) == len(duty) else same[-1].start, last.end)
            earlier = [c for c in present if ref <= c.end <= last.end][-1:]
            ends = [s.end for s in [found] if s is not None] + [c.end for c in earlier]
            if not ends:
                departure = _punct(Punctual.ABSENT, last.end, None, 0, last.window, seg.ids)
            else:
                at = max(ends)
                ids = (found.ids if found is not None and found.end == at else earlier[0].presence_ids()) + seg.ids
                departure = _punct(Punctual.EARLY, last.end, at, last.end - at, last.window, ids)
        return arrival, departure

    # -- violations, unrostered time ---------------------------------------------------------------------

    def _service_date(self, instant: int) -> date:
        for a, b, d in self.session_index:
            if a <= instant < b:
                return d
        return _utc(instant).astimezone(self.zone).date()

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


# --- helpers ----------------------------------------------------------------------------------------------


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


def _classify(seg: Segment, window: str, covers: list[_Cover]) -> list[_Chunk]:
    """Cut one presence segment into bucketed chunks, by the precedence in the module docstring."""
    seen: tuple[Ref, ...] = tuple(("presence", i) for i in seg.ids)
    if seg.present:
        return [_Chunk(seg.start, seg.end, window, PRESENT, seen)]
    inside = [c for c in covers if c.start < seg.end and c.end > seg.start]
    if not inside:
        bucket = Classification.UNEXCUSED.value if seg.observed_absent else UNOBSERVED
        return [_Chunk(seg.start, seg.end, window, bucket, seen)]
    cuts = sorted({seg.start, seg.end, *(t for c in inside for t in (c.start, c.end) if seg.start < t < seg.end)})
    out: list[_Chunk] = []
    for lo, hi in pairwise(cuts):
        here = [c for c in inside if c.start <= lo and c.end >= hi]
        bucket, refs = _bucket(seg, here)
        chunk = _Chunk(lo, hi, window, bucket, seen + refs)
        prev = out[-1] if out else None
        if prev is not None and prev.bucket == bucket and prev.refs == chunk.refs:
            out[-1] = _Chunk(prev.start, hi, window, bucket, prev.refs)
        else:
            out.append(chunk)
    return out


def _bucket(seg: Segment, covers: list[_Cover]) -> tuple[str, tuple[Ref, ...]]:
    leaves = [c for c in covers if c.ref[0] == "leave"]
    if leaves:
        return Classification.APPROVED_LEAVE.value, tuple(sorted(c.ref for c in leaves))
    if not seg.observed_absent:
        return UNOBSERVED, ()
    rulings = sorted((c for c in covers if c.ref[0] == "ruling"), key=lambda c: c.ref)
    if rulings:
        return rulings[-1].label, (rulings[-1].ref,)
    notices = [c for c in covers if c.ref[0] == "notice"]
    if notices:
        on_time = [c for c in notices if c.label == Classification.NOTICE_ON_TIME.value]
        chosen = on_time or notices
        return chosen[0].label, tuple(sorted(c.ref for c in chosen))
    return Classification.UNEXCUSED.value, ()


def _union(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def _duty_spans(pieces: list[_Piece], leaves: list[_Cover]) -> list[_Piece]:
    """Scheduled pieces minus approved leave, in time order; a span keeps ``opens_session`` only if it
    still starts where the session opens."""
    out: list[_Piece] = []
    holes = _union([(c.start, c.end) for c in leaves])
    for p in pieces:
        cursor = p.start
        for s, e in holes:
            if e <= cursor or s >= p.end:
                continue
            if s > cursor:
                out.append(_Piece(cursor, s, p.window, p.roster_id, p.opens_session and cursor == p.start))
            cursor = max(cursor, e)
        if cursor < p.end:
            out.append(_Piece(cursor, p.end, p.window, p.roster_id, p.opens_session and cursor == p.start))
    return out


def _same_window_run(duty: list[_Piece]) -> list[_Piece]:
    """The leading duty spans that share the first span's window."""
    run = [duty[0]]
    for p in duty[1:]:
        if p.window != run[0].window:
            break
        run.append(p)
    return run


def _absence_spans(staff_id: str, day: date, chunks: list[_Chunk]) -> list[AbsenceSpan]:
    spans: list[tuple[int, int, str, str, set[Ref]]] = []
    for c in chunks:
        if c.bucket not in ABSENCE_BUCKETS:
            continue
        prev = spans[-1] if spans else None
        if prev is not None and prev[1] == c.start and prev[2] == c.window and prev[3] == c.bucket:
            prev[4].update(c.refs)
            spans[-1] = (prev[0], c.end, prev[2], prev[3], prev[4])
        else:
            spans.append((c.start, c.end, c.window, c.bucket, set(c.refs)))
    return [
        AbsenceSpan.model_construct(
            staff_id=staff_id, service_date=day, window_id=w, start=_utc(s), end=_utc(e),
            classification=Classification(b), refs=_refs(r),
        )
        for s, e, w, b, r in spans
    ]


def _punct(
    status: Punctual, reference: int, at: int | None, seconds: int, window: str, ids: Iterable[str]
) -> Punctuality:
    return Punctuality.model_construct(
        status=status,
        reference=_utc(reference),
        at=None if at is None else _utc(at),
        seconds=seconds,
        window_id=window,
        refs=_refs(("presence", i) for i in dict.fromkeys(ids)),
    )


def _flat(refs: Refs) -> list[Ref]:
    return [(k, i) for k, ids in refs.items() for i in ids]


_NONE = Count()
_OFF = Punctuality(status=Punctual.OFF)
_ON_LEAVE = Punctuality(status=Punctual.ON_LEAVE)


def _by_rule(rows: Sequence[ViolationRow]) -> dict[str, Count]:
    grouped: dict[str, list[Ref]] = {r.value: [] for r in VIOLATION_RULES}
    for v in rows:
        grouped[v.rule].append(("event", v.event_id))
    return {rule: _count(refs) if refs else _NONE for rule, refs in grouped.items()}
