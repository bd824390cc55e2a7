"""The per-clerk second stage's input and network, shared by the edge (edge/clerk_stage.py) and training and
evaluation (models/behaviour.py): one crop recipe, one cue recipe, one ONNX call.

The crop is the person box grown by ``margin`` on every side, cut from the frame (gray 114 where it leaves
the frame) and letterboxed to S x S by :func:`vision.letterbox.letterbox_into`. The cues are the detector's
object scores around the clerk: (best phone score whose centre is in the grown box, that phone's height in
the box 0 top .. 1 bottom, best food/drink score).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt

from vision.letterbox import PAD_VALUE, FloatArray, Image, letterbox_into
from vision.session import cpu_session

Box = tuple[float, float, float, float]

# The cues were trained and evaluated with every phone / food / drink box down to this detector score
# (models/behaviour_data.py), so the edge hands the stage its candidates down to the same floor, whatever
# floor the other rules use; at 0.3 a weakly seen phone would be a cue of 0 the head never learned from.
CUE_LABELS = ("phone", "food", "drink")
CUE_CONFIDENCE = 0.05


class CueObject(Protocol):
    """A detector box used as a cue (edge ``Detection``, models ``ObjectBox``)."""

    @property
    def label(self) -> str: ...

    @property
    def box(self) -> Box: ...

    @property
    def score(self) -> float: ...


def grown(box: Sequence[float], margin: float) -> Box:
    x1, y1, x2, y2 = (float(v) for v in box)
    gx, gy = (x2 - x1) * margin, (y2 - y1) * margin
    return x1 - gx, y1 - gy, x2 + gx, y2 + gy


def clerk_region(image_bgr: Image, box: Sequence[float], margin: float) -> npt.NDArray[np.uint8]:
    """The grown box cut from the frame, gray where it leaves the frame (at least 2 x 2 pixels)."""
    h, w = image_bgr.shape[:2]
    x1, y1, x2, y2 = (round(v) for v in grown(box, margin))
    x2, y2 = max(x2, x1 + 2), max(y2, y1 + 2)
    out = np.full((y2 - y1, x2 - x1, 3), PAD_VALUE, np.uint8)
    sx1, sy1, sx2, sy2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
    if sx2 > sx1 and sy2 > sy1:
        out[sy1 - y1:sy2 - y1, sx1 - x1:sx2 - x1] = image_bgr[sy1:sy2, sx1:sx2]
    return out


def clerk_crops(image_bgr: Image, boxes: Sequence[Sequence[float]], size: int, margin: float) -> FloatArray:
    """(N, 3, size, size) float RGB network input, one letterboxed crop per person box (a fresh array: the
    caller owns it, so concurrent cameras never share one)."""
    out = np.empty((len(boxes), 3, size, size), dtype=np.float32)
    for i, box in enumerate(boxes):
        letterbox_into(clerk_region(image_bgr, box, margin), out[i])
    return out


def clerk_cues(box: Sequence[float], objects: Sequence[CueObject], margin: float) -> FloatArray:
    gx1, gy1, gx2, gy2 = grown(box, margin)
    phone, height, food = 0.0, 0.0, 0.0
    for o in objects:
        cx, cy = (o.box[0] + o.box[2]) / 2, (o.box[1] + o.box[3]) / 2
        if not (gx1 <= cx <= gx2 and gy1 <= cy <= gy2):
            continue
        if o.label == "phone" and o.score > phone:
            phone, height = o.score, (cy - gy1) / max(gy2 - gy1, 1e-6)
        elif o.label in ("food", "drink"):
            food = max(food, o.score)
    return np.array([phone, height, food], np.float32)


class BehaviourNet:
    """The behaviour ONNX (inputs ``images`` (N, 3, S, S) and ``cues`` (N, 3), output ``probs``) on
    onnxruntime. Stateless between calls, so one instance serves every camera thread."""

    def __init__(self, path: str | Path, size: int, margin: float, classes: Sequence[str],
                 threads: int | None = 1) -> None:
        self.session = cpu_session(path, threads)
        self.size, self.margin, self.classes = size, margin, tuple(classes)

    def run(self, crops: FloatArray, cues: FloatArray) -> FloatArray:
        out = self.session.run(["probs"], {"images": crops, "cues": cues.astype(np.float32)})[0]
        return np.asarray(out, np.float32)

    def probs(self, image_bgr: Image, boxes: Sequence[Sequence[float]], objects: Sequence[CueObject]
              ) -> FloatArray:
        if not boxes:
            return np.zeros((0, len(self.classes)), np.float32)
        crops = clerk_crops(image_bgr, boxes, self.size, self.margin)
        cues = np.stack([clerk_cues(b, objects, self.margin) for b in boxes])
        return self.run(crops, cues)
