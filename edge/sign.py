"""Pause-sign ("暂停服务") cues and their temporal vote.

Three independent cues, cheapest first:

1. **ArUco marker** printed on the project's sign (``counterwatch sign``): dictionary DICT_4X4_50, marker
   id = window number modulo 50 (windows without a number accept any marker of the dictionary). Cheap
   enough to run on every analysis frame, on the counter zone only.
2. **OCR** (RapidOCR) of the counter zone for 暂停服务 / 暂停办理 / 暂停受理 / 离岗 ... It costs seconds on a
   small CPU, so it runs in a background thread every few seconds per camera and its last answer stands
   until the next one.
3. The detector's ``pause_sign`` class, when the model has one. When models/manifest.json ships a
   second-stage **sign verifier** for the running detector, each ``pause_sign`` candidate is cut from the
   full frame and re-scored by it (:class:`SignDetectorCue`): final = det ** (1 - w) * p ** w, compared
   with the manifest's calibrated threshold instead of ``sign.detector_min_score``. Look-alike placards
   (欢迎光临, 请排队等候 ...) that the detector alone confuses with a pause sign are vetoed there.

:class:`SignVote` turns the per-frame cues into a steady "sign up" state: K positive frames out of the last
N raise it, and it is held for ``hold_s`` after the last sighting so a clerk's arm passing over the sign
does not bring it down.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from edge.detect import MANIFEST, Detection, ModelError, StageSpec, sha256_file, shipped_stage
from edge.rules.engine import SignCue
from edge.settings import SignSettings
from edge.verdicts import VerdictMemory
from vision.boxes import Box, FloatArray
from vision.verifier import CropSpec, SignWiring, Suppression, rescore_signs
from vision.verifier import SignVerifier as CoreVerifier

log = logging.getLogger(__name__)

ARUCO_DICT = cv2.aruco.DICT_4X4_50
ARUCO_IDS = 50
PAUSE_TEXT = re.compile(r"暂停(服务|办理|受理|营业|窗口)|暂停|离岗|暂离|稍候|service\s*paused|paused", re.IGNORECASE)


def marker_id(window_number: int) -> int:
    return window_number % ARUCO_IDS


class ArucoReader:
    def __init__(self) -> None:
        dictionary = cv2.aruco.getPredefinedDictionary(ARUCO_DICT)
        params = cv2.aruco.DetectorParameters()
        params.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_NONE
        self._detector = cv2.aruco.ArucoDetector(dictionary, params)

    def markers(self, image: npt.NDArray[np.uint8]) -> list[tuple[int, npt.NDArray[np.float32]]]:
        """(id, 4x2 corners in ``image`` pixels) of every marker found."""
        grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        corners, ids, _ = self._detector.detectMarkers(grey)
        if ids is None:
            return []
        return [(int(i), np.asarray(c, dtype=np.float32).reshape(4, 2))
                for i, c in zip(ids.flatten(), corners, strict=True)]


def is_pause_text(text: str) -> bool:
    return bool(PAUSE_TEXT.search(text.replace(" ", "")) or PAUSE_TEXT.search(text))


class OcrWorker:
    """Runs RapidOCR off the analysis thread; one job at a time, newer requests are skipped while busy."""

    def __init__(self) -> None:
        self._engine: Any = None
        self._busy = threading.Lock()
        self.failed: str | None = None

    def _load(self) -> Any:
        if self._engine is None:
            from rapidocr_onnxruntime import RapidOCR

            self._engine = RapidOCR()
        return self._engine

    def read(self, image: npt.NDArray[np.uint8]) -> list[tuple[npt.NDArray[np.float32], str, float]]:
        """Synchronous OCR: (quad, text, score) per line."""
        result, _ = self._load()(image, use_cls=False)
        return [(np.asarray(box, dtype=np.float32), str(text), float(score)) for box, text, score in result or []]

    def submit(self, image: npt.NDArray[np.uint8],
               done: Callable[[list[tuple[npt.NDArray[np.float32], str, float]]], None]) -> bool:
        if self.failed or not self._busy.acquire(blocking=False):
            return False

        def job() -> None:
            try:
                done(self.read(image))
            except Exception as exc:  # OCR is optional: never take the pipeline down with it
                self.failed = str(exc)
                log.warning("OCR disabled after error: %s", exc)
            finally:
                self._busy.release()

        threading.Thread(target=job, name="ocr", daemon=True).start()
        return True


@dataclass
class SignVote:
    k: int = 2
    n: int = 3
    hold_s: float = 6.0
    up: bool = False
    cue: SignCue | None = None
    _votes: deque[bool] = field(default_factory=deque)
    _last_seen: datetime | None = None
    _last_cue: SignCue | None = None

    def update(self, at: datetime, *, aruco: bool = False, ocr: bool = False, detector: bool = False) -> bool:
        seen: SignCue | None = "aruco" if aruco else "ocr" if ocr else "detector" if detector else None
        self._votes.append(seen is not None)
        while len(self._votes) > self.n:
            self._votes.popleft()
        if seen is not None:
            self._last_cue = seen
            if sum(self._votes) >= self.k:
                self._last_seen = at
                self.up, self.cue = True, seen
        if self.up and self._last_seen is not None and (at - self._last_seen).total_seconds() > self.hold_s:
            self.up, self.cue = False, None
        return self.up

    def reset(self) -> None:
        self.up, self.cue, self._last_seen = False, None, None
        self._votes.clear()


# -- second-stage verifier ----------------------------------------------------------------------------------


class VerifierSpec(StageSpec):
    """The manifest's ``sign_verifier`` entry, as much of it as the edge needs (models/manifest.py)."""

    size: int
    margin: float
    min_det: float
    weight: float
    threshold: float
    detector_sha256: str
    suppress_iou: float | None = None
    suppress_containment: float | None = None


def shipped_verifier(manifest: Path = MANIFEST) -> tuple[Path, VerifierSpec] | None:
    return shipped_stage(manifest, "sign_verifier", VerifierSpec)


class SignVerifier(CoreVerifier):
    """The core's verifier (vision/verifier.py, the one ``models evaluate`` scores) wired by the manifest's
    entry; refuses a file whose sha256 is not the manifest's."""

    def __init__(self, path: Path, spec: VerifierSpec, threads: int = 1) -> None:
        if not path.is_file():
            raise ModelError(f"sign verifier {path} does not exist")
        actual = sha256_file(path)
        if actual != spec.sha256:
            raise ModelError(f"sign verifier {path} has sha256 {actual}, expected {spec.sha256}")
        super().__init__(path, CropSpec(spec.size, spec.margin), threads)
        self.spec = spec

    @property
    def wiring(self) -> SignWiring:
        s = self.spec
        rule = (Suppression(s.suppress_iou, s.suppress_containment)
                if s.suppress_iou is not None and s.suppress_containment is not None else None)
        return SignWiring(CropSpec(s.size, s.margin), s.min_det, s.weight, rule)


@dataclass
class SignDetectorCue:
    """The detector cue's scoring: with a verifier for the running detector, pause_sign detections are
    re-scored (and those under ``min_det`` dropped) and compared with the verifier's bar; otherwise the
    detector's own score is compared with ``sign.detector_min_score``."""

    detector_min_score: float
    verifier: SignVerifier | None = None
    verifier_min_score: float | None = None

    @classmethod
    def from_settings(cls, settings: SignSettings, manifest: Path = MANIFEST) -> SignDetectorCue:
        cue = cls(settings.detector_min_score)
        if settings.detector and settings.verifier:
            shipped = shipped_verifier(manifest)
            if shipped is not None:
                cue.verifier = SignVerifier(*shipped)
                cue.verifier_min_score = settings.verifier_min_score or shipped[1].threshold
        return cue

    def active(self, detector_sha256: str | None) -> bool:
        """The verifier is calibrated on one detector's scores: a swapped-in model runs without it."""
        return self.verifier is not None and detector_sha256 == self.verifier.spec.detector_sha256

    def min_score(self, detector_sha256: str | None) -> float:
        if self.active(detector_sha256) and self.verifier_min_score is not None:
            return self.verifier_min_score
        return self.detector_min_score

    def rescore(self, image: npt.NDArray[np.uint8], detections: list[Detection], detector_sha256: str | None,
                *, memory: VerdictMemory | None = None, window: Hashable = None) -> list[Detection]:
        """``memory``: the camera's verdicts, keyed by ``window``: a placard standing still on the counter is
        judged once, not on every pass of its window (edge/verdicts.py)."""
        verifier = self.verifier
        if not self.active(detector_sha256) or verifier is None:
            return detections
        if memory is None:
            return rescore_signs(verifier, verifier.wiring, image, detections)

        def remembered(boxes: list[Box]) -> FloatArray:
            def sign_probs(todo: list[int]) -> list[float]:
                return [float(p) for p in verifier.probs(image, [boxes[i] for i in todo])]
            return np.asarray(memory.judge(window, image, boxes, sign_probs), np.float32)

        return rescore_signs(verifier, verifier.wiring, image, detections, probs_of=remembered)
