"""Apply the pure linking rules (dashboard.linking) to stored records.

Called by the ingest (new events, new state changes), and by the API whenever a leave record, an off-post
notice or a roster changes, so a leave entered after the fact re-classifies the absences it covers.
Every update is a diff against what is stored: recomputing with unchanged inputs changes no row."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, selectinload

from dashboard.db.models import (
    AbsenceClassification,
    Event,
    EventAttribution,
    LeaveRecord,
    OffPostNotice,
    PresenceInterval,
    Roster,
    StateChange,
    utcnow,
)
from dashboard.enums import Classification, LeaveStatus, PresenceState
from dashboard.linking import (
    ABSENCE_RULES,
    Excuse,
    Interval,
    LeaveSpan,
    NoticeSpan,
    RosterSlot,
    StateSample,
    build_intervals,
    classify_absence,
    notice_return,
    rostered_staff,
)
from dashboard.linking.attribution import is_attributable

# How far around an absence leave/notice records are looked up (a notice a day old explains nothing).
LOOKAROUND = timedelta(days=1)


class Linker:
    def __init__(self, db: Session, grace: timedelta = timedelta(minutes=5), now: datetime | None = None):
        self.db = db
        self.grace = grace
        self.now = now or utcnow()

    # -- inputs ------------------------------------------------------------------------------------
    def _slots(self, window_ids: Iterable[int], start: datetime, end: datetime) -> list[RosterSlot]:
        rows = self.db.scalars(
            select(Roster).where(
                Roster.window_id.in_(set(window_ids)), Roster.start <= end, Roster.end > start
            )
        )
        return [RosterSlot(r.staff_id, r.window_id, r.start, r.end) for r in rows]

    def _excuse_inputs(
        self, staff_ids: Iterable[int], start: datetime, end: datetime
    ) -> tuple[list[LeaveSpan], list[NoticeSpan]]:
        ids = set(staff_ids)
        if not ids:
            return [], []
        lo, hi = start - LOOKAROUND, end + LOOKAROUND
        leaves = [
            LeaveSpan(r.id, r.staff_id, r.start, r.end, r.status is LeaveStatus.APPROVED)
            for r in self.db.scalars(
                select(LeaveRecord).where(
                    LeaveRecord.staff_id.in_(ids), LeaveRecord.start <= hi, LeaveRecord.end >= lo
                )
            )
        ]
        notices = [
            NoticeSpan(r.id, r.staff_id, r.left_at, r.expected_return, r.window_id)
            for r in self.db.scalars(
                select(OffPostNotice).where(
                    OffPostNotice.staff_id.in_(ids), OffPostNotice.left_at <= hi,
                    OffPostNotice.expected_return >= lo,
                )
            )
        ]
        return leaves, notices

    def _classify(
        self, staff_id: int, start: datetime, end: datetime | None,
        leaves: list[LeaveSpan], notices: list[NoticeSpan],
    ) -> Excuse:
        return classify_absence(
            staff_id, start, end, leaves=leaves, notices=notices, now=self.now, grace=self.grace
        )

    # -- events ------------------------------------------------------------------------------------
    def link_events(self, events: Sequence[Event]) -> None:
        """(Re)attribute events to rostered clerks and classify absence events."""
        events = [e for e in events if is_attributable(e.rule)]
        if not events:
            return
        lo = min(e.started_at for e in events)
        hi = max(e.ended_at or e.started_at for e in events)
        slots = self._slots({e.window_id for e in events}, lo, hi)
        staff = {s.staff_id for s in slots}
        leaves, notices = self._excuse_inputs(staff, lo, hi)
        for event in events:
            wanted: dict[int, Excuse | None] = {}
            for staff_id in rostered_staff(event.window_id, event.started_at, slots):
                wanted[staff_id] = (
                    self._classify(staff_id, event.started_at, event.ended_at, leaves, notices)
                    if event.rule in ABSENCE_RULES else None
                )
            _sync_attributions(event, wanted)

    # -- presence ----------------------------------------------------------------------------------
    def rebuild_presence(self, window_id: int, since: datetime) -> None:
        """Rebuild the window's intervals from its state changes, starting a little before ``since``."""
        # Start from the interval before the one containing ``since``: a change at its boundary may merge.
        anchors = list(self.db.scalars(
            select(PresenceInterval.start)
            .where(PresenceInterval.window_id == window_id, PresenceInterval.start <= since)
            .order_by(PresenceInterval.start.desc()).limit(2)
        ))
        anchor = anchors[-1] if anchors else None
        changes = select(StateChange).where(StateChange.window_id == window_id)
        stored = select(PresenceInterval).where(PresenceInterval.window_id == window_id)
        if anchor is not None:
            changes = changes.where(StateChange.changed_at >= anchor)
            stored = stored.where(PresenceInterval.start >= anchor)
        samples = [StateSample(c.changed_at, c.state, c.at) for c in self.db.scalars(changes)]
        intervals = build_intervals(samples)
        existing = {(r.state, r.start): r for r in self.db.scalars(stored)}
        rows: list[PresenceInterval] = []
        for interval in intervals:
            row = existing.pop((interval.state, interval.start), None)
            if row is None:
                row = PresenceInterval(
                    window_id=window_id, state=interval.state, start=interval.start, end=interval.end
                )
                self.db.add(row)
            elif row.end != interval.end:
                row.end = interval.end
            rows.append(row)
        for stale in existing.values():
            self.db.delete(stale)
        self.db.flush()
        self.classify_intervals([r for r in rows if r.state is PresenceState.ABSENT])
        self.fill_notice_returns(window_id, intervals)

    def classify_intervals(self, rows: Sequence[PresenceInterval]) -> None:
        if not rows:
            return
        lo = min(r.start for r in rows)
        hi = max(r.end or self.now for r in rows)
        slots = self._slots({r.window_id for r in rows}, lo, hi)
        leaves, notices = self._excuse_inputs({s.staff_id for s in slots}, lo, hi)
        for row in rows:
            wanted = {
                staff_id: self._classify(staff_id, row.start, row.end, leaves, notices)
                for staff_id in rostered_staff(row.window_id, row.start, slots)
            }
            _sync_classifications(row, wanted)

    def fill_notice_returns(self, window_id: int, intervals: Sequence[Interval]) -> None:
        if not intervals:
            return
        pending = self.db.scalars(
            select(OffPostNotice).where(
                OffPostNotice.window_id == window_id,
                OffPostNotice.actual_return.is_(None),
                OffPostNotice.left_at >= intervals[0].start,
            )
        )
        for notice in pending:
            span = NoticeSpan(notice.id, notice.staff_id, notice.left_at, notice.expected_return, window_id)
            returned = notice_return(span, intervals)
            if returned is not None:
                notice.actual_return = returned

    # -- after a leave / notice / roster change ----------------------------------------------------
    def relink_staff(self, staff_id: int, start: datetime, end: datetime) -> None:
        """Re-classify everything of one clerk that a record over [start, end) may explain."""
        lo, hi = start - LOOKAROUND, end + LOOKAROUND
        events = list(self.db.scalars(
            select(Event)
            .join(EventAttribution, EventAttribution.event_pk == Event.id)
            .where(EventAttribution.staff_id == staff_id, Event.started_at >= lo, Event.started_at <= hi)
            .options(selectinload(Event.attributions))
        ).unique())
        self.link_events(events)
        intervals = list(self.db.scalars(
            select(PresenceInterval)
            .join(AbsenceClassification, AbsenceClassification.interval_id == PresenceInterval.id)
            .where(
                AbsenceClassification.staff_id == staff_id, PresenceInterval.start <= hi,
                or_(PresenceInterval.end.is_(None), PresenceInterval.end >= lo),
            )
            .options(selectinload(PresenceInterval.classifications))
        ).unique())
        self.classify_intervals(intervals)

    def relink_window(self, window_id: int, start: datetime, end: datetime) -> None:
        """After a roster change: re-attribute the window's events and absences in [start, end)."""
        events = list(self.db.scalars(
            select(Event).where(Event.window_id == window_id, Event.started_at >= start,
                                Event.started_at < end)
            .options(selectinload(Event.attributions))
        ))
        self.link_events(events)
        intervals = list(self.db.scalars(
            select(PresenceInterval).where(
                PresenceInterval.window_id == window_id, PresenceInterval.state == PresenceState.ABSENT,
                and_(PresenceInterval.start >= start, PresenceInterval.start < end),
            ).options(selectinload(PresenceInterval.classifications))
        ))
        self.classify_intervals(intervals)


def _sync_attributions(event: Event, wanted: dict[int, Excuse | None]) -> None:
    current = {a.staff_id: a for a in event.attributions}
    for staff_id, row in list(current.items()):
        if staff_id not in wanted:
            event.attributions.remove(row)
    for staff_id, excuse in wanted.items():
        existing = current.get(staff_id)
        if existing is None:
            existing = EventAttribution(staff_id=staff_id)
            event.attributions.append(existing)
        _set_excuse(existing, excuse)


def _sync_classifications(interval: PresenceInterval, wanted: dict[int, Excuse]) -> None:
    current = {c.staff_id: c for c in interval.classifications}
    for staff_id, row in list(current.items()):
        if staff_id not in wanted:
            interval.classifications.remove(row)
    for staff_id, excuse in wanted.items():
        existing = current.get(staff_id)
        if existing is None:
            existing = AbsenceClassification(staff_id=staff_id, classification=excuse.classification)
            interval.classifications.append(existing)
        _set_excuse(existing, excuse)


def _set_excuse(row: EventAttribution | AbsenceClassification, excuse: Excuse | None) -> None:
    classification: Classification | None = excuse.classification if excuse else None
    leave_id = excuse.leave_id if excuse else None
    notice_id = excuse.notice_id if excuse else None
    # Assign only on change: an unchanged recomputation leaves the row untouched.
    if row.classification != classification:
        row.classification = classification
    if row.leave_id != leave_id:
        row.leave_id = leave_id
    if row.notice_id != notice_id:
        row.notice_id = notice_id

