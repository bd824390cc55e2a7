"""The batched YOLO detector on onnxruntime: crops -> letterbox -> one session run -> decode -> NMS.

The ONNX file is a YOLO detect head in the Ultralytics layout (output ``[batch, 4 + classes, anchors]``,
boxes as cx, cy, w, h in input pixels, class scores without objectness). Class names and input size come
from the file's metadata (``names``, ``imgsz``); names map onto the taxonomy through
:data:`vision.taxonomy.ALIASES`, so the project's own model and a stock COCO model both work, and classes
that merge (cup, bottle -> drink) are suppressed together.

Thread safety: one :class:`Detector` (one ORT session, whose ``run`` is thread-safe) serves any number of
cameras. Nothing a call writes is shared: the input batch lives in a per-thread buffer and every decode
works on its own arrays.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from vision.boxes import FloatArray, batched_nms
from vision.identity import ModelError, parse_imgsz, parse_names, sha256_file, version_of
from vision.letterbox import Image, Letterbox, letterbox_into
from vision.session import cpu_session
from vision.taxonomy import CLASS_ID, label_of

Rect = tuple[int, int, int, int]  # x1, y1, x2, y2 in frame pixels


@dataclass(frozen=True, slots=True)
class Detection:
    label: str  # taxonomy name
    score: float
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in frame pixels
    source_label: str = ""  # the model's own class name (e.g. "cell phone")

    @property
    def area(self) -> float:
        return max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1])


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
        source_sha256: str | None = None,
    ) -> None:
        """``source_sha256``: for a build of another model (the int8 build of the float detector), that
        model's sha256. Second stages calibrated on its scores serve this file too (:attr:`source_sha256`)."""
        path = Path(path)
        if not path.exists():
            raise ModelError(f"model file {path} does not exist")
        self.sha256 = sha256_file(path)
        if sha256 is not None and sha256 != self.sha256:
            raise ModelError(f"model {path} has sha256 {self.sha256}, expected {sha256}")
        self.session = cpu_session(path, threads)
        meta = self.session.get_modelmeta().custom_metadata_map
        self.names = parse_names(meta.get("names"))
        self.imgsz = parse_imgsz(meta.get("imgsz"))
        inp = self.session.get_inputs()[0]
        if imgsz is not None:
            # Small crops upscaled to a larger input find small (ceiling-view) people far better.
            if isinstance(inp.shape[2], int) or isinstance(inp.shape[3], int):
                raise ModelError(f"model {path} has a fixed input size; imgsz {imgsz} cannot be used")
            self.imgsz = (imgsz - imgsz % 32, imgsz - imgsz % 32)
        self.input_name = inp.name
        self.dynamic_batch = not isinstance(inp.shape[0], int)
        self.dynamic_size = not (isinstance(inp.shape[2], int) or isinstance(inp.shape[3], int))
        self.version = version_of(path, self.sha256, version)
        # What second stages (sign / presence verifier, behaviour stage) key their calibration on.
        self.source_sha256 = source_sha256 or self.sha256
        self.path = path
        self.confidence, self.iou = confidence, iou
        self.class_confidence = dict(class_confidence or {})
        # Columns of the class scores that map onto the taxonomy; unmapped classes are never scored.
        mapped = [(i, label) for i, n in sorted(self.names.items()) if (label := label_of(n)) is not None]
        if not any(label == "person" for _, label in mapped):
            raise ModelError(f"model {path} has no class that maps to 'person': {self.names}")
        self._cols = np.array([i for i, _ in mapped], dtype=np.int64)
        self._col_labels = [label for _, label in mapped]
        self._col_source = [self.names[i] for i, _ in mapped]
        self._label_index = np.array([CLASS_ID[label] for label in self._col_labels], dtype=np.int64)
        # Per-class floors where a class needs its own (pause_sign candidates for the sign verifier).
        self._col_confidence = np.array([self.class_confidence.get(label, confidence)
                                         for label in self._col_labels], dtype=np.float32)
        self._local = threading.local()  # each thread's own input batch buffer

    # -- preprocessing ------------------------------------------------------------------------------------

    def _batch(self, n: int, size: tuple[int, int] | None = None) -> FloatArray:
        """This thread's input buffer for ``n`` crops at ``size`` (default: the detector's; grown on demand,
        never shared between threads)."""
        size = size or self.imgsz
        buffers: dict[tuple[int, int], FloatArray] | None = getattr(self._local, "buffers", None)
        if buffers is None:
            buffers = self._local.buffers = {}
        buffer = buffers.get(size)
        if buffer is None or buffer.shape[0] < n:
            buffer = buffers[size] = np.zeros((n, 3, *size), dtype=np.float32)
        return buffer[:n]

    def input_size(self, size: int | None) -> tuple[int, int]:
        """The network input for a call asking for ``size`` (a multiple of 32, at most the detector's own):
        the detector's own size when None or when the model's input is fixed."""
        if size is None or not self.dynamic_size:
            return self.imgsz
        side = max(32, min(self.imgsz[0], self.imgsz[1], size - size % 32))
        return (side, side)

    # -- inference ----------------------------------------------------------------------------------------

    def detect(self, image: Image, *, confidence: float | None = None, iou: float | None = None) -> list[Detection]:
        h, w = image.shape[:2]
        return self.detect_crops(image, [(0, 0, w, h)], confidence=confidence, iou=iou)[0]

    def floor(self, label: str) -> float:
        """The detector's own confidence floor for ``label``."""
        return self.class_confidence.get(label, self.confidence)

    def detect_crops(self, frame: Image, rects: Sequence[Rect], *, confidence: float | None = None,
                     iou: float | None = None, size: int | None = None,
                     class_confidence: Mapping[str, float] | None = None) -> list[list[Detection]]:
        """Detect in each rectangle of ``frame``; boxes come back in frame coordinates.

        ``confidence`` / ``iou`` override the detector's own for this call only (an evaluation's low floor);
        with ``confidence`` every class uses it, per-class floors included; ``class_confidence`` then
        overrides single classes (a second stage's low cue floor). ``size``: a smaller network input for this
        call (:meth:`input_size`), for crops that would only be upscaled into the full one."""
        if not rects:
            return []
        raw, transforms = self.infer(frame, rects, size=size)
        floors = self._col_confidence if confidence is None else np.full_like(self._col_confidence, confidence)
        if class_confidence:
            floors = np.array([class_confidence.get(label, f) for label, f in zip(self._col_labels, floors,
                                                                                   strict=True)], np.float32)
        nms_iou = self.iou if iou is None else iou
        return [self._decode(raw[i], transforms[i], rects[i], floors, nms_iou) for i in range(len(rects))]

    def infer(self, frame: Image, rects: Sequence[Rect], *, size: int | None = None
              ) -> tuple[FloatArray, list[Letterbox]]:
        """Letterbox every crop into this thread's batch and run the network once: raw (N, 4 + nc, anchors)."""
        batch = self._batch(len(rects), self.input_size(size))
        transforms = [letterbox_into(frame[y1:y2, x1:x2], batch[i]) for i, (x1, y1, x2, y2) in enumerate(rects)]
        if self.dynamic_batch:
            raw = self.session.run(None, {self.input_name: batch})[0]
        else:
            raw = np.concatenate([self.session.run(None, {self.input_name: batch[i:i + 1]})[0]
                                  for i in range(len(rects))])
        return np.asarray(raw, dtype=np.float32), transforms

    def _decode(self, pred: FloatArray, lb: Letterbox, rect: Rect, floors: FloatArray, iou: float
                ) -> list[Detection]:
        if pred.shape[0] != 4 + len(self.names) and pred.shape[1] == 4 + len(self.names):
            pred = pred.T
        scores_all = pred[4 + self._cols]  # (mapped classes, anchors)
        best = scores_all.argmax(axis=0)
        scores = scores_all[best, np.arange(scores_all.shape[1])]
        keep = scores >= floors[best]
        if not keep.any():
            return []
        cx, cy, bw, bh = pred[0, keep], pred[1, keep], pred[2, keep], pred[3, keep]
        scores, best = scores[keep], best[keep]
        boxes = lb.to_image(np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1))
        boxes += np.array([rect[0], rect[1], rect[0], rect[1]], dtype=np.float32)
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(rect[0], rect[2])
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(rect[1], rect[3])
        real = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])  # not wholly in the padding
        boxes, scores, best = boxes[real], scores[real], best[real]
        if not len(boxes):
            return []
        # Class-aware NMS on the *taxonomy* label: merged source classes suppress each other.
        kept = batched_nms(boxes, scores.astype(np.float32), self._label_index[best], iou)
        return [
            Detection(self._col_labels[best[i]], float(scores[i]),
                      (float(boxes[i, 0]), float(boxes[i, 1]), float(boxes[i, 2]), float(boxes[i, 3])),
                      self._col_source[best[i]])
            for i in kept
        ]


@dataclass(frozen=True)
class DetectionArrays:
    """Detections as arrays, for metrics: boxes (n, 4) xyxy, scores (n,), taxonomy class ids (n,)."""

    boxes: FloatArray
    scores: FloatArray
    classes: npt.NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.boxes)

    @classmethod
    def of(cls, detections: Sequence[Detection]) -> DetectionArrays:
        return cls(np.array([d.box for d in detections], dtype=np.float32).reshape(-1, 4),
                   np.array([d.score for d in detections], dtype=np.float32),
                   np.array([CLASS_ID[d.label] for d in detections], dtype=np.int64))
