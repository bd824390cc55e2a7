"""The presence verifier at the edge: staff-zone person candidates -> a second opinion -> furniture dropped.

The model is the manifest's ``presence`` entry (models/presence_release.py; its card is models/README.md):
the COCO teacher's ONNX plus a 4-weight head (vision/presence.py). It runs only on the person boxes a
window would count as clerks, right after the detector pass, so an empty chair the detector calls a
person never reaches the presence filter; every other detection passes untouched. The head was fitted
on one detector's scores: a swapped-in detector runs without it (:meth:`PresenceStage.active`).

Verdict reuse (edge/verdicts.py): a clerk sitting still is the same candidate pass after pass; while
its box and the picture in it hold, its last P(person) is reused instead of running the verifier again.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Hashable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from edge.detect import MANIFEST, Detection, ModelError, StageSpec, sha256_file, shipped_stage
from edge.verdicts import Verdict, VerdictMemory
from vision.presence import PresenceHead, PresenceVerifier, TeacherCues


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
        self.memory = VerdictMemory()  # per window: the boxes last judged

    @classmethod
    def from_manifest(cls, manifest: Path = MANIFEST) -> PresenceStage | None:
        shipped = shipped_presence(manifest)
        return None if shipped is None else cls(*shipped)

    def for_camera(self) -> PresenceStage:
        """A stage with verdicts of its own on this stage's network: every camera of a node keeps its windows'
        verdicts apart while sharing one onnxruntime session (the teacher is thread-safe)."""
        twin = copy.copy(self)
        twin.memory = VerdictMemory()
        return twin

    @property
    def verdicts(self) -> dict[Hashable, list[Verdict]]:
        return self.memory.verdicts

    @property
    def runs(self) -> int:
        """Candidates the verifier ran on (the others reused a verdict: :attr:`reused`)."""
        return self.memory.runs

    @property
    def reused(self) -> int:
        return self.memory.reused

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

        def person_probs(todo: list[int]) -> Sequence[float]:
            return [float(p) for p in self.verifier.person_probs(image, [picked[i].box for i in todo],
                                                                  [picked[i].score for i in todo])]

        probs = self.memory.judge(key, image, [d.box for d in picked], person_probs, moved=moved)
        threshold = self.verifier.head.threshold
        rejected = {id(d) for d, p in zip(picked, probs, strict=True) if p < threshold}
        return [d for d in detections if id(d) not in rejected]
