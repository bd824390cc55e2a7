"""Pure linking logic: who was on the window, what a run of presence states was, why a clerk was away.

No database, no clock: every input is passed in, so every rule is testable with plain values."""

from dashboard.linking.attribution import ABSENCE_RULES, RosterSlot, rostered_staff
from dashboard.linking.classify import Excuse, LeaveSpan, NoticeSpan, classify_absence, notice_return
from dashboard.linking.presence import Interval, StateSample, build_intervals, presence_state

__all__ = [
    "ABSENCE_RULES",
    "Excuse",
    "Interval",
    "LeaveSpan",
    "NoticeSpan",
    "RosterSlot",
    "StateSample",
    "build_intervals",
    "classify_absence",
    "notice_return",
    "presence_state",
    "rostered_staff",
]
