"""The edge's detector: the one vision core (vision/detector.py) plus what only the edge needs, the live
detector holder for rollouts and the shipped model's location. No torch, no ultralytics.

Every camera thread shares one :class:`Detector`; the core keeps each call's input buffer per thread, so
that is safe (tests/vision/test_concurrency.py).
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from broker.payloads import RolloutReport
from vision.detector import Detection, Detector, Rect
from vision.identity import ModelError, sha256_file
from vision.taxonomy import ALIASES, TAXONOMY

__all__ = ["ALIASES", "MANIFEST", "ROOT", "TAXONOMY", "TEACHER", "Detection", "Detector", "DetectorHolder",
           "ModelError", "Rect", "ShippedModel", "StageSpec", "default_model", "sha256_file", "shipped_stage"]

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
TEACHER = ROOT / "var/teacher/yolo11n-coco-init.onnx"
MANIFEST = ROOT / "models/manifest.json"


class StageSpec(BaseModel):
    """What every second stage's manifest entry names: its ONNX file and that file's sha256."""

    file: str
    sha256: str


Spec = TypeVar("Spec", bound=StageSpec)


def shipped_stage(manifest: Path, key: str, spec: type[Spec]) -> tuple[Path, Spec] | None:
    """(ONNX path, spec) of the second stage the manifest ships under ``key``, or None when it ships none.

    A stage entry keeps its preprocessing under ``input`` and any trained head under ``head``
    (models/manifest.py); the spec reads what the edge needs from the three, flattened.
    """
    if not manifest.is_file():
        return None
    entry = json.loads(manifest.read_text()).get(key)
    if not entry:
        return None
    try:
        found = spec.model_validate({**entry, **entry.get("input", {}), **entry.get("head", {})})
    except (AttributeError, TypeError, ValidationError) as e:  # AttributeError: input/head not a mapping
        raise ModelError(f"invalid {key} entry in {manifest}: {e}") from e
    return manifest.parent / found.file, found


class ShippedModel(BaseModel):
    """The detector file the edge runs by default, and what its second stages are keyed on."""

    path: Path
    sha256: str | None
    version: str | None
    source_sha256: str | None = None  # an int8 build: the float model it was built from


def default_model(precision: str = "fp32") -> ShippedModel:
    """The shipped detector per models/manifest.json (its int8 build when ``precision`` is int8 and the
    manifest ships one that passed its accuracy checks), else the COCO teacher."""
    if not MANIFEST.exists():
        return ShippedModel(path=TEACHER, sha256=None, version="yolo11n-coco")
    data = json.loads(MANIFEST.read_text())
    int8 = data.get("int8") or {}
    if precision == "int8" and int8.get("passed"):
        return ShippedModel(path=MANIFEST.parent / int8["file"], sha256=int8["sha256"],
                            version=f"{data.get('version')}-int8", source_sha256=int8["source_sha256"])
    path = Path(data["file"])
    return ShippedModel(path=path if path.is_absolute() else MANIFEST.parent / path, sha256=data.get("sha256"),
                        version=data.get("version"))


class DetectorHolder:
    """The live detector, swappable without a restart (model rollout); keeps the previous for rollback.

    Readers take :attr:`current` once per frame, so a swap lands between frames, never inside one."""

    def __init__(self, detector: Detector, concurrent_runs: int = 2) -> None:
        self._lock = threading.Lock()
        # Detector calls in flight at once: onnxruntime's arena keeps the peak of concurrent runs' activations
        # for the life of the session, so four camera threads calling together would hold four sets.
        self.slots = threading.BoundedSemaphore(concurrent_runs)
        self._current = detector
        self.previous: Detector | None = None
        # Outcome of the last rollout command, reported in every heartbeat (edge/node.py apply_rollout).
        self.report: RolloutReport | None = None
        # One rollout at a time: two commands racing could otherwise leave the older one running.
        self.rollout_lock = threading.Lock()

    @property
    def current(self) -> Detector:
        with self._lock:
            return self._current

    def swap(self, detector: Detector) -> None:
        with self._lock:
            self.previous, self._current = self._current, detector
        log.info("detector switched to %s (previous %s kept for rollback)", detector.version,
                 self.previous.version if self.previous else None)

    def rollback(self, sha256: str | None = None) -> bool:
        """Back to the previous detector (only if it has ``sha256``, when given); it is kept loaded for this."""
        with self._lock:
            if self.previous is None or (sha256 is not None and self.previous.sha256 != sha256):
                return False
            self._current, self.previous = self.previous, self._current
            current, previous = self._current, self.previous
        log.info("detector rolled back to %s (%s kept)", current.version, previous.version)
        return True
