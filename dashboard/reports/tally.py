"""Accumulating a month: seconds and drill-down refs per bucket (:class:`Tally`), one clerk's day rows
folded into month totals (:class:`ClerkMonth`), violations counted per rule.

The many small result objects are built with ``model_construct``: their values come from validated inputs
and this package's own arithmetic, and validating ~100k of them again would double the build time."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from dashboard.enums import Classification
from dashboard.reports.inputs import VIOLATION_RULES, Staff
from dashboard.reports.model import (
    Attendance,
    ClerkTotals,
    Count,
    DayRow,
    Measure,
    Points,
    Punctual,
    Refs,
    ViolationRow,
)
from dashboard.reports.points import suggest_points

PRESENT = "present"
UNOBSERVED = "unobserved"
BUCKETS: tuple[str, ...] = (PRESENT, *(c.value for c in Classification), UNOBSERVED)
ABSENCE_BUCKETS = frozenset(c.value for c in Classification)

Ref = tuple[str, str]  # (kind, id)


@dataclass(slots=True)
class Tally:
    """Seconds and drill-down refs per bucket, plus the roster rows behind the scheduled time."""

    seconds: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BUCKETS, 0))
    refs: dict[str, set[Ref]] = field(default_factory=lambda: {b: set() for b in BUCKETS})
    roster: set[Ref] = field(default_factory=set)
    keep_refs: bool = True

    def add(self, bucket: str, seconds: int, refs: Iterable[Ref]) -> None:
        self.seconds[bucket] += seconds
        if self.keep_refs:
            self.refs[bucket].update(refs)

    def merge(self, other: Tally) -> None:
        for b in BUCKETS:
            self.seconds[b] += other.seconds[b]
            if self.keep_refs:
                self.refs[b] |= other.refs[b]
        if self.keep_refs:
            self.roster |= other.roster

    def freeze(self) -> Attendance:
        def measure(seconds: int, refs: set[Ref]) -> Measure:
            return Measure.model_construct(seconds=seconds, refs=group_refs(refs))

        parts = {b: measure(self.seconds[b], self.refs[b]) for b in BUCKETS}
        scheduled = measure(sum(self.seconds.values()), self.roster)
        return Attendance.model_construct(
            scheduled=scheduled, present=parts[PRESENT], approved_leave=parts["approved_leave"],
            notice_on_time=parts["notice_on_time"], notice_late=parts["notice_late"],
            unexcused=parts["unexcused"], unobserved=parts[UNOBSERVED],
        )


def group_refs(refs: Iterable[Ref]) -> Refs:
    grouped: dict[str, list[str]] = defaultdict(list)
    for kind, ident in refs:
        grouped[kind].append(ident)
    return {k: tuple(sorted(v)) for k, v in sorted(grouped.items())}


def count_refs(refs: Sequence[Ref]) -> Count:
    return Count.model_construct(count=len(refs), refs=group_refs(refs))


def flat_refs(refs: Refs) -> list[Ref]:
    return [(k, i) for k, ids in refs.items() for i in ids]



@dataclass(slots=True)
class ClerkMonth:
    """One clerk's day rows folded into month totals."""

    tally: Tally = field(default_factory=Tally)
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

    def add(self, row: DayRow, tally: Tally, violations: list[ViolationRow]) -> None:
        self.tally.merge(tally)
        self.violations += violations
        self.windows.update(dict.fromkeys(row.windows))
        if row.on_duty:
            self.days_on_duty += 1
            self.days_present += row.attendance.present.seconds > 0
        if row.arrival.status is Punctual.LATE:
            self.late_days += 1
            self.late += flat_refs(row.arrival.refs)
            self.late_s += row.arrival.seconds
        elif row.arrival.status is Punctual.ABSENT:
            self.absent_days += 1
            self.absent += flat_refs(row.arrival.refs)
        if row.departure.status is Punctual.EARLY:
            self.early_days += 1
            self.early += flat_refs(row.departure.refs)
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
            late=Count(count=self.late_days, refs=group_refs(self.late)),
            late_seconds=self.late_s,
            early=Count(count=self.early_days, refs=group_refs(self.early)),
            early_seconds=self.early_s,
            absent_days=Count(count=self.absent_days, refs=group_refs(self.absent)),
            attendance=attendance,
            violations=by_rule(self.violations),
            points=Points(suggested=suggestion.points, reasons=suggestion.reasons, override=override, note=note),
        )


_NONE = Count()


def by_rule(rows: Sequence[ViolationRow]) -> dict[str, Count]:
    grouped: dict[str, list[Ref]] = {r.value: [] for r in VIOLATION_RULES}
    for v in rows:
        grouped[v.rule].append(("event", v.event_id))
    return {rule: count_refs(refs) if refs else _NONE for rule, refs in grouped.items()}
