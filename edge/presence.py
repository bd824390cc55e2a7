"""The presence verifier at the edge: staff-zone person candidates -> a second opinion -> furniture dropped.

The model is the manifest's ``presence`` entry (models/presence_release.py; its card is models/README.md):
the COCO teacher's ONNX plus a 4-weight head (vision/presence.py). It runs only on the person boxes a
window would count as clerks, right after the detector pass, so an empty chair the detector calls a
person never reaches the presence filter; every other detection passes untouched. The head was fitted
on one detector's scores: a swapped-in detector runs without it (:meth:`PresenceStage.active`).

Verdict reuse: a clerk sitting still is the same candidate pass after pass. While a candidate's box holds
IoU >= ``REUSE_IOU`` with a box the verifier judged in the same window, and the picture in that box has not
changed since (no motion: ``moved`` when the caller knows it, else the box's own grey thumbnail compared as
edge/motion.py does), its last P(person) is reused instead of running the verifier again.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from edge.detect import MANIFEST, Detection, ModelError, StageSpec, sha256_file, shipped_stage
from edge.motion import Grey, thumbnail
from vision.presence import PresenceHead, PresenceVerifier, TeacherCues, box_iou

REUSE_IOU = 0.9  # a box this close to the judged one is the same candidate
PATCH_WIDTH = 24  # the box's grey thumbnail, compared like a window's (AnalysisSettings defaults)
PATCH_THRESHOLD, PATCH_MIN_FRACTION = 20, 0.01


class PresenceSpec(StageSpec):
    """The manifest's ``presence`` entry, as much of it as the edge needs (models/manifest.py)."""

    size: int
    margin: float
    iou: float
    mean: list[float]
    std: list[float]
    weight: list[float]
    bias: float
    threshold: float
    detector_sha256: str


def shipped_presence(manifest: Path = MANIFEST) -> tuple[Path, PresenceSpec] | None:
    return shipped_stage(manifest, "presence", PresenceSpec)


@dataclass(frozen=True)
class Verdict:
    box: tuple[float, float, float, float]
    prob: float
    patch: Grey


def box_patch(image: npt.NDArray[np.uint8], box: Sequence[float]) -> Grey:
    h, w = image.shape[:2]
    x1, y1 = min(max(0, int(box[0])), w - 1), min(max(0, int(box[1])), h - 1)
    x2, y2 = max(min(w, int(np.ceil(box[2]))), x1 + 1), max(min(h, int(np.ceil(box[3]))), y1 + 1)
    return thumbnail(image[y1:y2, x1:x2], PATCH_WIDTH).grey


def unchanged(a: Grey, b: Grey) -> bool:
    if a.shape != b.shape:
        return False
    return bool(np.count_nonzero(cv2.absdiff(a, b) > PATCH_THRESHOLD) < PATCH_MIN_FRACTION * a.size)


class PresenceStage:
    """The verifier on onnxruntime; refuses a file whose sha256 is not the manifest's."""

    def __init__(self, path: Path, spec: PresenceSpec, threads: int = 1) -> None:
        if not path.is_file():
            raise ModelError(f"presence model {path} does not exist")
        actual = sha256_file(path)
        if actual != spec.sha256:
            raise ModelError(f"presence model {path} has sha256 {actual}, expected {spec.sha256}")
        head = PresenceHead(tuple(spec.mean), tuple(spec.std), tuple(spec.weight), spec.bias, spec.threshold)
        self.verifier = PresenceVerifier(TeacherCues(path, spec.size, spec.margin, spec.iou, threads), head)
        self.spec = spec
        self.verdicts: dict[Hashable, list[Verdict]] = {}  # per window: the boxes last judged
        self.runs = self.reused = 0  # candidates the verifier ran on / that reused a verdict

    @classmethod
    def from_manifest(cls, manifest: Path = MANIFEST) -> PresenceStage | None:
        shipped = shipped_presence(manifest)
        return None if shipped is None else cls(*shipped)

    def for_camera(self) -> PresenceStage:
        """A stage with verdicts of its own on this stage's network: every camera of a node keeps its windows'
        verdicts apart while sharing one onnxruntime session (the teacher is thread-safe)."""
        twin = copy.copy(self)
        twin.verdicts, twin.runs, twin.reused = {}, 0, 0
        return twin

    def active(self, detector_sha256: str | None) -> bool:
        return detector_sha256 == self.spec.detector_sha256

    def verify(self, image: npt.NDArray[np.uint8], detections: Sequence[Detection],
               candidate: Callable[[Detection], bool], detector_sha256: str | None, *,
               window: Hashable | None = None, moved: bool | None = None) -> list[Detection]:
        """``detections`` less the clerk candidates the verifier says are not a person. ``window`` keys the
        reused verdicts (default: ``candidate``, a window's bound ``is_clerk``); ``moved``: the window's change
        detector saw motion (None: unknown, each box's own picture is compared)."""
        if not self.active(detector_sha256):
            return list(detections)
        key = candidate if window is None else window
        picked = [d for d in detections if d.label == "person" and candidate(d)]
        last = [] if moved else self.verdicts.get(key, [])
        kept: list[Verdict] = []
        todo: list[Detection] = []
        for d in picked:
            patch = box_patch(image, d.box)
            old = max(last, key=lambda v: box_iou(v.box, d.box), default=None)
            if old is not None and box_iou(old.box, d.box) >= REUSE_IOU and unchanged(old.patch, patch):
                kept.append(old)  # the judged box and picture stay the reference: slow drift adds up
                self.reused += 1
            else:
                todo.append(d)
                kept.append(Verdict(d.box, -1.0, patch))
        if todo:
            probs = iter(self.verifier.person_probs(image, [d.box for d in todo], [d.score for d in todo]))
            kept = [v if v.prob >= 0 else Verdict(v.box, float(next(probs)), v.patch) for v in kept]
            self.runs += len(todo)
        self.verdicts[key] = kept
        rejected = {id(d) for d, v in zip(picked, kept, strict=True) if v.prob < self.verifier.head.threshold}
        return [d for d in detections if id(d) not in rejected]
