"""Cheap change detection that gates the detector (Frigate's motion stage, one per window).

One grey thumbnail per frame (the frame shrunk with area averaging, which also averages away sensor and
compression noise, then a 3x3 blur); each window compares its part of it with the thumbnail its held
detections were computed on. Comparing with that reference, not with the previous frame, lets a slow
change (light creeping, a clerk sliding out of the seat over many frames) add up until it counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

Grey = npt.NDArray[np.uint8]
Rect = tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class Thumbnail:
    grey: Grey  # shrunk and blurred: what the change detector compares
    scale: float  # thumbnail pixels per frame pixel
    small: Grey  # shrunk, not blurred (camera health's statistics start from it: one shrink per frame)


def thumbnail(image: npt.NDArray[np.uint8], width: int) -> Thumbnail:
    h, w = image.shape[:2]
    scale = min(1.0, width / w)
    # Grey first: the area average then runs on a third of the data (half the CPU of shrinking in colour).
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    small = grey if scale == 1.0 else cv2.resize(grey, (max(1, round(w * scale)), max(1, round(h * scale))),
                                                 interpolation=cv2.INTER_AREA)
    small = np.asarray(small, dtype=np.uint8)
    return Thumbnail(np.asarray(cv2.GaussianBlur(small, (3, 3), 0), dtype=np.uint8), scale, small)


@dataclass
class ChangeDetector:
    """Has ``rect`` (frame pixels) changed since :meth:`settle`? ``threshold`` grey levels on at least
    ``min_fraction`` of its thumbnail pixels."""

    rect: Rect
    threshold: int
    min_fraction: float
    _reference: Grey | None = field(default=None, init=False)
    last_fraction: float = field(default=1.0, init=False)

    def _region(self, thumb: Thumbnail) -> Grey:
        x1, y1, x2, y2 = (round(v * thumb.scale) for v in self.rect)
        h, w = thumb.grey.shape
        x1, y1 = min(max(0, x1), w - 1), min(max(0, y1), h - 1)
        return thumb.grey[y1:max(y1 + 1, min(h, y2)), x1:max(x1 + 1, min(w, x2))]

    def fraction(self, thumb: Thumbnail) -> float:
        """Share of the region's pixels that changed (1.0 with nothing to compare against)."""
        region = self._region(thumb)
        if self._reference is None or self._reference.shape != region.shape:
            self.last_fraction = 1.0
        else:
            diff = cv2.absdiff(region, self._reference)
            self.last_fraction = float(np.count_nonzero(diff > self.threshold)) / diff.size
        return self.last_fraction

    def moved(self, thumb: Thumbnail) -> bool:
        return self.fraction(thumb) >= self.min_fraction

    def settle(self, thumb: Thumbnail) -> None:
        """The detector has just looked at this picture: later frames are compared with it."""
        self._reference = self._region(thumb).copy()

    def reset(self) -> None:
        self._reference = None
