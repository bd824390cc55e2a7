"""Arrival and departure of a clerk on one day: on time, late / early (by how much), absent or unknown,
with the presence records behind the verdict (rules in dashboard/reports/monthly.py's docstring)."""

from __future__ import annotations

from collections.abc import Iterable

from dashboard.reports.model import Punctual, Punctuality
from dashboard.reports.spans import Chunk, Piece, same_window_run, utc
from dashboard.reports.tally import PRESENT, group_refs
from dashboard.reports.timeline import WindowTimeline, empty_timeline

# How far arrival/departure look past the reference instant for the unbroken presence around it.
LOOKBACK_S = 4 * 3600

_OFF = Punctuality(status=Punctual.OFF)
_ON_LEAVE = Punctuality(status=Punctual.ON_LEAVE)


def punctuality(
    pieces: list[Piece], duty: list[Piece], chunks: list[Chunk], timelines: dict[str, WindowTimeline], in_place_s: int
) -> tuple[Punctuality, Punctuality]:
    """A clerk's arrival and departure on one day (rules in dashboard/reports/monthly.py's docstring)."""
    if not pieces:
        off = _OFF
        return off, off
    if not duty:
        leave = _ON_LEAVE
        return leave, leave
    present = [c for c in chunks if c.bucket == PRESENT]

    first = duty[0]
    ref = first.start - in_place_s if first.opens_session else first.start
    tl = timelines.get(first.window, empty_timeline())
    seg = tl.at(ref)
    arrival: Punctuality
    if seg.present:
        at, ids = tl.present_run_start(ref, floor=ref - LOOKBACK_S)
        arrival = _punct(Punctual.ON_TIME, ref, at, 0, first.window, ids)
    elif not seg.observed_absent:
        arrival = _punct(Punctual.UNKNOWN, ref, None, 0, first.window, seg.ids)
    else:
        # Look at this window only while the clerk stays assigned to it; elsewhere, the duty chunks.
        same = same_window_run(duty)
        found = tl.first_present(ref, same[-1].end)
        later = [c for c in present if c.start >= ref][:1]  # present during a leave before duty: not it
        starts = [s.start for s in [found] if s is not None] + [c.start for c in later]
        if not starts:
            arrival = _punct(Punctual.ABSENT, ref, None, 0, first.window, seg.ids)
        else:
            at = min(starts)
            ids = seg.ids + (found.ids if found is not None and found.start == at else later[0].presence_ids())
            arrival = _punct(Punctual.LATE, ref, at, at - ref, first.window, ids)

    last = duty[-1]
    tl = timelines.get(last.window, empty_timeline())
    seg = tl.at(last.end - 1)
    departure: Punctuality
    if seg.present:
        at, ids = tl.present_run_end(last.end - 1, ceiling=last.end + LOOKBACK_S)
        departure = _punct(Punctual.ON_TIME, last.end, at, 0, last.window, ids)
    elif not seg.observed_absent:
        departure = _punct(Punctual.UNKNOWN, last.end, None, 0, last.window, seg.ids)
    else:
        same = same_window_run(duty[::-1])
        found = tl.last_present(ref if len(same) == len(duty) else same[-1].start, last.end)
        earlier = [c for c in present if ref <= c.end <= last.end][-1:]
        ends = [s.end for s in [found] if s is not None] + [c.end for c in earlier]
        if not ends:
            departure = _punct(Punctual.ABSENT, last.end, None, 0, last.window, seg.ids)
        else:
            at = max(ends)
            ids = (found.ids if found is not None and found.end == at else earlier[0].presence_ids()) + seg.ids
            departure = _punct(Punctual.EARLY, last.end, at, last.end - at, last.window, ids)
    return arrival, departure


def _punct(
    status: Punctual, reference: int, at: int | None, seconds: int, window: str, ids: Iterable[str]
) -> Punctuality:
    return Punctuality.model_construct(
        status=status,
        reference=utc(reference),
        at=None if at is None else utc(at),
        seconds=seconds,
        window_id=window,
        refs=group_refs(("presence", i) for i in dict.fromkeys(ids)),
    )
