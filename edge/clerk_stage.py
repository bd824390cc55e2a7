"""The per-clerk second stage at the edge: each clerk's crop -> behaviour probabilities -> verdict.

The model is the manifest's ``behaviour`` entry (trained by models/behaviour_train.py; its card is
models/README.md). It runs only on clerk boxes (people in the staff zone), one batch per window per frame,
a few ms a crop. A phone lying on the desk inside a clerk's box is not phone use: the verdict comes from
how the crop looks (with the detector's phone / food scores as two of its inputs), not from geometry.
Behaviours the shipped model has no column for (no training data) never come from it: the caller keeps
its geometric cue for those (eating) or has none (dozing).

The crop recipe equals models.behaviour.cut (a test holds them equal); the edge never imports models/.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ValidationError

from edge.detect import ROOT, Detection, ModelError, sha256_file

MANIFEST = ROOT / "models/manifest.json"
_PAD = 114


class BehaviourSpec(BaseModel):
    """The manifest's ``behaviour`` entry, as much of it as the edge needs (models/manifest.py)."""

    file: str
    sha256: str
    size: int
    margin: float
    classes: list[str]
    thresholds: dict[str, float]
    detector_sha256: str


def shipped_behaviour(manifest: Path = MANIFEST) -> tuple[Path, BehaviourSpec] | None:
    if not manifest.is_file():
        return None
    entry = json.loads(manifest.read_text()).get("behaviour")
    if not entry:
        return None
    try:
        spec = BehaviourSpec(size=entry["input"]["size"], margin=entry["input"]["margin"],
                             **{k: entry[k] for k in ("file", "sha256", "classes", "thresholds", "detector_sha256")})
    except (KeyError, TypeError, ValidationError) as e:
        raise ModelError(f"invalid behaviour entry in {manifest}: {e}") from e
    return manifest.parent / spec.file, spec


def _grown(box: Sequence[float], margin: float) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (float(v) for v in box)
    gx, gy = (x2 - x1) * margin, (y2 - y1) * margin
    return x1 - gx, y1 - gy, x2 + gx, y2 + gy


def clerk_crop(image: npt.NDArray[np.uint8], box: Sequence[float], size: int, margin: float
               ) -> npt.NDArray[np.uint8]:
    """Grown box from the frame (gray outside), letterboxed (aspect kept, gray 114 bars) to size x size."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (round(v) for v in _grown(box, margin))
    x2, y2 = max(x2, x1 + 2), max(y2, y1 + 2)
    region = np.full((y2 - y1, x2 - x1, 3), _PAD, np.uint8)
    sx1, sy1, sx2, sy2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
    if sx2 > sx1 and sy2 > sy1:
        region[sy1 - y1:sy2 - y1, sx1 - x1:sx2 - x1] = image[sy1:sy2, sx1:sx2]
    rh, rw = region.shape[:2]
    scale = min(size / rh, size / rw)
    nw, nh = round(rw * scale), round(rh * scale)
    resized = (np.asarray(cv2.resize(region, (nw, nh), interpolation=cv2.INTER_LINEAR), np.uint8)
               if (nw, nh) != (rw, rh) else region)
    top, left = round((size - nh) / 2 - 0.1), round((size - nw) / 2 - 0.1)
    return np.asarray(cv2.copyMakeBorder(resized, top, size - nh - top, left, size - nw - left,
                                         cv2.BORDER_CONSTANT, value=(_PAD, _PAD, _PAD)), np.uint8)


def clerk_cues(box: Sequence[float], objects: Sequence[Detection], margin: float) -> npt.NDArray[np.float32]:
    """(best phone score with its centre in the grown box, that phone's height in it 0..1, best food/drink)."""
    gx1, gy1, gx2, gy2 = _grown(box, margin)
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


@dataclass(frozen=True)
class ClerkVerdict:
    label: str  # a behaviour of the model's classes, or "none"
    confidence: float  # P(label)
    subtype: str | None = None  # phone_use: "call" (phone in the top third of the box) or "browse"


class ClerkStage:
    """The behaviour ONNX on onnxruntime; refuses a file whose sha256 is not the manifest's."""

    def __init__(self, path: Path, spec: BehaviourSpec, threads: int = 1) -> None:
        import onnxruntime as ort

        if not path.is_file():
            raise ModelError(f"behaviour model {path} does not exist")
        actual = sha256_file(path)
        if actual != spec.sha256:
            raise ModelError(f"behaviour model {path} has sha256 {actual}, expected {spec.sha256}")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
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
        s = self.spec
        crops = np.stack([clerk_crop(image, c.box, s.size, s.margin) for c in clerks])
        blob = np.ascontiguousarray(crops[..., ::-1].transpose(0, 3, 1, 2).astype(np.float32) / 255.0)
        cues = np.stack([clerk_cues(c.box, objects, s.margin) for c in clerks])
        return np.asarray(self.session.run(["probs"], {"images": blob, "cues": cues})[0], np.float32)

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
