"""Object detector on onnxruntime: letterbox, inference, NMS in numpy. No torch, no ultralytics.

The ONNX file is a YOLO detect head in the ultralytics layout (output ``[batch, 4 + classes, anchors]``,
boxes as cx, cy, w, h in input pixels, class scores without objectness). Class names and input size come
from the file's metadata (``names``, ``imgsz``), and the names are mapped onto the project taxonomy
through aliases, so the project's own model and a stock COCO model both work.
"""

from __future__ import annotations

import ast
import hashlib
import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from broker.payloads import RolloutReport

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
TEACHER = ROOT / "var/teacher/yolo11n-coco-init.onnx"
TAXONOMY = ("person", "phone", "food", "drink", "pause_sign", "slipper", "shoe")
ALIASES: dict[str, str] = {
    "person": "person", "people": "person", "clerk": "person",
    "phone": "phone", "cell phone": "phone", "cellphone": "phone", "mobile phone": "phone",
    **{n: "food" for n in ("food", "banana", "apple", "sandwich", "orange", "broccoli", "carrot",
                           "hot dog", "pizza", "donut", "cake")},
    **{n: "drink" for n in ("drink", "cup", "bottle", "wine glass")},
    "pause_sign": "pause_sign", "pause sign": "pause_sign", "sign": "pause_sign",
    "slipper": "slipper", "slippers": "slipper", "sandal": "slipper", "sandals": "slipper",
    "shoe": "shoe", "shoes": "shoe", "boot": "shoe", "boots": "shoe",
}

FloatArray = npt.NDArray[np.float32]
Rect = tuple[int, int, int, int]


class ModelError(RuntimeError):
    """A model file that cannot be used (missing, wrong hash, unexpected layout)."""


@dataclass(frozen=True, slots=True)
class Detection:
    label: str  # taxonomy name
    score: float
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in frame pixels
    source_label: str = ""

    @property
    def area(self) -> float:
        return max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1])


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def default_model() -> tuple[Path, str | None, str | None]:
    """(path, expected sha256, version): the shipped model per models/manifest.json, else the COCO teacher."""
    manifest = ROOT / "models/manifest.json"
    if manifest.exists():
        data = json.loads(manifest.read_text())
        path = Path(data["file"])
        if not path.is_absolute():
            path = manifest.parent / path
        return path, data.get("sha256"), data.get("version")
    return TEACHER, None, "yolo11n-coco"


def nms(boxes: FloatArray, scores: FloatArray, iou: float) -> list[int]:
    """Greedy non-maximum suppression; ``boxes`` (N, 4) x1y1x2y2. Returns kept indices, best first."""
    order = scores.argsort()[::-1]
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        xx1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        overlap = inter / (areas[i] + areas[rest] - inter + 1e-9)
        order = rest[overlap <= iou]
    return keep


def _parse_names(raw: str | None) -> dict[int, str]:
    if not raw:
        raise ModelError("model metadata has no 'names' (export with ultralytics or add it)")
    try:
        parsed = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        parsed = json.loads(raw)
    if isinstance(parsed, list):
        return dict(enumerate(parsed))
    return {int(k): str(v) for k, v in parsed.items()}


class Detector:
    def __init__(
        self,
        path: Path,
        *,
        sha256: str | None = None,
        version: str | None = None,
        confidence: float = 0.3,
        iou: float = 0.5,
        threads: int = 1,
        imgsz: int | None = None,
        class_confidence: dict[str, float] | None = None,
    ) -> None:
        if not path.exists():
            raise ModelError(f"model file {path} does not exist")
        self.sha256 = sha256_file(path)
        if sha256 is not None and sha256 != self.sha256:
            raise ModelError(f"model {path} has sha256 {self.sha256}, expected {sha256}")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        meta = self.session.get_modelmeta().custom_metadata_map
        self.names = _parse_names(meta.get("names"))
        native = ast.literal_eval(meta.get("imgsz", "[640, 640]"))
        self.imgsz = (int(native), int(native)) if isinstance(native, int) else (int(native[0]), int(native[1]))
        inp = self.session.get_inputs()[0]
        if imgsz is not None:
            # Small crops upscaled to a larger input find small (ceiling-view) people far better.
            if isinstance(inp.shape[2], int) or isinstance(inp.shape[3], int):
                raise ModelError(f"model {path} has a fixed input size; imgsz {imgsz} cannot be used")
            self.imgsz = (imgsz - imgsz % 32, imgsz - imgsz % 32)
        self.input_name = inp.name
        self.dynamic_batch = not isinstance(inp.shape[0], int)
        self.version = version or f"{path.stem}-{self.sha256[:8]}"
        self.path = path
        self.confidence, self.iou = confidence, iou
        # Columns of the class scores that map onto the taxonomy; unmapped classes are never scored.
        mapped = [(i, ALIASES[n.lower()]) for i, n in sorted(self.names.items()) if n.lower() in ALIASES]
        if not any(label == "person" for _, label in mapped):
            raise ModelError(f"model {path} has no class that maps to 'person': {self.names}")
        self._cols = np.array([i for i, _ in mapped], dtype=np.int64)
        self._col_labels = [label for _, label in mapped]
        self._col_source = [self.names[i] for i, _ in mapped]
        self._label_index = np.array([TAXONOMY.index(label) for label in self._col_labels], dtype=np.int64)
        # Per-class floors where a class needs its own (pause_sign candidates for the sign verifier).
        self._col_confidence = np.array([(class_confidence or {}).get(label, confidence)
                                         for label in self._col_labels], dtype=np.float32)
        self._buffer: FloatArray = np.zeros((0, 3, *self.imgsz), dtype=np.float32)

    # -- preprocessing ------------------------------------------------------------------------------------

    def _letterbox(self, image: npt.NDArray[np.uint8], out: FloatArray) -> tuple[float, float, float]:
        """Resize into ``out`` (3, H, W) keeping aspect, grey padding; returns (scale, pad_x, pad_y)."""
        h, w = image.shape[:2]
        th, tw = self.imgsz
        scale = min(tw / w, th / h)
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        px, py = (tw - nw) // 2, (th - nh) // 2
        resized = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
        out.fill(114 / 255)
        # BGR uint8 HWC -> RGB float CHW, written in place into the reused batch buffer.
        out[:, py:py + nh, px:px + nw] = resized[:, :, ::-1].transpose(2, 0, 1) * (1 / 255)
        return scale, px, py

    def _batch(self, n: int) -> FloatArray:
        if self._buffer.shape[0] < n:
            self._buffer = np.zeros((n, 3, *self.imgsz), dtype=np.float32)
        return self._buffer[:n]

    # -- inference ----------------------------------------------------------------------------------------

    def detect(self, image: npt.NDArray[np.uint8]) -> list[Detection]:
        h, w = image.shape[:2]
        return self.detect_crops(image, [(0, 0, w, h)])[0]

    def detect_crops(self, frame: npt.NDArray[np.uint8], rects: Sequence[Rect]) -> list[list[Detection]]:
        """Detect in each rectangle of ``frame``; boxes come back in frame coordinates."""
        if not rects:
            return []
        batch = self._batch(len(rects))
        transforms = []
        for i, (x1, y1, x2, y2) in enumerate(rects):
            scale, px, py = self._letterbox(frame[y1:y2, x1:x2], batch[i])
            transforms.append((scale, px, py, x1, y1))
        if self.dynamic_batch:
            raw = self.session.run(None, {self.input_name: batch})[0]
        else:
            raw = np.concatenate([self.session.run(None, {self.input_name: batch[i:i + 1]})[0]
                                  for i in range(len(rects))])
        return [self._decode(raw[i], transforms[i], rects[i]) for i in range(len(rects))]

    def _decode(self, pred: FloatArray, transform: tuple[float, float, float, int, int],
                rect: Rect) -> list[Detection]:
        if pred.shape[0] != 4 + len(self.names) and pred.shape[1] == 4 + len(self.names):
            pred = pred.T
        scores_all = pred[4 + self._cols]  # (mapped classes, anchors)
        best = scores_all.argmax(axis=0)
        scores = scores_all[best, np.arange(scores_all.shape[1])]
        keep = scores >= self._col_confidence[best]
        if not keep.any():
            return []
        cx, cy, bw, bh = pred[0, keep], pred[1, keep], pred[2, keep], pred[3, keep]
        scores, best = scores[keep], best[keep]
        scale, px, py, ox, oy = transform
        boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
        boxes = (boxes - np.array([px, py, px, py])) / scale + np.array([ox, oy, ox, oy])
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(rect[0], rect[2])
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(rect[1], rect[3])
        real = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])  # not wholly in the padding
        boxes, scores, best = boxes[real], scores[real], best[real]
        if not len(boxes):
            return []
        # Class-aware NMS: shift each taxonomy label into its own coordinate range.
        offsets = self._label_index[best][:, None] * 1e5
        kept = nms((boxes + offsets).astype(np.float32), scores.astype(np.float32), self.iou)
        return [
            Detection(self._col_labels[best[i]], float(scores[i]), tuple(float(v) for v in boxes[i]),  # type: ignore[arg-type]
                      self._col_source[best[i]])
            for i in kept
        ]


class DetectorHolder:
    """The live detector, swappable without a restart (model rollout); keeps the previous for rollback.

    Readers take :attr:`current` once per frame, so a swap lands between frames, never inside one."""

    def __init__(self, detector: Detector) -> None:
        self._lock = threading.Lock()
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
