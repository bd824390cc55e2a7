"""Scheduled time cut into buckets: the pieces of a clerk's schedule (a session ∩ a roster row), the
leaves, notices and rulings that cover them, and each presence segment classified by the precedence in
dashboard/reports/monthly.py's docstring (present, approved leave, unobserved, ruling, notice, unexcused).

Instants are integer UTC epoch seconds; spans are half-open ``[start, end)``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import pairwise

from dashboard.enums import Classification
from dashboard.reports.model import AbsenceSpan
from dashboard.reports.tally import ABSENCE_BUCKETS, PRESENT, UNOBSERVED, Ref, group_refs
from dashboard.reports.timeline import Segment


@dataclass(frozen=True, slots=True)
class Piece:
    """Scheduled time of one clerk at one window: a session ∩ a roster assignment."""

    start: int
    end: int
    window: str
    roster_id: str
    opens_session: bool


@dataclass(frozen=True, slots=True)
class Chunk:
    start: int
    end: int
    window: str
    bucket: str
    refs: tuple[Ref, ...]

    def presence_ids(self) -> tuple[str, ...]:
        return tuple(i for kind, i in self.refs if kind == "presence")


@dataclass(frozen=True, slots=True)
class Cover:
    """A leave, notice or ruling of one clerk, as epoch seconds."""

    start: int
    end: int
    ref: Ref
    label: str  # the bucket it assigns


def utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)



def classify(seg: Segment, window: str, covers: list[Cover]) -> list[Chunk]:
    """Cut one presence segment into bucketed chunks, by the precedence in the module docstring."""
    seen: tuple[Ref, ...] = tuple(("presence", i) for i in seg.ids)
    if seg.present:
        return [Chunk(seg.start, seg.end, window, PRESENT, seen)]
    inside = [c for c in covers if c.start < seg.end and c.end > seg.start]
    if not inside:
        bucket = Classification.UNEXCUSED.value if seg.observed_absent else UNOBSERVED
        return [Chunk(seg.start, seg.end, window, bucket, seen)]
    cuts = sorted({seg.start, seg.end, *(t for c in inside for t in (c.start, c.end) if seg.start < t < seg.end)})
    out: list[Chunk] = []
    for lo, hi in pairwise(cuts):
        here = [c for c in inside if c.start <= lo and c.end >= hi]
        bucket, refs = _bucket(seg, here)
        chunk = Chunk(lo, hi, window, bucket, seen + refs)
        prev = out[-1] if out else None
        if prev is not None and prev.bucket == bucket and prev.refs == chunk.refs:
            out[-1] = Chunk(prev.start, hi, window, bucket, prev.refs)
        else:
            out.append(chunk)
    return out


def _bucket(seg: Segment, covers: list[Cover]) -> tuple[str, tuple[Ref, ...]]:
    leaves = [c for c in covers if c.ref[0] == "leave"]
    if leaves:
        return Classification.APPROVED_LEAVE.value, tuple(sorted(c.ref for c in leaves))
    if not seg.observed_absent:
        return UNOBSERVED, ()
    rulings = sorted((c for c in covers if c.ref[0] == "ruling"), key=lambda c: c.ref)
    if rulings:
        return rulings[-1].label, (rulings[-1].ref,)
    notices = [c for c in covers if c.ref[0] == "notice"]
    if notices:
        on_time = [c for c in notices if c.label == Classification.NOTICE_ON_TIME.value]
        chosen = on_time or notices
        return chosen[0].label, tuple(sorted(c.ref for c in chosen))
    return Classification.UNEXCUSED.value, ()


def union(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in sorted(spans):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return out


def duty_spans(pieces: list[Piece], leaves: list[Cover]) -> list[Piece]:
    """Scheduled pieces minus approved leave, in time order; a span keeps ``opens_session`` only if it
    still starts where the session opens."""
    out: list[Piece] = []
    holes = union([(c.start, c.end) for c in leaves])
    for p in pieces:
        cursor = p.start
        for s, e in holes:
            if e <= cursor or s >= p.end:
                continue
            if s > cursor:
                out.append(Piece(cursor, s, p.window, p.roster_id, p.opens_session and cursor == p.start))
            cursor = max(cursor, e)
        if cursor < p.end:
            out.append(Piece(cursor, p.end, p.window, p.roster_id, p.opens_session and cursor == p.start))
    return out


def same_window_run(duty: list[Piece]) -> list[Piece]:
    """The leading duty spans that share the first span's window."""
    run = [duty[0]]
    for p in duty[1:]:
        if p.window != run[0].window:
            break
        run.append(p)
    return run


def absence_spans(staff_id: str, day: date, chunks: list[Chunk]) -> list[AbsenceSpan]:
    spans: list[tuple[int, int, str, str, set[Ref]]] = []
    for c in chunks:
        if c.bucket not in ABSENCE_BUCKETS:
            continue
        prev = spans[-1] if spans else None
        if prev is not None and prev[1] == c.start and prev[2] == c.window and prev[3] == c.bucket:
            prev[4].update(c.refs)
            spans[-1] = (prev[0], c.end, prev[2], prev[3], prev[4])
        else:
            spans.append((c.start, c.end, c.window, c.bucket, set(c.refs)))
    return [
        AbsenceSpan.model_construct(
            staff_id=staff_id, service_date=day, window_id=w, start=utc(s), end=utc(e),
            classification=Classification(b), refs=group_refs(r),
        )
        for s, e, w, b, r in spans
    ]
