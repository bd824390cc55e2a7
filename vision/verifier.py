"""Second-stage verifiers on the detector's candidates; today the pause-sign verifier.

The detector finds sign-shaped placards well but cannot tell a 暂停服务 card from a 欢迎光临 one well enough
for precision >= 0.95. A small CNN looks again at each ``pause_sign`` candidate: the box plus a context
margin, cropped from the *full-resolution* frame and stretched to a small square, answers "sign / not sign".
Final score = ``det ** (1 - weight) * p ** weight`` (:func:`combine`); candidates under ``min_det`` are
dropped, then those a better candidate overlaps (:func:`suppress`). :func:`rescore_signs` is that whole step,
called by the edge (edge/sign.py) and by ``models evaluate`` alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from vision.boxes import Box, FloatArray, IntArray
from vision.detector import Detection
from vision.letterbox import PAD_VALUE, Image
from vision.session import cpu_session


@dataclass(frozen=True)
class CropSpec:
    size: int = 64  # square network input, pixels
    margin: float = 0.15  # context added on every side, as a fraction of the box's width / height


@dataclass(frozen=True)
class Suppression:
    """After re-scoring, a sign candidate is dropped when a better one overlaps it by IoU > ``iou`` or
    covers more than ``containment`` of the smaller box: the detector's NMS keeps partial boxes of one sign,
    and once the verifier vouches for them each would count as a false alarm."""

    iou: float = 0.5
    containment: float = 0.8


@dataclass(frozen=True)
class SignWiring:
    """How the verifier is wired behind the detector (the manifest's ``sign_verifier`` entry)."""

    crop: CropSpec
    min_det: float = 0.05  # candidates below this detector score never reach the verifier (and are dropped)
    weight: float = 0.5
    suppression: Suppression | None = None


def crop(image: Image, box: Sequence[float] | FloatArray, spec: CropSpec) -> npt.NDArray[np.uint8]:
    """The box plus its margin, padded with gray where it leaves the frame, resized (stretched) to a square.
    Stretching keeps every pixel of a wide placard or a tall A4 sign; the CNN learns the squash."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    mx, my = (x2 - x1) * spec.margin, (y2 - y1) * spec.margin
    ex1, ey1 = int(np.floor(x1 - mx)), int(np.floor(y1 - my))
    ex2, ey2 = max(int(np.ceil(x2 + mx)), ex1 + 2), max(int(np.ceil(y2 + my)), ey1 + 2)
    region: Image = image[max(ey1, 0) : min(ey2, h), max(ex1, 0) : min(ex2, w)]
    if region.size == 0:
        region = np.full((ey2 - ey1, ex2 - ex1, 3), PAD_VALUE, np.uint8)
    else:
        region = cv2.copyMakeBorder(region, max(-ey1, 0), max(ey2 - h, 0), max(-ex1, 0), max(ex2 - w, 0),
                                    cv2.BORDER_CONSTANT, value=(PAD_VALUE, PAD_VALUE, PAD_VALUE))
    shrink = region.shape[0] > spec.size or region.shape[1] > spec.size
    out = cv2.resize(region, (spec.size, spec.size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return np.asarray(out, dtype=np.uint8)


def to_blob(crops: Sequence[Image] | npt.NDArray[np.uint8]) -> FloatArray:
    """BGR uint8 crops -> (N, 3, S, S) float32 RGB in [0, 1] (the detector's convention)."""
    arr = np.asarray(crops, dtype=np.uint8)
    return np.ascontiguousarray(arr[..., ::-1].transpose(0, 3, 1, 2).astype(np.float32) / 255.0)


def combine(det_scores: FloatArray, probs: FloatArray, weight: float) -> FloatArray:
    """Weighted geometric mean of detector score and verifier probability: the verifier can veto a
    look-alike placard, while the detector's score still orders the signs it agrees on."""
    d = np.clip(np.asarray(det_scores, np.float64), 1e-6, 1.0)
    p = np.clip(np.asarray(probs, np.float64), 1e-6, 1.0)
    return np.asarray(d ** (1.0 - weight) * p**weight, dtype=np.float32)


def suppress(boxes: FloatArray, scores: FloatArray, rule: Suppression) -> IntArray:
    """Indices kept, best score first (greedy)."""
    order = np.argsort(-scores, kind="stable")
    area = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    keep: list[int] = []
    for i in order:
        if keep:
            k = np.asarray(keep)
            iw = np.clip(np.minimum(boxes[k, 2], boxes[i, 2]) - np.maximum(boxes[k, 0], boxes[i, 0]), 0, None)
            ih = np.clip(np.minimum(boxes[k, 3], boxes[i, 3]) - np.maximum(boxes[k, 1], boxes[i, 1]), 0, None)
            inter = iw * ih
            iou = inter / np.maximum(area[k] + area[i] - inter, 1e-9)
            cover = inter / np.maximum(np.minimum(area[k], area[i]), 1e-9)
            if (iou > rule.iou).any() or (cover > rule.containment).any():
                continue
        keep.append(int(i))
    return np.asarray(keep, dtype=np.int64)


class SignVerifier:
    """The ONNX verifier: input (N, 3, S, S) float RGB [0, 1], output (N, 1) P(pause sign). Thread-safe
    (each call builds its own blob; ORT's run is thread-safe)."""

    def __init__(self, path: Path, spec: CropSpec, threads: int | None = 1) -> None:
        self.session = cpu_session(path, threads)
        self.input_name = self.session.get_inputs()[0].name
        self.crop_spec = spec

    def probs_of_crops(self, crops: Sequence[Image] | npt.NDArray[np.uint8]) -> FloatArray:
        if len(crops) == 0:
            return np.zeros(0, np.float32)
        out = self.session.run(None, {self.input_name: to_blob(crops)})[0]
        return np.asarray(out, dtype=np.float32).reshape(-1)

    def probs(self, image: Image, boxes: Sequence[Sequence[float]] | FloatArray) -> FloatArray:
        """P(pause sign) per box (frame pixels)."""
        return self.probs_of_crops([crop(image, b, self.crop_spec) for b in boxes])


def rescore_signs(verifier: SignVerifier, wiring: SignWiring, image: Image, detections: Sequence[Detection],
                  probs_of: Callable[[list[Box]], FloatArray] | None = None) -> list[Detection]:
    """Re-score the ``pause_sign`` candidates scoring >= ``min_det`` with the verifier, drop the rest of them
    and those a better re-scored one overlaps; other labels pass untouched, in their order. ``probs_of``:
    the verifier's P(pause sign) of these boxes by another way (the edge reuses unchanged candidates')."""
    signs = [d for d in detections if d.label == "pause_sign" and d.score >= wiring.min_det]
    if not signs:
        return [d for d in detections if d.label != "pause_sign"]
    boxes: list[Box] = [d.box for d in signs]
    probs = probs_of(boxes) if probs_of is not None else verifier.probs(image, boxes)
    scores = combine(np.array([d.score for d in signs], np.float32), probs, wiring.weight)
    kept: set[int] = set(range(len(signs)))
    if wiring.suppression is not None:
        kept = set(suppress(np.asarray([d.box for d in signs], np.float32), scores, wiring.suppression).tolist())
    rescored = {id(d): replace(d, score=float(scores[i])) for i, d in enumerate(signs) if i in kept}
    return [rescored.get(id(d), d) for d in detections if d.label != "pause_sign" or id(d) in rescored]
