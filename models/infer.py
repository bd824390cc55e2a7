"""onnxruntime-only YOLO inference in numpy: letterbox, decode, class-wise NMS.

Used by the evaluator and the teacher pseudo-labeller; the edge may use it too. No torch, no ultralytics.
The model is an Ultralytics-style export: input ``images`` (N, 3, H, W) float RGB in [0, 1], output
(N, 4 + nc, anchors) with boxes as cx, cy, w, h in input pixels and per-class sigmoid scores.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
# An OpenCV BGR uint8 image. OpenCV's stubs type results as "integer | floating" arrays, so images stay Any.
Image = npt.NDArray[Any]


@dataclass(frozen=True)
class Letterbox:
    """How an image was resized and padded into the square network input, to map boxes back."""

    scale: float
    pad_x: float
    pad_y: float

    def to_image(self, boxes: FloatArray) -> FloatArray:
        out = boxes.copy()
        out[:, [0, 2]] = (out[:, [0, 2]] - self.pad_x) / self.scale
        out[:, [1, 3]] = (out[:, [1, 3]] - self.pad_y) / self.scale
        return out


def letterbox(image_bgr: Image, size: int) -> tuple[Image, Letterbox]:
    """Resize keeping aspect ratio and pad with gray 114 to ``size`` x ``size`` (as Ultralytics does)."""
    h, w = image_bgr.shape[:2]
    scale = min(size / h, size / w)
    nw, nh = round(w * scale), round(h * scale)
    resized = cv2.resize(image_bgr, (nw, nh), interpolation=cv2.INTER_LINEAR) if (nw, nh) != (w, h) else image_bgr
    pad_x, pad_y = (size - nw) / 2, (size - nh) / 2
    top, left = round(pad_y - 0.1), round(pad_x - 0.1)
    out = cv2.copyMakeBorder(
        resized, top, size - nh - top, left, size - nw - left, cv2.BORDER_CONSTANT, value=(114, 114, 114)
    )
    return out, Letterbox(scale=scale, pad_x=float(left), pad_y=float(top))


def iou_matrix(a: FloatArray, b: FloatArray) -> FloatArray:
    """Pairwise IoU of xyxy boxes, shape (len(a), len(b))."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), dtype=np.float32)
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(br - tl, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return (inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)).astype(np.float32)


def nms(boxes: FloatArray, scores: FloatArray, iou_threshold: float) -> npt.NDArray[np.int64]:
    """Greedy non-maximum suppression; returns kept indices, best score first."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        best = int(order[0])
        keep.append(best)
        if order.size == 1:
            break
        rest = order[1:]
        ious = iou_matrix(boxes[best : best + 1], boxes[rest])[0]
        order = rest[ious <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def batched_nms(boxes: FloatArray, scores: FloatArray, classes: npt.NDArray[np.int64], iou_threshold: float
                ) -> npt.NDArray[np.int64]:
    """Class-wise NMS via the coordinate-offset trick: boxes of different classes never overlap."""
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    offset = classes.astype(np.float32)[:, None] * (float(boxes.max()) + 1.0)
    return nms(boxes + offset, scores, iou_threshold)


@dataclass(frozen=True)
class Detections:
    boxes: FloatArray  # (n, 4) xyxy in original image pixels
    scores: FloatArray  # (n,)
    classes: npt.NDArray[np.int64]  # (n,) model class indices

    def __len__(self) -> int:
        return len(self.boxes)


def decode(output: FloatArray, conf_threshold: float, iou_threshold: float, max_det: int = 300,
           max_candidates: int = 3000) -> Detections:
    """One image's raw output (4 + nc, anchors) -> detections in network-input pixels."""
    pred = output.T  # (anchors, 4 + nc)
    cls_scores = pred[:, 4:]
    classes = cls_scores.argmax(axis=1)
    scores = cls_scores[np.arange(len(pred)), classes]
    keep = scores >= conf_threshold
    xywh, scores, classes = pred[keep, :4], scores[keep], classes[keep]
    if len(scores) > max_candidates:  # very low thresholds (AP evaluation): NMS only the best
        top = np.argsort(-scores)[:max_candidates]
        xywh, scores, classes = xywh[top], scores[top], classes[top]
    boxes = np.concatenate([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], axis=1)
    idx = batched_nms(boxes, scores, classes.astype(np.int64), iou_threshold)[:max_det]
    return Detections(boxes[idx].astype(np.float32), scores[idx].astype(np.float32), classes[idx].astype(np.int64))


def read_model_names(session_meta: dict[str, str]) -> dict[int, str]:
    """Class names from Ultralytics export metadata (a Python-literal dict) or a JSON dict."""
    raw = session_meta.get("names")
    if raw is None:
        raise ValueError("model metadata has no 'names'")
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError:
        parsed = ast.literal_eval(raw)
    return {int(k): str(v) for k, v in parsed.items()}


class OnnxDetector:
    """A YOLO ONNX model with its class names and input size read from the file's metadata."""

    def __init__(self, path: str | Path, imgsz: int | None = None, threads: int | None = None) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        meta = self.session.get_modelmeta().custom_metadata_map
        self.names = read_model_names(meta)
        meta_size = ast.literal_eval(meta["imgsz"])[0] if "imgsz" in meta else 320
        self.imgsz = int(imgsz or meta_size)
        self.input_name = self.session.get_inputs()[0].name

    def raw(self, image_bgr: Image) -> tuple[FloatArray, Letterbox]:
        """Letterbox and run the network: raw output (4 + nc, anchors) and how to map it back."""
        padded, lb = letterbox(image_bgr, self.imgsz)
        blob = padded[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255.0
        return self.session.run(None, {self.input_name: np.ascontiguousarray(blob)})[0][0], lb

    @staticmethod
    def postprocess(output: FloatArray, lb: Letterbox, shape: tuple[int, ...], conf: float, iou: float
                    ) -> Detections:
        det = decode(output, conf, iou)
        boxes = lb.to_image(det.boxes)
        h, w = shape[:2]
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        return Detections(boxes, det.scores, det.classes)

    def __call__(self, image_bgr: Image, conf: float = 0.25, iou: float = 0.7) -> Detections:
        output, lb = self.raw(image_bgr)
        return self.postprocess(output, lb, image_bgr.shape, conf, iou)
