"""Property tests: random months against a minute-by-minute oracle and the report's own invariants.

Inputs sit on a whole-minute grid so the oracle (which asks, for every scheduled minute, "where was the clerk
and why") is exact. Overlapping presence records, overnight sessions, leaves and notices that straddle the
month's edges are all in the mix."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import TypeVar
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dashboard.enums import Classification, PresenceState
from dashboard.reports.inputs import (
    AbsenceRuling,
    LeaveRecord,
    MonthInput,
    OffPostNotice,
    PresenceInterval,
    RosterAssignment,
    ServiceSchedule,
    Session,
    SiteInfo,
    Staff,
)
from dashboard.reports.model import Attendance, MonthReport, Punctual
from dashboard.reports.monthly import build_month

BUCKETS = ("present", "approved_leave", "notice_on_time", "notice_late", "unexcused", "unobserved")
WINDOWS = ("W1", "W2")
STAFF = ("s1", "s2")
ACTIVE_DAYS = 3  # roster only on the month's first three days
HORIZON = ACTIVE_DAYS * 1440

SCHEDULES = {
    "day_with_lunch": (Session(open=time(9), close=time(12)), Session(open=time(13, 30), close=time(17))),
    "night": (Session(open=time(22), close=time(1, 30)),),
    "morning_and_overnight": (Session(open=time(8), close=time(11)), Session(open=time(20), close=time(2))),
}


@st.composite
def months(draw: st.DrawFn) -> MonthInput:
    zone_name = draw(st.sampled_from(["Asia/Shanghai", "UTC", "Asia/Kolkata"]))
    zone = ZoneInfo(zone_name)
    year, month = draw(st.sampled_from([(2026, 11), (2026, 12), (2027, 2)]))
    base = datetime.combine(date(year, month, 1), time(0), tzinfo=zone)

    def t(minute: int) -> datetime:
        return base + timedelta(minutes=minute)

    sessions = draw(st.sampled_from(list(SCHEDULES)))
    closed_weekday = draw(st.sampled_from([None, 6, 7]))
    weekly = {k: SCHEDULES[sessions] for k in range(1, 8) if k != closed_weekday}
    holiday = draw(st.sampled_from([None, date(year, month, 2)]))
    schedule = ServiceSchedule(
        timezone=zone_name, weekly=weekly, holidays=frozenset([holiday] if holiday else []),
        in_place_before=timedelta(minutes=10), notice_grace=timedelta(minutes=5),
    )

    presence = []
    for w in WINDOWS:
        # Consecutive records between random cut points; a None state leaves a gap (missing data), and a
        # record sometimes runs 30 minutes into the next one (overlap).
        cuts = sorted(draw(st.sets(st.integers(-600, HORIZON + 600), min_size=20, max_size=60)))
        for i, (a, b) in enumerate(pairwise(cuts)):
            state = draw(st.sampled_from([*PresenceState, PresenceState.PRESENT, PresenceState.ABSENT, None]))
            if state is not None:
                overlap = draw(st.sampled_from([0, 0, 0, 30]))
                presence.append(PresenceInterval(id=f"p-{w}-{i}", window_id=w, state=state, start=t(a),
                                                 end=t(b + overlap)))

    roster, leaves, notices, rulings = [], [], [], []
    for s in STAFF:
        cuts = sorted(draw(st.sets(st.integers(0, HORIZON), min_size=4, max_size=10)))
        for i, (a, b) in enumerate(pairwise(cuts)):
            window = draw(st.sampled_from([*WINDOWS, None]))
            if window is not None:
                roster.append(RosterAssignment(id=f"r-{s}-{i}", staff_id=s, window_id=window,
                                               start=t(a), end=t(b)))
        for i in range(draw(st.integers(0, 2))):
            a = draw(st.integers(-3000, HORIZON))
            leaves.append(LeaveRecord(id=f"l-{s}-{i}", staff_id=s, start=t(a),
                                      end=t(a + draw(st.integers(1, 3000)))))
        for i in range(draw(st.integers(1, 6))):
            a = draw(st.integers(0, HORIZON))
            notices.append(OffPostNotice(id=f"n-{s}-{i}", staff_id=s, start=t(a),
                                         end=t(a + draw(st.integers(1, 240))),
                                         registered_at=t(a + draw(st.integers(-60, 60)))))
        for i in range(draw(st.integers(0, 2))):
            a = draw(st.integers(0, HORIZON))
            rulings.append(AbsenceRuling(id=f"u-{s}-{i}", staff_id=s, start=t(a),
                                         end=t(a + draw(st.integers(1, 240))),
                                         classification=draw(st.sampled_from(list(Classification)))))
    return MonthInput(
        site=SiteInfo(id="hall"), year=year, month=month, schedule=schedule,
        staff=tuple(Staff(id=s) for s in STAFF), roster=tuple(roster), presence=tuple(presence),
        leaves=tuple(leaves), notices=tuple(notices), rulings=tuple(rulings),
    )


# --- the oracle -------------------------------------------------------------------------------------------


SpanT = TypeVar("SpanT", PresenceInterval, LeaveRecord, OffPostNotice, AbsenceRuling)


def _covers(rows: tuple[SpanT, ...], instant: datetime) -> list[SpanT]:
    return [r for r in rows if r.start <= instant < r.end]


def oracle_minute(data: MonthInput, staff: str, instant: datetime) -> tuple[str, str] | None:
    """(window, bucket) of one scheduled-and-rostered minute, by the rules in monthly.py's docstring."""
    assigned = [r for r in data.roster if r.staff_id == staff and r.start <= instant < r.end]
    if not assigned:
        return None
    window = assigned[0].window_id
    states = {p.state for p in _covers(data.presence, instant) if p.window_id == window}
    if PresenceState.PRESENT in states:
        return window, "present"
    if any(lv.staff_id == staff for lv in _covers(data.leaves, instant)):
        return window, "approved_leave"
    if not states & {PresenceState.ABSENT, PresenceState.SIGN_ON}:
        return window, "unobserved"
    rulings = [r for r in _covers(data.rulings, instant) if r.staff_id == staff]
    if rulings:
        return window, max(rulings, key=lambda r: r.id).classification.value
    notices = [n for n in _covers(data.notices, instant) if n.staff_id == staff]
    if notices:
        grace = data.schedule.notice_grace
        on_time = any(n.registered_at <= n.start + grace for n in notices)
        return window, "notice_on_time" if on_time else "notice_late"
    return window, "unexcused"


def oracle_day(data: MonthInput, staff: str, day: date) -> dict[str, int]:
    zone = data.schedule.zone
    seconds = dict.fromkeys(BUCKETS, 0)
    for s in data.schedule.sessions_on(day):
        start = datetime.combine(day, s.open, tzinfo=zone)
        end = datetime.combine(day + timedelta(days=1) if s.close <= s.open else day, s.close, tzinfo=zone)
        instant = start.astimezone(UTC)
        while instant < end:
            found = oracle_minute(data, staff, instant)
            if found is not None:
                seconds[found[1]] += 60
            instant += timedelta(minutes=1)
    return seconds


def buckets(a: Attendance) -> dict[str, int]:
    return {b: getattr(a, b).seconds for b in BUCKETS}


FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(months())
def test_matches_the_minute_oracle(data: MonthInput) -> None:
    report = build_month(data)
    for row in report.days:
        if row.date.day <= ACTIVE_DAYS:
            assert buckets(row.attendance) == oracle_day(data, row.staff_id, row.date), (row.staff_id, row.date)
        else:
            assert row.attendance.scheduled.seconds == 0


@FAST
@given(months())
def test_invariants(data: MonthInput) -> None:
    report = build_month(data)
    check_invariants(report)


def check_invariants(report: MonthReport) -> None:
    for row in report.days:
        a = row.attendance
        # The partition: every scheduled second in exactly one bucket.
        assert sum(buckets(a).values()) == a.scheduled.seconds
        rate = a.on_post_rate
        assert rate is None or 0.0 <= rate <= 1.0
        assert (rate is None) == (a.scheduled.seconds - a.approved_leave.seconds - a.unobserved.seconds == 0)
        # Absence spans add up to the absence buckets, class by class.
        for c in Classification:
            spans = sum(int((x.end - x.start).total_seconds()) for x in row.absences if x.classification is c)
            assert spans == a.absent(c).seconds
        for p in (row.arrival, row.departure):
            assert p.seconds >= 0
            if not row.on_duty:
                assert p.status is Punctual.OFF
        if row.arrival.status is Punctual.LATE:
            assert row.arrival.at is not None and row.arrival.reference is not None
            assert row.arrival.seconds == (row.arrival.at - row.arrival.reference).total_seconds() > 0
        if row.departure.status is Punctual.EARLY:
            assert row.departure.at is not None and row.departure.reference is not None
            assert row.departure.seconds == (row.departure.reference - row.departure.at).total_seconds() > 0
        if row.arrival.status is Punctual.ON_TIME:
            assert row.arrival.at is not None and row.arrival.reference is not None
            assert row.arrival.at <= row.arrival.reference
        if row.on_duty and a.present.seconds == 0 and row.arrival.status not in (Punctual.UNKNOWN, Punctual.ON_LEAVE):
            # Never seen during duty: absent, unless seen just before the reference instant (then on time).
            assert row.arrival.status in (Punctual.ABSENT, Punctual.ON_TIME, Punctual.LATE)

    # Month totals are the sums of the days; windows and clerks split the same time.
    totals = dict.fromkeys(BUCKETS, 0)
    for clerk in report.clerks:
        days = [r for r in report.days if r.staff_id == clerk.staff_id]
        for b in BUCKETS:
            assert getattr(clerk.attendance, b).seconds == sum(getattr(r.attendance, b).seconds for r in days)
            totals[b] += getattr(clerk.attendance, b).seconds
        assert clerk.late.count == sum(r.arrival.status is Punctual.LATE for r in days)
        assert clerk.early.count == sum(r.departure.status is Punctual.EARLY for r in days)
        assert -5 <= clerk.points.suggested <= 5
    for b in BUCKETS:
        assert sum(getattr(w.attendance, b).seconds for w in report.windows) == totals[b]
        assert sum(getattr(s.attendance, b).seconds for s in report.site_days) == totals[b]


@FAST
@given(months())
def test_a_blind_camera_is_never_absence(data: MonthInput) -> None:
    """Dropping every 'unobserved' record (turning it into missing data) changes no number: blind time and
    no data are the same thing, and neither is ever counted against the clerk."""
    report = build_month(data)
    seen = data.model_copy(update={"presence": tuple(
        p for p in data.presence if p.state is not PresenceState.UNOBSERVED
    )})
    again = build_month(seen)
    for r1, r2 in zip(report.days, again.days, strict=True):
        assert buckets(r1.attendance) == buckets(r2.attendance)
        assert r1.arrival.status == r2.arrival.status and r1.departure.status == r2.departure.status


@FAST
@given(months())
def test_more_presence_never_lowers_the_rate(data: MonthInput) -> None:
    """Turning every 'absent' record into 'present' cannot lower anyone's on-post rate."""
    report = build_month(data)
    better = data.model_copy(update={"presence": tuple(
        p.model_copy(update={"state": PresenceState.PRESENT}) if p.state is PresenceState.ABSENT else p
        for p in data.presence
    )})
    again = build_month(better)
    for c1, c2 in zip(report.clerks, again.clerks, strict=True):
        r1, r2 = c1.attendance.on_post_rate, c2.attendance.on_post_rate
        if r1 is not None and r2 is not None:
            assert r2 >= r1 - 1e-12
        assert c2.attendance.present.seconds >= c1.attendance.present.seconds
        assert c2.attendance.unexcused.seconds <= c1.attendance.unexcused.seconds
