"""The month report as data: what the API returns as JSON and what the exports and pages render.

Every number carries ``refs``: the ids of the records behind it, by kind, so the UI can link a cell to the
presence intervals, leave records, notices, rulings, roster rows and events (with their clips). Two kinds
of number have none: a window's unrostered time (no record is behind a gap in the roster) and the site's
per-day totals (they feed the chart; the day rows behind them carry the refs)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, computed_field

from dashboard.enums import Classification

RefKind = Literal["presence", "roster", "leave", "notice", "ruling", "event"]
Refs = dict[str, tuple[str, ...]]

ON_POST_RATE_DEFINITION = (
    "在岗率 on-post rate = present / (scheduled − approved_leave − unobserved), which equals "
    "present / (present + notice_on_time + notice_late + unexcused): the share of the scheduled service time "
    "the clerk could have been seen at the window and was. Approved leave and time the camera could not see "
    "are left out of the base; an off-post notice excuses nothing here (it only changes the classification). "
    "Null when the base is zero."
)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class Measure(_Out):
    """A duration with its drill-down references."""

    seconds: int = 0
    refs: Refs = {}

    @computed_field  # type: ignore[prop-decorator]
    @property
    def minutes(self) -> float:
        return self.seconds / 60


class Count(_Out):
    count: int = 0
    refs: Refs = {}


class DayType(StrEnum):
    OPEN = "open"
    CLOSED = "closed"  # no opening hours that day (weekend, special day)
    HOLIDAY = "holiday"


class Punctual(StrEnum):
    ON_TIME = "on_time"
    LATE = "late"  # arrival: not in place by the reference instant
    EARLY = "early"  # departure: gone before the end of duty without approved leave
    ABSENT = "absent"  # never seen present during the day's duty
    UNKNOWN = "unknown"  # the camera could not see the window at the reference instant
    ON_LEAVE = "on_leave"  # the whole scheduled duty is covered by approved leave
    OFF = "off"  # no scheduled duty that day


class Punctuality(_Out):
    """Arrival (reference = when the clerk had to be in place) or departure (reference = end of duty)."""

    status: Punctual
    reference: datetime | None = None
    at: datetime | None = None
    seconds: int = 0  # late by / left early by
    window_id: str | None = None
    refs: Refs = {}

    @computed_field  # type: ignore[prop-decorator]
    @property
    def minutes(self) -> float:
        return self.seconds / 60


class AbsenceSpan(_Out):
    staff_id: str
    service_date: date
    window_id: str
    start: datetime
    end: datetime
    classification: Classification
    refs: Refs = {}

    @computed_field  # type: ignore[prop-decorator]
    @property
    def minutes(self) -> float:
        return (self.end - self.start).total_seconds() / 60


class Attendance(_Out):
    """The partition of scheduled time: present + the four absence classes + unobserved == scheduled."""

    scheduled: Measure = Measure()
    present: Measure = Measure()
    approved_leave: Measure = Measure()
    notice_on_time: Measure = Measure()
    notice_late: Measure = Measure()
    unexcused: Measure = Measure()
    unobserved: Measure = Measure()

    def absent(self, classification: Classification) -> Measure:
        value: Measure = getattr(self, classification.value)
        return value

    @computed_field  # type: ignore[prop-decorator]
    @property
    def on_post_rate(self) -> float | None:
        base = (
            self.scheduled.seconds - self.approved_leave.seconds - self.unobserved.seconds
        )
        return self.present.seconds / base if base > 0 else None


class DayRow(_Out):
    staff_id: str
    date: date
    day_type: DayType
    windows: tuple[str, ...]
    attendance: Attendance
    arrival: Punctuality
    departure: Punctuality
    absences: tuple[AbsenceSpan, ...]
    violations: dict[str, Count]

    @property
    def on_duty(self) -> bool:
        return self.attendance.scheduled.seconds > 0


class Points(_Out):
    """Discretionary points (−5..+5): the report's suggestion, the supervisor's override, and the result."""

    suggested: int
    reasons: tuple[str, ...]
    override: int | None = None
    note: str = ""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def final(self) -> int:
        return self.suggested if self.override is None else self.override


class ClerkTotals(_Out):
    staff_id: str
    name: str
    employee_no: str
    windows: tuple[str, ...]
    days_on_duty: int
    days_present: int
    late: Count
    late_seconds: int
    early: Count
    early_seconds: int
    absent_days: Count
    attendance: Attendance
    violations: dict[str, Count]
    points: Points


class WindowTotals(_Out):
    window_id: str
    name: str
    attendance: Attendance  # summed over the clerks rostered there
    unrostered: Measure  # opening hours with nobody rostered at the window
    violations: dict[str, Count]  # every confirmed violation at the window, attributed or not


class SiteDay(_Out):
    date: date
    day_type: DayType
    attendance: Attendance


class ViolationRow(_Out):
    event_id: str
    rule: str
    window_id: str
    staff_id: str | None  # None: nobody, or more than one clerk, was rostered there
    service_date: date
    started_at: datetime
    ended_at: datetime | None


class MonthReport(_Out):
    site_id: str
    site_name: str
    year: int
    month: int
    timezone: str
    on_post_rate_definition: str = ON_POST_RATE_DEFINITION
    days: tuple[DayRow, ...]
    clerks: tuple[ClerkTotals, ...]
    windows: tuple[WindowTotals, ...]
    site_days: tuple[SiteDay, ...]
    violations: tuple[ViolationRow, ...]

    @property
    def absences(self) -> list[AbsenceSpan]:
        return [a for d in self.days for a in d.absences]

    def day(self, staff_id: str, day: date) -> DayRow:
        for row in self.days:
            if row.staff_id == staff_id and row.date == day:
                return row
        raise KeyError((staff_id, day))

    def clerk(self, staff_id: str) -> ClerkTotals:
        for row in self.clerks:
            if row.staff_id == staff_id:
                return row
        raise KeyError(staff_id)

    def window(self, window_id: str) -> WindowTotals:
        for row in self.windows:
            if row.window_id == window_id:
                return row
        raise KeyError(window_id)
