"""Plain, typed inputs of the monthly reconciliation.

Nothing here touches the database: ``loader.py`` builds a :class:`MonthInput` from the records, tests and the
benchmark build one by hand. Every instant is a UTC-aware datetime; wall-clock times (opening hours) are
interpreted in the site's time zone. Every record carries the id the UI links to (drill-down).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from broker.payloads import Rule
from dashboard.enums import Classification, PresenceState

__all__ = [
    "VIOLATION_RULES",
    "AbsenceRuling",
    "Classification",
    "ConfirmedViolation",
    "LeaveRecord",
    "MonthInput",
    "OffPostNotice",
    "PointsOverride",
    "PresenceInterval",
    "PresenceState",
    "RosterAssignment",
    "ServiceSchedule",
    "Session",
    "SiteInfo",
    "Staff",
    "Window",
]

# The rules that count against a clerk in the report; camera health is never a clerk's violation.
VIOLATION_RULES: tuple[Rule, ...] = (
    Rule.UNATTENDED_NO_SIGN,
    Rule.ABSENCE_OVER_30MIN,
    Rule.SLIPPERS,
    Rule.EATING,
    Rule.PHONE_USE,
    Rule.CUSTOMER_WAITING_UNATTENDED,
)


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp must carry a timezone (UTC)")
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_aware)]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Span(_Frozen):
    """A half-open UTC interval ``[start, end)``."""

    start: UtcDatetime
    end: UtcDatetime

    @model_validator(mode="after")
    def _ordered(self) -> _Span:
        if self.end <= self.start:
            raise ValueError(f"{type(self).__name__} ends ({self.end}) at or before it starts ({self.start})")
        return self


# --- the service schedule ---------------------------------------------------------------------------------


class Session(_Frozen):
    """One stretch of opening hours in local wall-clock time. The gap between two sessions of a day is a
    break (lunch). ``close <= open`` means the session runs past midnight and closes the next day; it still
    belongs to the service day on which it opens."""

    open: time
    close: time

    @field_validator("open", "close")
    @classmethod
    def _naive(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError("opening hours are local wall-clock times: no tzinfo")
        return value

    @property
    def crosses_midnight(self) -> bool:
        return self.close <= self.open


class ServiceSchedule(_Frozen):
    """When the hall serves the public, in the site's time zone.

    ``weekly`` maps ISO weekday (1 = Monday .. 7 = Sunday) to the day's sessions. ``special_days`` replaces the
    weekly hours of one date (调休 make-up working days, shortened days; an empty tuple closes the day);
    ``holidays`` close a date and are labelled as holidays. A holiday wins over a special day."""

    timezone: str = "Asia/Shanghai"
    weekly: dict[int, tuple[Session, ...]]
    holidays: frozenset[date] = frozenset()
    special_days: dict[date, tuple[Session, ...]] = Field(default_factory=dict)
    # A clerk must be in place this long before the hall opens.
    in_place_before: timedelta = timedelta(minutes=10)
    # An off-post notice registered up to this long after the clerk left still counts as on time.
    notice_grace: timedelta = timedelta(minutes=5)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("weekly")
    @classmethod
    def _weekdays(cls, value: dict[int, tuple[Session, ...]]) -> dict[int, tuple[Session, ...]]:
        bad = sorted(k for k in value if not 1 <= k <= 7)
        if bad:
            raise ValueError(f"weekly keys are ISO weekdays 1..7, got {bad}")
        return value

    @model_validator(mode="after")
    def _sessions_do_not_overlap(self) -> ServiceSchedule:
        days = [(f"weekday {k}", v) for k, v in self.weekly.items()]
        days += [(d.isoformat(), v) for d, v in self.special_days.items()]
        for label, sessions in days:
            spans = sorted(_session_minutes(s) for s in sessions)
            for (_, end), (start, _) in pairwise(spans):
                if start < end:
                    raise ValueError(f"sessions of {label} overlap")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def sessions_on(self, day: date) -> tuple[Session, ...]:
        if day in self.holidays:
            return ()
        if day in self.special_days:
            return self.special_days[day]
        return self.weekly.get(day.isoweekday(), ())


def _session_minutes(session: Session) -> tuple[int, int]:
    start = session.open.hour * 60 + session.open.minute
    end = session.close.hour * 60 + session.close.minute
    return start, end + (24 * 60 if session.crosses_midnight else 0)


# --- who, where -------------------------------------------------------------------------------------------


class SiteInfo(_Frozen):
    id: str
    name: str = ""


class Staff(_Frozen):
    id: str
    name: str = ""
    employee_no: str = ""


class Window(_Frozen):
    id: str
    name: str = ""


class RosterAssignment(_Span):
    """Clerk ``staff_id`` is on duty at ``window_id`` over ``[start, end)``; a mid-day change is two rows."""

    id: str
    staff_id: str
    window_id: str


class PresenceInterval(_Span):
    """What the window's camera saw over ``[start, end)``. ``unobserved`` (camera blind) and time with no
    interval at all are never counted as absence. ``sign_on`` (nobody there, pause sign up) is an absence."""

    id: str
    window_id: str
    state: PresenceState


# --- why someone was away ---------------------------------------------------------------------------------


class LeaveRecord(_Span):
    """An approved leave (only approved leave is passed in); it may span month boundaries."""

    id: str
    staff_id: str
    leave_type: str = "other"


class OffPostNotice(_Span):
    """A registered off-post notice (离岗报备): the clerk is expected away over ``[start, end)``.
    It is on time when ``registered_at <= start + schedule.notice_grace``."""

    id: str
    staff_id: str
    registered_at: UtcDatetime


class AbsenceRuling(_Span):
    """A supervisor's explicit classification of a clerk's observed absence; it wins over notices."""

    id: str
    staff_id: str
    classification: Classification


class ConfirmedViolation(_Frozen):
    """A violation event a reviewer confirmed. ``staff_id`` when the reviewer named the clerk; otherwise it
    is attributed to whoever was rostered at the window when it started."""

    event_id: str
    rule: Rule
    window_id: str
    started_at: UtcDatetime
    ended_at: UtcDatetime | None = None
    staff_id: str | None = None

    @field_validator("rule")
    @classmethod
    def _counts_against_clerk(cls, value: Rule) -> Rule:
        if value not in VIOLATION_RULES:
            raise ValueError(f"{value} is camera health, not a clerk's violation")
        return value


class PointsOverride(_Frozen):
    """The supervisor's final discretionary points for a clerk's month (replaces the suggestion)."""

    staff_id: str
    points: int = Field(ge=-5, le=5)
    note: str = ""


# --- the month --------------------------------------------------------------------------------------------


class MonthInput(_Frozen):
    site: SiteInfo
    year: int = Field(ge=2000, le=2100)
    month: int = Field(ge=1, le=12)
    schedule: ServiceSchedule
    staff: tuple[Staff, ...]
    windows: tuple[Window, ...] = ()
    roster: tuple[RosterAssignment, ...] = ()
    presence: tuple[PresenceInterval, ...] = ()
    leaves: tuple[LeaveRecord, ...] = ()
    notices: tuple[OffPostNotice, ...] = ()
    rulings: tuple[AbsenceRuling, ...] = ()
    violations: tuple[ConfirmedViolation, ...] = ()
    point_overrides: tuple[PointsOverride, ...] = ()

    @model_validator(mode="after")
    def _references_resolve(self) -> MonthInput:
        staff = {s.id for s in self.staff}
        if len(staff) != len(self.staff):
            raise ValueError("duplicate staff ids")
        for kind, rows in (
            ("roster", self.roster), ("leaves", self.leaves), ("notices", self.notices),
            ("rulings", self.rulings), ("point_overrides", self.point_overrides),
        ):
            unknown = sorted({r.staff_id for r in rows} - staff)
            if unknown:
                raise ValueError(f"{kind} name staff not in the staff list: {unknown[:5]}")
        unknown = sorted({v.staff_id for v in self.violations if v.staff_id is not None} - staff)
        if unknown:
            raise ValueError(f"violations name staff not in the staff list: {unknown[:5]}")
        overridden = [o.staff_id for o in self.point_overrides]
        if len(set(overridden)) != len(overridden):
            raise ValueError("more than one points override for a clerk")
        return self

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def days(self) -> list[date]:
        first = self.first_day
        nxt = date(self.year + self.month // 12, self.month % 12 + 1, 1)
        return [first + timedelta(days=i) for i in range((nxt - first).days)]

    @property
    def window_ids(self) -> list[str]:
        """Declared windows first, then any the roster, presence or violations mention."""
        seen = dict.fromkeys(w.id for w in self.windows)
        for rows in (self.roster, self.presence, self.violations):
            seen.update(dict.fromkeys(r.window_id for r in rows))
        return list(seen)
