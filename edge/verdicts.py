"""A second stage's verdict on a candidate box, reused while the candidate has not changed.

The second stages (presence verifier, sign verifier) judge the detector's candidate boxes. A clerk sitting
still, or a placard standing on the counter, is the same candidate pass after pass, and the window is
re-run anyway (motion elsewhere in it, the keep-alive, an unsettled neighbour). While a candidate's box
holds IoU >= ``REUSE_IOU`` with a box judged in the same window, and the picture in that box has not
changed since (no motion: ``moved`` when the caller knows it, else the box's own grey thumbnail compared
as edge/motion.py compares a window's), its last verdict is reused instead of running the stage again.
The judged box and picture stay the reference, so a slow drift adds up to a fresh verdict.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from edge.motion import Grey, thumbnail
from vision.boxes import Box
from vision.presence import box_iou

REUSE_IOU = 0.9  # a box this close to the judged one is the same candidate
PATCH_WIDTH = 24  # the box's grey thumbnail, compared like a window's (AnalysisSettings defaults)
PATCH_THRESHOLD, PATCH_MIN_FRACTION = 20, 0.01


@dataclass(frozen=True)
class Verdict:
    box: tuple[float, float, float, float]
    prob: float
    patch: Grey


def box_patch(image: npt.NDArray[np.uint8], box: Box) -> Grey:
    h, w = image.shape[:2]
    x1, y1 = min(max(0, int(box[0])), w - 1), min(max(0, int(box[1])), h - 1)
    x2, y2 = max(min(w, int(np.ceil(box[2]))), x1 + 1), max(min(h, int(np.ceil(box[3]))), y1 + 1)
    return thumbnail(image[y1:y2, x1:x2], PATCH_WIDTH).grey


def unchanged(a: Grey, b: Grey) -> bool:
    if a.shape != b.shape:
        return False
    return bool(np.count_nonzero(cv2.absdiff(a, b) > PATCH_THRESHOLD) < PATCH_MIN_FRACTION * a.size)


class VerdictMemory:
    """The boxes last judged, per window (any hashable key), and how often a verdict was computed / reused."""

    def __init__(self) -> None:
        self.verdicts: dict[Hashable, list[Verdict]] = {}
        self.runs = self.reused = 0

    def judge(self, key: Hashable, image: npt.NDArray[np.uint8], boxes: Sequence[Box],
              compute: Callable[[list[int]], Sequence[float]], *, moved: bool | None = None) -> list[float]:
        """One probability per box: reused where the candidate is unchanged, else ``compute(indices)`` (of
        ``boxes``, in order; called once, only when some box needs it). These boxes become the window's
        judged ones."""
        last = [] if moved else self.verdicts.get(key, [])
        kept: list[Verdict | None] = []
        patches: list[Grey] = []
        for box in boxes:
            patch = box_patch(image, box)
            patches.append(patch)
            old = max(last, key=lambda v: box_iou(v.box, box), default=None)
            if old is not None and box_iou(old.box, box) >= REUSE_IOU and unchanged(old.patch, patch):
                kept.append(old)
                self.reused += 1
            else:
                kept.append(None)
        todo = [i for i, v in enumerate(kept) if v is None]
        if todo:
            fresh = iter(compute(todo))
            for i in todo:
                b = boxes[i]
                kept[i] = Verdict((float(b[0]), float(b[1]), float(b[2]), float(b[3])), float(next(fresh)), patches[i])
            self.runs += len(todo)
        judged = [v for v in kept if v is not None]
        self.verdicts[key] = judged
        return [v.prob for v in judged]
