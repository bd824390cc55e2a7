"""One window's presence as a clean, searchable timeline.

Instants are integer UTC epoch seconds; spans are half-open ``[start, end)``. The records may overlap (a
redelivered state, two cameras on one window); the timeline resolves every instant to one state by
precedence — seen present beats seen absent beats blind — and keeps the ids of the records behind it.
Time covered by no record at all is a gap: like a blind camera, it is never counted as absence.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise

from dashboard.enums import PresenceState

# Higher wins when records overlap.
_PRECEDENCE = {
    PresenceState.PRESENT: 3,
    PresenceState.ABSENT: 2,
    PresenceState.SIGN_ON: 2,
    PresenceState.UNOBSERVED: 1,
}


def epoch(value: datetime) -> int:
    """Whole UTC epoch seconds (floor), so every span boundary lands on the same grid."""
    return math.floor(value.timestamp())


@dataclass(frozen=True, slots=True)
class Segment:
    start: int
    end: int
    state: PresenceState | None  # None: no record covers it (a gap)
    ids: tuple[str, ...]

    @property
    def present(self) -> bool:
        return self.state is PresenceState.PRESENT

    @property
    def observed_absent(self) -> bool:
        return self.state in (PresenceState.ABSENT, PresenceState.SIGN_ON)


class WindowTimeline:
    """Non-overlapping, sorted presence segments of one window (gaps are not stored)."""

    def __init__(self, records: Iterable[tuple[int, int, PresenceState, str]]):
        rows = sorted(records, key=lambda r: (r[0], r[1]))
        if all(a[1] <= b[0] for a, b in pairwise(rows)):
            self.segments = [Segment(s, e, st, (i,)) for s, e, st, i in rows]
        else:
            self.segments = _resolve_overlaps(rows)
        self._starts = [s.start for s in self.segments]

    def covering(self, start: int, end: int) -> Iterator[Segment]:
        """The span ``[start, end)`` cut into consecutive segments, gaps included (state None)."""
        cursor = start
        i = max(bisect_right(self._starts, start) - 1, 0)
        while cursor < end and i < len(self.segments):
            seg = self.segments[i]
            i += 1
            if seg.end <= cursor:
                continue
            if seg.start >= end:
                break
            if seg.start > cursor:
                yield Segment(cursor, seg.start, None, ())
                cursor = seg.start
            stop = min(seg.end, end)
            yield Segment(cursor, stop, seg.state, seg.ids)
            cursor = stop
        if cursor < end:
            yield Segment(cursor, end, None, ())

    def at(self, instant: int) -> Segment:
        """The segment holding ``[instant, instant + 1)``."""
        return next(self.covering(instant, instant + 1))

    def present_run_start(self, instant: int, floor: int) -> tuple[int, tuple[str, ...]]:
        """Where the unbroken run of presence that holds ``instant`` began (not before ``floor``)."""
        i = bisect_right(self._starts, instant) - 1
        start, ids = instant, tuple[str, ...]()
        while i >= 0:
            seg = self.segments[i]
            if not seg.present or seg.end < start or seg.end <= floor:
                break
            start, ids = max(seg.start, floor), (*seg.ids, *ids)
            if seg.start <= floor:
                break
            i -= 1
        return start, ids

    def present_run_end(self, instant: int, ceiling: int) -> tuple[int, tuple[str, ...]]:
        """Where the unbroken run of presence that holds ``instant`` ended (not after ``ceiling``)."""
        i = max(bisect_right(self._starts, instant) - 1, 0)
        end, ids = instant, tuple[str, ...]()
        while i < len(self.segments):
            seg = self.segments[i]
            if seg.end <= instant:
                i += 1
                continue
            if not seg.present or seg.start > end or seg.start >= ceiling:
                break
            end, ids = min(seg.end, ceiling), (*ids, *seg.ids)
            if seg.end >= ceiling:
                break
            i += 1
        return end, ids

    def first_present(self, start: int, end: int) -> Segment | None:
        return next((s for s in self.covering(start, end) if s.present), None)

    def last_present(self, start: int, end: int) -> Segment | None:
        found = None
        for seg in self.covering(start, end):
            if seg.present:
                found = seg
        return found


_EMPTY = WindowTimeline(())


def empty_timeline() -> WindowTimeline:
    return _EMPTY


def _resolve_overlaps(rows: list[tuple[int, int, PresenceState, str]]) -> list[Segment]:
    """Sweep the boundaries; between two of them the strongest covering state wins, and the ids of every
    record with that state stay attached for drill-down."""
    bounds = sorted({t for r in rows for t in (r[0], r[1])})
    out: list[Segment] = []
    active: list[tuple[int, int, PresenceState, str]] = []
    k = 0
    for lo, hi in pairwise(bounds):
        while k < len(rows) and rows[k][0] <= lo:
            active.append(rows[k])
            k += 1
        active = [r for r in active if r[1] > lo]
        if not active:
            continue
        best = max(_PRECEDENCE[r[2]] for r in active)
        winners = [r for r in active if _PRECEDENCE[r[2]] == best]
        state = winners[0][2]
        ids = tuple(sorted({r[3] for r in winners}))
        prev = out[-1] if out else None
        if prev is not None and prev.end == lo and prev.state is state and prev.ids == ids:
            out[-1] = Segment(prev.start, hi, state, ids)
        else:
            out.append(Segment(lo, hi, state, ids))
    return out
