"""Camera health from the frames themselves: lost stream, frozen picture, dark or covered lens.

A blind camera pauses every staff rule of its windows (the rules see ``observed=False``) and raises a
camera health event instead; it is never read as a clerk's absence. Status changes need ``confirm_s``
of agreement so one odd frame (a flash, a passing hand) does not flap the health.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import cv2
import numpy as np
import numpy.typing as npt

Status = str  # "ok" | "offline" | "frozen" | "obstructed" | "dark"


@dataclass
class HealthThresholds:
    offline_after_s: float = 5.0
    frozen_after_s: float = 15.0
    frozen_diff: float = 0.05  # mean abs grey difference on a 64x36 thumbnail; stuck decoders give 0
    # A frozen picture re-encoded (a DVR showing its last frame) flickers at each key frame by 0.1-0.3: a
    # change counts only when it lasts two frames in a row or is this large in one.
    frozen_jump: float = 1.0
    dark_mean: float = 18.0
    obstructed_std: float = 6.0  # a lens covered by a hand or paper is nearly uniform
    confirm_s: float = 2.0


@dataclass
class FrameStats:
    mean: float
    std: float
    thumb: npt.NDArray[np.float32]


def frame_stats(image: npt.NDArray[np.uint8]) -> FrameStats:
    """Of a BGR frame, or of a grey one (the pipeline passes the change detector's shrunk grey frame, so
    that the full frame is shrunk once)."""
    small = cv2.resize(image, (64, 36), interpolation=cv2.INTER_AREA)
    grey = small if small.ndim == 2 else cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    thumb = grey.astype(np.float32)
    return FrameStats(float(thumb.mean()), float(thumb.std()), thumb)


@dataclass
class CameraHealthMonitor:
    thresholds: HealthThresholds = field(default_factory=HealthThresholds)
    status: Status = "offline"
    detail: str = "no frame yet"
    last_frame_at: datetime | None = None
    _connected: bool = False
    _unchanged_since: datetime | None = None
    _prev: npt.NDArray[np.float32] | None = None
    _changed_last: bool = False  # the previous frame differed from its predecessor
    _candidate: Status | None = None
    _candidate_since: datetime | None = None
    # When the current status's condition really began: a frozen picture is only recognised after
    # frozen_after_s and a covered lens after confirm_s, but the camera was blind from the start of it.
    since: datetime | None = None

    def on_frame(self, image: npt.NDArray[np.uint8], at: datetime) -> Status:
        """``image``: the frame, BGR, or any grey shrink of it (see :func:`frame_stats`)."""
        self._connected = True
        stats = frame_stats(image)
        diff = float(np.abs(stats.thumb - self._prev).mean()) if self._prev is not None else None
        changed = diff is None or diff >= self.thresholds.frozen_diff
        if not changed:
            self._unchanged_since = self._unchanged_since or self.last_frame_at or at
        elif diff is None or diff >= self.thresholds.frozen_jump or self._changed_last:
            self._unchanged_since = None  # real change; a lone small flicker (key frame) keeps the freeze
        self._changed_last = changed
        self._prev = stats.thumb
        self.last_frame_at = at
        t = self.thresholds
        if stats.mean < t.dark_mean:
            seen, why = "dark", f"mean brightness {stats.mean:.0f}"
        elif stats.std < t.obstructed_std:
            seen, why = "obstructed", f"picture nearly uniform (std {stats.std:.1f})"
        elif self._unchanged_since is not None and (at - self._unchanged_since).total_seconds() >= t.frozen_after_s:
            seen, why = "frozen", "picture has not changed"
        else:
            seen, why = "ok", ""
        began = self._unchanged_since if seen == "frozen" else None
        return self._settle(seen, why, at, immediate=self.status == "offline" and seen == "ok", began=began)

    def on_lost(self, at: datetime, detail: str = "stream lost") -> Status:
        self._connected = False
        return self._settle("offline", detail, at, immediate=True, began=self.last_frame_at)

    def tick(self, now: datetime) -> Status:
        """Call regularly: no frames for a while is an offline camera even without an error."""
        silent = self.last_frame_at is not None and (now - self.last_frame_at).total_seconds()
        if silent is not False and silent >= self.thresholds.offline_after_s:
            return self._settle("offline", "no frames", now, immediate=True, began=self.last_frame_at)
        return self.status

    def _settle(self, seen: Status, why: str, at: datetime, *, immediate: bool,
                began: datetime | None = None) -> Status:
        if seen == self.status:
            self._candidate = None
            return self.status
        if immediate:
            self.status, self.detail, self._candidate = seen, why, None
            self.since = min(began or at, at)
            return self.status
        if self._candidate != seen:
            self._candidate, self._candidate_since = seen, at
        assert self._candidate_since is not None
        if (at - self._candidate_since).total_seconds() >= self.thresholds.confirm_s:
            self.status, self.detail, self._candidate = seen, why, None
            self.since = min(began or self._candidate_since, self._candidate_since)
        return self.status

    @property
    def observed(self) -> bool:
        return self.status == "ok"
