"""Why was a clerk away? approved leave, an off-post notice kept (or overrun), or unexcused (脱岗)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from dashboard.enums import Classification, PresenceState
from dashboard.linking.presence import Interval


@dataclass(frozen=True)
class LeaveSpan:
    leave_id: int
    staff_id: int
    start: datetime
    end: datetime  # exclusive
    approved: bool


@dataclass(frozen=True)
class NoticeSpan:
    notice_id: int
    staff_id: int
    left_at: datetime
    expected_return: datetime
    window_id: int | None = None


@dataclass(frozen=True)
class Excuse:
    classification: Classification
    leave_id: int | None = None
    notice_id: int | None = None


def classify_absence(
    staff_id: int,
    start: datetime,
    end: datetime | None,
    *,
    leaves: Iterable[LeaveSpan],
    notices: Iterable[NoticeSpan],
    now: datetime,
    grace: timedelta = timedelta(minutes=5),
) -> Excuse:
    """Classify one absence [start, end) of one clerk (``end`` None: still away as of ``now``).

    - approved leave covering the start of the absence -> ``approved_leave`` (pending leave excuses nothing);
    - an off-post notice overlapping the absence -> ``notice_on_time`` when registered no later than
      ``grace`` after leaving and back by the expected return (+ ``grace``), else ``notice_late``;
    - otherwise ``unexcused``.
    """
    for leave in leaves:
        if leave.staff_id == staff_id and leave.approved and leave.start - grace <= start < leave.end:
            return Excuse(Classification.APPROVED_LEAVE, leave_id=leave.leave_id)
    back = end or now
    matching = [
        n for n in notices
        if n.staff_id == staff_id and n.left_at < back and n.expected_return + grace >= start
    ]
    if matching:
        # The notice registered closest to the moment the clerk left explains this absence.
        notice = min(matching, key=lambda n: abs(n.left_at - start))
        on_time = notice.left_at <= start + grace and back <= notice.expected_return + grace
        return Excuse(
            Classification.NOTICE_ON_TIME if on_time else Classification.NOTICE_LATE,
            notice_id=notice.notice_id,
        )
    return Excuse(Classification.UNEXCUSED)


def notice_return(notice: NoticeSpan, intervals: Sequence[Interval]) -> datetime | None:
    """When the clerk was next seen at the window after leaving: the notice's actual return."""
    for interval in intervals:
        if interval.state is PresenceState.PRESENT and interval.start > notice.left_at:
            return interval.start
    return None
