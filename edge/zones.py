"""Zones in normalised coordinates, and presence with inertia.

Presence is judged from person detections only (not from tracker ids, not from motion): a clerk who sits
still for an hour is detected, hence present, for an hour. Detector drop-outs are absorbed by the
:class:`PresenceFilter` hysteresis, so one missed frame is never an absence.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import numpy as np
import numpy.typing as npt

Box = tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels
Anchor = Literal["area", "bottom_centre"]


def points_in_polygon(points: npt.NDArray[np.float64], polygon: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Even-odd ray casting for many points at once. ``points`` (N, 2), ``polygon`` (M, 2)."""
    x, y = points[:, 0:1], points[:, 1:2]
    x1, y1 = polygon[:, 0], polygon[:, 1]
    x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
    crosses = (y1 > y) != (y2 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
    inside: npt.NDArray[np.bool_] = np.logical_xor.reduce(crosses & (x < x_at), axis=1)
    return inside


_GRID = np.stack(np.meshgrid(np.linspace(0.1, 0.9, 5), np.linspace(0.1, 0.9, 5)), -1).reshape(-1, 2)


class Zone:
    """A polygon given in normalised coordinates, evaluated in pixels of a frame of a known size."""

    def __init__(self, polygon: Sequence[tuple[float, float]], frame_size: tuple[int, int]) -> None:
        w, h = frame_size
        self.norm = np.asarray(polygon, dtype=np.float64)
        self.pixels = self.norm * np.array([w, h], dtype=np.float64)

    def bbox(self) -> Box:
        x1, y1 = self.pixels.min(axis=0)
        x2, y2 = self.pixels.max(axis=0)
        return float(x1), float(y1), float(x2), float(y2)

    def contains(self, x: float, y: float) -> bool:
        return bool(points_in_polygon(np.array([[x, y]]), self.pixels)[0])

    def overlap(self, box: Box) -> float:
        """Fraction of the box inside the zone, estimated on a 5x5 grid of sample points."""
        x1, y1, x2, y2 = box
        pts = np.array([x1, y1]) + _GRID * np.array([x2 - x1, y2 - y1])
        return float(points_in_polygon(pts, self.pixels).mean())

    def holds(self, box: Box, anchor: Anchor = "area", min_overlap: float = 0.3) -> bool:
        if anchor == "bottom_centre":
            return self.contains((box[0] + box[2]) / 2, box[3])
        return self.overlap(box) >= min_overlap


def union_bbox(zones: Sequence[Zone], padding: float, frame_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """Integer crop rectangle around all zones, padded by a fraction of its size, clipped to the frame."""
    boxes = np.array([z.bbox() for z in zones])
    x1, y1 = boxes[:, 0].min(), boxes[:, 1].min()
    x2, y2 = boxes[:, 2].max(), boxes[:, 3].max()
    px, py = (x2 - x1) * padding, (y2 - y1) * padding
    w, h = frame_size
    return (max(0, int(x1 - px)), max(0, int(y1 - py)), min(w, int(np.ceil(x2 + px))), min(h, int(np.ceil(y2 + py))))


@dataclass
class PresenceFilter:
    """Hysteresis on "someone is there": seen for ``enter_s`` to arrive, unseen for ``leave_s`` to leave.

    The count reported while present is the largest count seen over the last ``leave_s`` seconds, so a
    clerk briefly hidden behind a colleague does not make the count dip."""

    enter_s: float
    leave_s: float
    present: bool = False
    _first_seen: datetime | None = None
    _last_seen: datetime | None = None

    def __post_init__(self) -> None:
        self._counts: deque[tuple[datetime, int]] = deque()

    def update(self, at: datetime, count: int) -> tuple[bool, int]:
        if count > 0:
            self._last_seen = at
            if self._first_seen is None:
                self._first_seen = at
            if not self.present and (at - self._first_seen).total_seconds() >= self.enter_s:
                self.present = True
        else:
            self._first_seen = None if not self.present else self._first_seen
            if self.present and (self._last_seen is None
                                 or (at - self._last_seen).total_seconds() >= self.leave_s):
                self.present = False
                self._first_seen = None
        self._counts.append((at, count))
        horizon = at - timedelta(seconds=self.leave_s)
        while self._counts and self._counts[0][0] < horizon:
            self._counts.popleft()
        if not self.present:
            return False, 0
        return True, max(1, max(c for _, c in self._counts))

    def arriving(self) -> bool:
        """Absent, but someone was seen in the last ``leave_s``: the change gate (edge/schedule.py) looks
        on every frame then, so that the arrival is judged on fresh sightings as without a gate."""
        return not self.present and any(c > 0 for _, c in self._counts)

    def reset(self) -> None:
        """Camera blind: forget, so that presence is re-established from fresh sightings."""
        self.present, self._first_seen, self._last_seen = False, None, None
        self._counts.clear()
