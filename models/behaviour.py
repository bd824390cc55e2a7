"""The per-clerk second stage: a person crop (+ the detector's object cues) -> behaviour probabilities.

One ONNX file (models/counterwatch-behaviour-v3.onnx) holds the frozen backbone and the trained head: the
shipped detector's own network up to its three neck outputs (P3/P4/P5, so the features already "know"
phones, cups and food), global average + max pooling (optionally grid pooling and the detector head's crop
scores, models/behaviour_onnx.py), then a linear (or one-hidden-layer) softmax head. Runtime is onnxruntime
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

from vision.clerk import BehaviourNet, clerk_crops, clerk_cues
from vision.clerk import grown as grown  # re-exported: the data builders grow boxes the same way
from vision.letterbox import Image

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


def cut(image_bgr: Image, box: Sequence[float], spec: CropSpec) -> FloatArray:
    """One person's network input (3, S, S): the vision core's crop recipe, the same the edge runs."""
    return clerk_crops(image_bgr, [box], spec.size, spec.margin)[0]


def blob(crops: Sequence[FloatArray]) -> FloatArray:
    return np.ascontiguousarray(np.stack(crops))


def cues_for(box: Sequence[float], objects: Sequence[ObjectBox], margin: float = 0.1) -> FloatArray:
    return clerk_cues(box, objects, margin)


class BehaviourModel(BehaviourNet):
    """The shipped second stage. ``probs`` takes frame + person boxes + cue objects; ``classes`` names
    the columns (a model trained without data for a behaviour does not carry its column)."""

    def __init__(self, path: str | Path, spec: CropSpec, classes: Sequence[str], threads: int | None = 1) -> None:
        super().__init__(path, spec.size, spec.margin, classes, threads)
        self.spec = spec
