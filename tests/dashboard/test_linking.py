"""Pure linking rules, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dashboard.enums import Classification, PresenceState
from dashboard.linking import (
    Interval,
    LeaveSpan,
    NoticeSpan,
    RosterSlot,
    StateSample,
    build_intervals,
    classify_absence,
    notice_return,
    presence_state,
    rostered_staff,
)

T = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)


def m(minutes: float) -> datetime:
    return T + timedelta(minutes=minutes)


def test_rostered_staff_half_open_slots() -> None:
    slots = [RosterSlot(1, 10, m(0), m(60)), RosterSlot(2, 10, m(60), m(120)), RosterSlot(3, 11, m(0), m(120)),
             RosterSlot(4, 10, m(30), m(90))]
    assert rostered_staff(10, m(0), slots) == [1]
    assert rostered_staff(10, m(45), slots) == [1, 4]
    assert rostered_staff(10, m(60), slots) == [2, 4]  # [start, end): 1 is off at 60
    assert rostered_staff(10, m(120), slots) == []


def test_presence_state_blind_camera_is_never_absence() -> None:
    assert presence_state(observed=False, present=False, sign=False) is PresenceState.UNOBSERVED
    assert presence_state(observed=True, present=False, sign=True) is PresenceState.SIGN_ON
    assert presence_state(observed=True, present=False, sign=False) is PresenceState.ABSENT
    assert presence_state(observed=True, present=True, sign=True) is PresenceState.PRESENT


def test_build_intervals_merges_repeats_and_sorts() -> None:
    samples = [StateSample(m(30), PresenceState.PRESENT), StateSample(m(0), PresenceState.PRESENT),
               StateSample(m(10), PresenceState.ABSENT), StateSample(m(12), PresenceState.ABSENT),
               StateSample(m(10), PresenceState.ABSENT)]
    assert build_intervals(samples) == [
        Interval(PresenceState.PRESENT, m(0), m(10)),
        Interval(PresenceState.ABSENT, m(10), m(30)),
        Interval(PresenceState.PRESENT, m(30), None),
    ]
    assert build_intervals([]) == []


def test_build_intervals_same_instant_latest_report_wins() -> None:
    samples = [StateSample(m(10), PresenceState.ABSENT, at=m(10.1)),
               StateSample(m(10), PresenceState.SIGN_ON, at=m(11)), StateSample(m(0), PresenceState.PRESENT)]
    assert [i.state for i in build_intervals(samples)] == [PresenceState.PRESENT, PresenceState.SIGN_ON]


def test_classify_absence() -> None:
    approved = LeaveSpan(1, 7, m(-60), m(240), approved=True)
    pending = LeaveSpan(2, 7, m(-60), m(240), approved=False)
    other_staff = LeaveSpan(3, 8, m(-60), m(240), approved=True)
    assert classify_absence(7, m(0), m(40), leaves=[approved], notices=[], now=m(50)).classification \
        is Classification.APPROVED_LEAVE
    assert classify_absence(7, m(0), m(40), leaves=[pending, other_staff], notices=[], now=m(50)).classification \
        is Classification.UNEXCUSED
    notice = NoticeSpan(5, 7, m(-1), m(30))
    on_time = classify_absence(7, m(0), m(33), leaves=[], notices=[notice], now=m(50))
    assert on_time.classification is Classification.NOTICE_ON_TIME and on_time.notice_id == 5
    assert classify_absence(7, m(0), m(40), leaves=[], notices=[notice], now=m(50)).classification \
        is Classification.NOTICE_LATE
    # Registered well after leaving: late.
    late_reg = NoticeSpan(6, 7, m(20), m(60))
    assert classify_absence(7, m(0), m(40), leaves=[], notices=[late_reg], now=m(50)).classification \
        is Classification.NOTICE_LATE
    # Still away: judged against now.
    assert classify_absence(7, m(0), None, leaves=[], notices=[notice], now=m(20)).classification \
        is Classification.NOTICE_ON_TIME
    assert classify_absence(7, m(0), None, leaves=[], notices=[notice], now=m(90)).classification \
        is Classification.NOTICE_LATE
    # A notice for an earlier outing explains nothing.
    earlier = NoticeSpan(9, 7, m(-120), m(-90))
    assert classify_absence(7, m(0), m(10), leaves=[], notices=[earlier], now=m(50)).classification \
        is Classification.UNEXCUSED


def test_notice_return_is_the_next_presence() -> None:
    intervals = [Interval(PresenceState.PRESENT, m(0), m(10)), Interval(PresenceState.ABSENT, m(10), m(20)),
                 Interval(PresenceState.UNOBSERVED, m(20), m(25)), Interval(PresenceState.PRESENT, m(25), None)]
    assert notice_return(NoticeSpan(1, 7, m(9), m(30)), intervals) == m(25)
    assert notice_return(NoticeSpan(1, 7, m(30), m(40)), intervals) is None
