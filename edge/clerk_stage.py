"""The per-clerk second stage at the edge: each clerk's crop -> behaviour probabilities -> verdict.

The model is the manifest's ``behaviour`` entry (trained by models/behaviour_train.py; its card is
models/README.md). It runs only on clerk boxes (people in the staff zone), one batch per window per frame,
a few ms a crop. A phone lying on the desk inside a clerk's box is not phone use: the verdict comes from
how the crop looks (with the detector's phone / food scores as two of its inputs), not from geometry.
Behaviours the shipped model has no column for (no training data) never come from it: the caller keeps
its geometric cue for those (eating) or has none (dozing).

The crop, cue and network call are the vision core's (vision/clerk.py), the same models/ trains and
evaluates with; the edge never imports models/.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edge.detect import MANIFEST, Detection, ModelError, StageSpec, sha256_file, shipped_stage
from vision.clerk import BehaviourNet


class BehaviourSpec(StageSpec):
    """The manifest's ``behaviour`` entry, as much of it as the edge needs (models/manifest.py)."""

    size: int
    margin: float
    classes: list[str]
    thresholds: dict[str, float]
    detector_sha256: str


def shipped_behaviour(manifest: Path = MANIFEST) -> tuple[Path, BehaviourSpec] | None:
    return shipped_stage(manifest, "behaviour", BehaviourSpec)


@dataclass(frozen=True)
class ClerkVerdict:
    label: str  # a behaviour of the model's classes, or "none"
    confidence: float  # P(label)
    subtype: str | None = None  # phone_use: "call" (phone in the top third of the box) or "browse"


class ClerkStage:
    """The behaviour ONNX on onnxruntime; refuses a file whose sha256 is not the manifest's."""

    def __init__(self, path: Path, spec: BehaviourSpec, threads: int = 1) -> None:
        if not path.is_file():
            raise ModelError(f"behaviour model {path} does not exist")
        actual = sha256_file(path)
        if actual != spec.sha256:
            raise ModelError(f"behaviour model {path} has sha256 {actual}, expected {spec.sha256}")
        self.net = BehaviourNet(path, spec.size, spec.margin, spec.classes, threads)
        self.spec = spec

    @classmethod
    def from_manifest(cls, manifest: Path = MANIFEST) -> ClerkStage | None:
        shipped = shipped_behaviour(manifest)
        return None if shipped is None else cls(*shipped)

    def active(self, detector_sha256: str | None) -> bool:
        """The head saw one detector's cue scores: a swapped-in detector runs without the stage."""
        return detector_sha256 == self.spec.detector_sha256

    def handles(self, behaviour: str) -> bool:
        return behaviour in self.spec.classes

    def probs(self, image: npt.NDArray[np.uint8], clerks: Sequence[Detection], objects: Sequence[Detection]
              ) -> npt.NDArray[np.float32]:
        if not clerks:
            return np.zeros((0, len(self.spec.classes)), np.float32)
        return self.net.probs(image, [c.box for c in clerks], objects)

    def verdicts(self, image: npt.NDArray[np.uint8], clerks: Sequence[Detection], objects: Sequence[Detection]
                 ) -> list[ClerkVerdict]:
        out = []
        for clerk, row in zip(clerks, self.probs(image, clerks, objects), strict=True):
            label, conf = "none", 0.0
            for c, p in zip(self.spec.classes, row, strict=True):
                if c != "none" and p >= self.spec.thresholds.get(c, 0.5) and p > conf:
                    label, conf = c, float(p)
            out.append(ClerkVerdict(label, conf, _phone_kind(clerk, objects) if label == "phone_use" else None))
        return out


def _phone_kind(clerk: Detection, objects: Sequence[Detection]) -> str:
    """"call" when the clerk's best phone is in the top third of the box (at the ear), else "browse"."""
    x1, y1, x2, y2 = clerk.box
    head = y1 + (y2 - y1) / 3
    phones = [o for o in objects if o.label == "phone"
              and x1 <= (o.box[0] + o.box[2]) / 2 <= x2 and y1 <= (o.box[1] + o.box[3]) / 2 <= y2]
    if not phones:
        return "browse"
    best = max(phones, key=lambda o: o.score)
    return "call" if (best.box[1] + best.box[3]) / 2 <= head else "browse"
