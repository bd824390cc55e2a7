"""The per-clerk second stage: a person crop (+ the detector's object cues) -> behaviour probabilities.

One ONNX file (models/counterwatch-behaviour-v1.onnx) holds the frozen backbone and the trained head: the
shipped detector's own network up to its three neck outputs (P3/P4/P5, so the features already "know"
phones, cups and food), global average + max pooling, then a linear softmax head. Runtime is onnxruntime
and numpy only. Inputs: ``images`` (N, 3, S, S) float RGB in [0, 1], the person box grown by ``margin``
on every side, cut from the frame (gray 114 outside) and letterboxed to S; ``cues`` (N, 3) float:
:func:`cues_for` (best phone score whose centre is in the grown box, that phone's height in the box 0..1,
best food/drink score). Output ``probs`` (N, len(classes)).

A phone lying on the desk inside a clerk's box is exactly what the geometric rule used to count as phone
use; here the head decides from how the crop looks, so the cue alone does not make a verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from models.infer import Image, letterbox

FloatArray = npt.NDArray[np.float32]
BEHAVIOURS: tuple[str, ...] = ("none", "phone_use", "eating", "drinking", "dozing")
CUE_NAMES: tuple[str, ...] = ("phone_score", "phone_height", "food_drink_score")


@dataclass(frozen=True)
class CropSpec:
    size: int = 160
    margin: float = 0.1


@dataclass(frozen=True)
class ObjectBox:
    """A detector box used as a cue: label in {phone, food, drink}, xyxy in frame pixels, score."""

    label: str
    box: tuple[float, float, float, float]
    score: float


def grown(box: Sequence[float], margin: float) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    gx, gy = (x2 - x1) * margin, (y2 - y1) * margin
    return x1 - gx, y1 - gy, x2 + gx, y2 + gy


def cut(image_bgr: Image, box: Sequence[float], spec: CropSpec) -> Image:
    """The grown box cut from the frame (gray 114 where it leaves the frame), letterboxed to S x S."""
    h, w = image_bgr.shape[:2]
    x1, y1, x2, y2 = (round(v) for v in grown(box, spec.margin))
    x2, y2 = max(x2, x1 + 2), max(y2, y1 + 2)
    out = np.full((y2 - y1, x2 - x1, 3), 114, np.uint8)
    sx1, sy1, sx2, sy2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
    if sx2 > sx1 and sy2 > sy1:
        out[sy1 - y1:sy2 - y1, sx1 - x1:sx2 - x1] = image_bgr[sy1:sy2, sx1:sx2]
    boxed, _ = letterbox(out, spec.size)
    return boxed


def blob(crops: Sequence[Image]) -> FloatArray:
    arr = np.stack([c[:, :, ::-1].transpose(2, 0, 1) for c in crops]).astype(np.float32) / 255.0
    return np.ascontiguousarray(arr)


def cues_for(box: Sequence[float], objects: Sequence[ObjectBox], margin: float = 0.1) -> FloatArray:
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


class BehaviourModel:
    """The shipped second stage. ``probs`` takes frame + person boxes + cue objects; ``classes`` names
    the columns (a model trained without data for a behaviour does not carry its column)."""

    def __init__(self, path: str | Path, spec: CropSpec, classes: Sequence[str], threads: int | None = 1) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        self.spec, self.classes = spec, tuple(classes)

    def run(self, crops: FloatArray, cues: FloatArray) -> FloatArray:
        out = self.session.run(["probs"], {"images": crops, "cues": cues.astype(np.float32)})[0]
        return np.asarray(out, np.float32)

    def probs(self, image_bgr: Image, boxes: Sequence[Sequence[float]], objects: Sequence[ObjectBox]
              ) -> FloatArray:
        if not boxes:
            return np.zeros((0, len(self.classes)), np.float32)
        crops = blob([cut(image_bgr, b, self.spec) for b in boxes])
        cues = np.stack([cues_for(b, objects, self.spec.margin) for b in boxes])
        return self.run(crops, cues)
