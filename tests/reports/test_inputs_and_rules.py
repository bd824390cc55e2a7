"""Input validation (bad input gets a clear error) and small hand-checked cases of the rules."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from broker.payloads import Rule
from dashboard.enums import PresenceState
from dashboard.reports.inputs import (
    ConfirmedViolation,
    MonthInput,
    PresenceInterval,
    RosterAssignment,
    ServiceSchedule,
    Session,
    SiteInfo,
    Staff,
)
from dashboard.reports.model import Punctual
from dashboard.reports.monthly import build_month
from dashboard.reports.points import suggest_points
from dashboard.reports.render import rate_chart_svg, render_html
from dashboard.reports.schedule import ScheduleError, parse_schedule
from dashboard.reports.timeline import WindowTimeline
from tests.reports.fixture_month import SCHEDULE, at, fixture_month

GRACE = timedelta(minutes=5)


def month(**parts: Any) -> MonthInput:
    base: dict[str, Any] = dict(site=SiteInfo(id="h"), year=2026, month=11, schedule=SCHEDULE,
                                staff=(Staff(id="a"),))
    return MonthInput(**{**base, **parts})


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        PresenceInterval(id="p", window_id="W", state=PresenceState.PRESENT,
                         start=datetime(2026, 11, 2, 9), end=datetime(2026, 11, 2, 10))


def test_empty_or_reversed_spans_are_refused() -> None:
    with pytest.raises(ValidationError, match="at or before it starts"):
        RosterAssignment(id="r", staff_id="a", window_id="W", start=at(2, "10:00"), end=at(2, "10:00"))


def test_unknown_staff_and_camera_health_are_refused() -> None:
    with pytest.raises(ValidationError, match="roster name staff not in the staff list"):
        month(roster=(RosterAssignment(id="r", staff_id="ghost", window_id="W", start=at(2, "08:00"),
                                       end=at(2, "18:00")),))
    with pytest.raises(ValidationError, match="camera health"):
        ConfirmedViolation(event_id="e", rule=Rule.CAMERA_OFFLINE, window_id="W", started_at=at(2, "10:00"))


def test_a_clerk_at_two_windows_at_once_is_an_error() -> None:
    data = month(roster=(
        RosterAssignment(id="r1", staff_id="a", window_id="W1", start=at(2, "08:00"), end=at(2, "12:00")),
        RosterAssignment(id="r2", staff_id="a", window_id="W2", start=at(2, "11:00"), end=at(2, "18:00")),
    ))
    with pytest.raises(ValueError, match="r1 and r2 put clerk a at two places at once"):
        build_month(data)


def test_overlapping_sessions_and_bad_zones_are_refused() -> None:
    with pytest.raises(ValidationError, match="overlap"):
        ServiceSchedule(weekly={1: (Session(open=time(9), close=time(12)), Session(open=time(11), close=time(13)))})
    with pytest.raises(ValidationError, match="unknown time zone"):
        ServiceSchedule(timezone="Mars/Olympus", weekly={})
    with pytest.raises(ScheduleError, match=r"weekly: .*ISO weekdays 1..7, got \[9\]"):
        parse_schedule("weekly: {9: [['09:00', '12:00']]}", timezone="UTC", notice_grace=GRACE)
    with pytest.raises(ScheduleError, match="not valid YAML"):
        parse_schedule("weekly: [", timezone="UTC", notice_grace=GRACE)


def test_overlapping_presence_resolves_by_precedence() -> None:
    # unobserved 0–100, absent 20–60, present 40–50: present beats absent beats unobserved.
    tl = WindowTimeline([(0, 100, PresenceState.UNOBSERVED, "u"), (20, 60, PresenceState.ABSENT, "a"),
                         (40, 50, PresenceState.PRESENT, "p")])
    got = [(s.start, s.end, s.state, s.ids) for s in tl.covering(-10, 110)]
    assert got == [
        (-10, 0, None, ()),
        (0, 20, PresenceState.UNOBSERVED, ("u",)),
        (20, 40, PresenceState.ABSENT, ("a",)),
        (40, 50, PresenceState.PRESENT, ("p",)),
        (50, 60, PresenceState.ABSENT, ("a",)),
        (60, 100, PresenceState.UNOBSERVED, ("u",)),
        (100, 110, None, ()),
    ]


def test_a_clerk_with_no_presence_data_at_all_is_unobserved_not_absent() -> None:
    # Mon 2 Nov 09:00–12:00 + 13:30–17:00 rostered, and the camera never reported: 390 min unobserved.
    data = month(roster=(RosterAssignment(id="r", staff_id="a", window_id="W", start=at(2, "08:00"),
                                          end=at(2, "18:00")),))
    row = build_month(data).day("a", at(2, "12:00").date())
    assert row.attendance.unobserved.minutes == 390
    assert row.attendance.unexcused.minutes == 0
    assert row.attendance.on_post_rate is None
    assert row.arrival.status is Punctual.UNKNOWN and row.departure.status is Punctual.UNKNOWN


def test_returning_late_from_lunch_is_absence_not_lateness() -> None:
    # In place 08:40, away 12:00–13:45 (lunch break ends 13:30): 15 min unexcused; arrival on time.
    presence = (
        PresenceInterval(id="p1", window_id="W", state=PresenceState.PRESENT, start=at(2, "08:40"),
                         end=at(2, "12:00")),
        PresenceInterval(id="p2", window_id="W", state=PresenceState.ABSENT, start=at(2, "12:00"),
                         end=at(2, "13:45")),
        PresenceInterval(id="p3", window_id="W", state=PresenceState.PRESENT, start=at(2, "13:45"),
                         end=at(2, "17:05")),
    )
    data = month(roster=(RosterAssignment(id="r", staff_id="a", window_id="W", start=at(2, "08:00"),
                                          end=at(2, "18:00")),), presence=presence)
    row = build_month(data).day("a", at(2, "12:00").date())
    assert row.attendance.unexcused.minutes == 15
    assert row.attendance.present.minutes == 390 - 15
    assert row.arrival.status is Punctual.ON_TIME and row.departure.status is Punctual.ON_TIME


def test_points_suggestion_rules() -> None:
    clean = suggest_points(days_on_duty=20, on_post_rate=0.99, violations=0, late_days=0, early_days=0,
                           absent_days=0, unexcused_seconds=0)
    assert clean.points == 3  # +2 rate, +1 clean month
    worst = suggest_points(days_on_duty=20, on_post_rate=0.5, violations=9, late_days=9, early_days=9,
                           absent_days=5, unexcused_seconds=1)
    assert worst.points == -5  # −2 −3 −2 −2 = −9, clamped
    assert suggest_points(days_on_duty=0, on_post_rate=None, violations=0, late_days=0, early_days=0,
                          absent_days=0, unexcused_seconds=0).points == 0


def test_html_and_chart() -> None:
    report = build_month(fixture_month())
    svg = str(rate_chart_svg(report))
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    # One bar per open day with a rate: 2, 3, 5, 6, 7 and 30 Nov.
    assert svg.count('class="bar"') == 6
    assert "2026-11-02 87.2%" in svg  # 340 / 390
    assert svg.count('class="closed"') == 6  # Sundays 1, 8, 15, 22, 29 and the holiday on the 4th
    html = render_html(report, download_links={"Excel": "/x.xlsx?a=1&b=2"})
    assert "<script" not in html
    assert "张三" in html and "综合受理1号窗" in html
    assert 'href="/x.xlsx?a=1&amp;b=2"' in html  # escaped
