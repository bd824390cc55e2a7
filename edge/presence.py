"""The presence verifier at the edge: staff-zone person candidates -> a second opinion -> furniture dropped.

The model is the manifest's ``presence`` entry (models/presence_release.py; its card is models/README.md):
the COCO teacher's ONNX plus a 4-weight head (vision/presence.py). It runs only on the person boxes a
window would count as clerks, right after the detector pass, so an empty chair the detector calls a
person never reaches the presence filter; every other detection passes untouched. The head was fitted
on one detector's scores: a swapped-in detector runs without it (:meth:`PresenceStage.active`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ValidationError

from edge.detect import ROOT, Detection, ModelError, sha256_file
from vision.presence import PresenceHead, PresenceVerifier, TeacherCues, verify_people

MANIFEST = ROOT / "models/manifest.json"


class PresenceSpec(BaseModel):
    """The manifest's ``presence`` entry, as much of it as the edge needs (models/manifest.py)."""

    file: str
    sha256: str
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
    if not manifest.is_file():
        return None
    entry = json.loads(manifest.read_text()).get("presence")
    if not entry:
        return None
    try:
        spec = PresenceSpec(**entry["input"], **entry["head"],
                            **{k: entry[k] for k in ("file", "sha256", "threshold", "detector_sha256")})
    except (KeyError, TypeError, ValidationError) as e:
        raise ModelError(f"invalid presence entry in {manifest}: {e}") from e
    return manifest.parent / spec.file, spec


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

    @classmethod
    def from_manifest(cls, manifest: Path = MANIFEST) -> PresenceStage | None:
        shipped = shipped_presence(manifest)
        return None if shipped is None else cls(*shipped)

    def active(self, detector_sha256: str | None) -> bool:
        return detector_sha256 == self.spec.detector_sha256

    def verify(self, image: npt.NDArray[np.uint8], detections: Sequence[Detection],
               candidate: Callable[[Detection], bool], detector_sha256: str | None) -> list[Detection]:
        """``detections`` less the clerk candidates the verifier says are not a person."""
        if not self.active(detector_sha256):
            return list(detections)
        return verify_people(self.verifier, image, detections, candidate)
