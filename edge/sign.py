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

import json
import logging
import re
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ValidationError

from edge.detect import ROOT, Detection, ModelError, sha256_file
from edge.rules.engine import SignCue
from edge.settings import SignSettings

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

MANIFEST = ROOT / "models/manifest.json"
_PAD = 114


class VerifierSpec(BaseModel):
    """The manifest's ``sign_verifier`` entry, as much of it as the edge needs (models/manifest.py)."""

    file: str
    sha256: str
    size: int
    margin: float
    min_det: float
    weight: float
    threshold: float
    detector_sha256: str
    suppress_iou: float | None = None
    suppress_containment: float | None = None


def shipped_verifier(manifest: Path = MANIFEST) -> tuple[Path, VerifierSpec] | None:
    """(ONNX path, spec) of the verifier the manifest ships, or None when it ships none."""
    if not manifest.is_file():
        return None
    entry = json.loads(manifest.read_text()).get("sign_verifier")
    if not entry:
        return None
    try:
        spec = VerifierSpec(size=entry["input"]["size"], margin=entry["input"]["margin"],
                            suppress_iou=entry.get("suppress_iou"),
                            suppress_containment=entry.get("suppress_containment"), **{
            k: entry[k] for k in ("file", "sha256", "min_det", "weight", "threshold", "detector_sha256")})
    except (KeyError, TypeError, ValidationError) as e:
        raise ModelError(f"invalid sign_verifier entry in {manifest}: {e}") from e
    return manifest.parent / spec.file, spec


def verifier_crop(image: npt.NDArray[np.uint8], box: Sequence[float], size: int, margin: float
                  ) -> npt.NDArray[np.uint8]:
    """Same recipe as models.signverify.crop (a test holds them equal): box + margin from the full frame,
    gray outside it, stretched to size x size."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    ex1, ey1 = int(np.floor(x1 - mx)), int(np.floor(y1 - my))
    ex2, ey2 = max(int(np.ceil(x2 + mx)), ex1 + 2), max(int(np.ceil(y2 + my)), ey1 + 2)
    region: npt.NDArray[Any] = image[max(ey1, 0) : min(ey2, h), max(ex1, 0) : min(ex2, w)]
    if region.size == 0:
        region = np.full((ey2 - ey1, ex2 - ex1, 3), _PAD, np.uint8)
    else:
        region = cv2.copyMakeBorder(region, max(-ey1, 0), max(ey2 - h, 0), max(-ex1, 0), max(ex2 - w, 0),
                                    cv2.BORDER_CONSTANT, value=(_PAD, _PAD, _PAD))
    shrink = region.shape[0] > size or region.shape[1] > size
    out = cv2.resize(region, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return np.asarray(out, dtype=np.uint8)


def suppress_overlaps(boxes: npt.NDArray[np.float32], scores: npt.NDArray[np.float32], iou: float,
                      containment: float) -> list[int]:
    """Same rule as models.signverify.suppress (a test holds them equal): greedy by score, a candidate goes
    when a better one overlaps it by IoU > ``iou`` or covers more than ``containment`` of the smaller."""
    order = np.argsort(-scores, kind="stable")
    area = np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)
    keep: list[int] = []
    for i in order:
        if keep:
            k = np.asarray(keep)
            iw = np.clip(np.minimum(boxes[k, 2], boxes[i, 2]) - np.maximum(boxes[k, 0], boxes[i, 0]), 0, None)
            ih = np.clip(np.minimum(boxes[k, 3], boxes[i, 3]) - np.maximum(boxes[k, 1], boxes[i, 1]), 0, None)
            inter = iw * ih
            if (inter / np.maximum(area[k] + area[i] - inter, 1e-9) > iou).any() or \
                    (inter / np.maximum(np.minimum(area[k], area[i]), 1e-9) > containment).any():
                continue
        keep.append(int(i))
    return keep


class SignVerifier:
    """The verifier ONNX on onnxruntime; refuses a file whose sha256 is not the manifest's."""

    def __init__(self, path: Path, spec: VerifierSpec, threads: int = 1) -> None:
        import onnxruntime as ort

        if not path.is_file():
            raise ModelError(f"sign verifier {path} does not exist")
        actual = sha256_file(path)
        if actual != spec.sha256:
            raise ModelError(f"sign verifier {path} has sha256 {actual}, expected {spec.sha256}")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.spec = spec

    def probs(self, image: npt.NDArray[np.uint8], boxes: Sequence[Sequence[float]]) -> npt.NDArray[np.float32]:
        """P(pause sign) per box (frame pixels)."""
        if len(boxes) == 0:
            return np.zeros(0, np.float32)
        crops = np.stack([verifier_crop(image, b, self.spec.size, self.spec.margin) for b in boxes])
        blob = np.ascontiguousarray(crops[..., ::-1].transpose(0, 3, 1, 2).astype(np.float32) / 255.0)
        return np.asarray(self.session.run(None, {self.input_name: blob})[0], np.float32).reshape(-1)

    def combine(self, det: float, p: float) -> float:
        w = self.spec.weight
        return float(max(det, 1e-6) ** (1 - w) * max(p, 1e-6) ** w)


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

    def rescore(self, image: npt.NDArray[np.uint8], detections: list[Detection], detector_sha256: str | None
                ) -> list[Detection]:
        if not self.active(detector_sha256) or self.verifier is None:
            return detections
        v = self.verifier
        signs = [d for d in detections if d.label == "pause_sign" and d.score >= v.spec.min_det]
        probs = v.probs(image, [d.box for d in signs])
        rescored = {id(d): replace(d, score=v.combine(d.score, float(p))) for d, p in zip(signs, probs, strict=True)}
        if signs and v.spec.suppress_iou is not None and v.spec.suppress_containment is not None:
            boxes = np.asarray([d.box for d in signs], np.float32)
            scores = np.asarray([rescored[id(d)].score for d in signs], np.float32)
            kept = {id(signs[i]) for i in suppress_overlaps(boxes, scores, v.spec.suppress_iou,
                                                             v.spec.suppress_containment)}
            rescored = {k: d for k, d in rescored.items() if k in kept}
        return [rescored.get(id(d), d) for d in detections if d.label != "pause_sign" or id(d) in rescored]
