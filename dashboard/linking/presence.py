"""Rebuild presence intervals from the sequence of state changes a window's camera reported."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from dashboard.enums import PresenceState


def presence_state(*, observed: bool, present: bool, sign: bool) -> PresenceState:
    """A blind camera says nothing about the clerk; the pause sign turns an empty window into a pause."""
    if not observed:
        return PresenceState.UNOBSERVED
    if present:
        return PresenceState.PRESENT
    return PresenceState.SIGN_ON if sign else PresenceState.ABSENT


@dataclass(frozen=True)
class StateSample:
    changed_at: datetime  # when this state began
    state: PresenceState
    at: datetime | None = None  # when it was reported (breaks ties between equal changed_at)


@dataclass(frozen=True)
class Interval:
    state: PresenceState
    start: datetime
    end: datetime | None  # None: still going


def build_intervals(samples: Iterable[StateSample]) -> list[Interval]:
    """Maximal runs of one state, in time order; the last one is open.

    Periodic re-publications of an unchanged state and redeliveries fold away; samples arriving out of
    order are sorted by when their state began."""
    ordered = sorted(samples, key=lambda s: (s.changed_at, s.at or s.changed_at))
    # Several reports of a change at the same instant: the latest report wins.
    by_start: dict[datetime, StateSample] = {}
    for sample in ordered:
        by_start[sample.changed_at] = sample
    runs: list[tuple[PresenceState, datetime]] = []
    for sample in by_start.values():
        if not runs or runs[-1][0] is not sample.state:
            runs.append((sample.state, sample.changed_at))
    return [
        Interval(state, start, runs[i + 1][1] if i + 1 < len(runs) else None)
        for i, (state, start) in enumerate(runs)
    ]
