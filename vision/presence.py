"""The presence verifier: a second opinion on each staff-zone person candidate, "a person, or furniture?".

Seen from above, an empty office chair (dark seat and back, armrests like shoulders) scores 0.4-0.7 as a
person with the shipped detector, and the edge runs the detector at low floors because seated people seen
from above score low: an empty desk then reads "present" and no absence ever fires. The shipped detector
was fine-tuned to 7 classes, so "chair" is no longer a class it can answer with; its own neck features
(the behaviour stage's recipe, vision/clerk.py) inherit the confusion (measured: an empty chair gets
P(person) 0.52-0.69 from a head on them, models/README.md). The second opinion is therefore an
*independent* network: the COCO-pretrained YOLO11n the detector was fine-tuned from, which still knows
chair, couch, bench, bag and screen as classes. It looks at each candidate's crop (the box grown by
``margin``, letterboxed to ``size``) and answers, for its predictions overlapping the candidate box
(IoU >= ``iou``): its best person, seat and object scores. A logistic head over
logit([detector score, teacher person, seat, object]) gives P(person); candidates under the threshold
are dropped before the zones count clerks.

:func:`verify_people` is that whole step, as training and
evaluation (models/presence_*.py) alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vision.clerk import grown
from vision.detector import Detection, Detector, Rect
from vision.letterbox import FloatArray, Image

CUES: tuple[str, ...] = ("detector_person", "teacher_person", "teacher_seat", "teacher_object")
# COCO class indices of the teacher (yolo11n-coco): what an empty post holds instead of a clerk.
PERSON = 0
SEAT = (13, 56, 57, 59, 61)  # bench, chair, couch, bed, toilet
OBJECT = (24, 26, 28, 58, 62, 63)  # backpack, handbag, suitcase, potted plant, tv, laptop


@dataclass(frozen=True)
class PresenceHead:
    """Standardised logistic regression over :func:`logits` of the cues (the manifest's ``presence``)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    weight: tuple[float, ...]
    bias: float
    threshold: float

    def probs(self, cues: FloatArray) -> FloatArray:
        z = (logits(cues) - np.asarray(self.mean)) / np.asarray(self.std)
        return np.asarray(1.0 / (1.0 + np.exp(-(z @ np.asarray(self.weight) + self.bias))), np.float32)


def logits(p: FloatArray) -> FloatArray:
    q = np.clip(np.asarray(p, np.float64), 1e-4, 1 - 1e-4)
    return np.asarray(np.log(q / (1 - q)), np.float32)


def _iou(boxes: FloatArray, box: Sequence[float]) -> FloatArray:
    ix = np.clip(np.minimum(boxes[:, 2], box[2]) - np.maximum(boxes[:, 0], box[0]), 0, None)
    iy = np.clip(np.minimum(boxes[:, 3], box[3]) - np.maximum(boxes[:, 1], box[1]), 0, None)
    inter = ix * iy
    union = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) + (box[2] - box[0]) * (box[3] - box[1]) - inter
    return np.asarray(inter / np.maximum(union, 1e-6), np.float32)


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    return float(_iou(np.asarray([a], np.float32), b)[0])


class TeacherCues:
    """The teacher ONNX (a COCO YOLO detect head, Ultralytics layout) on onnxruntime, answering the cues.
    Thread-safe as :class:`vision.detector.Detector` is (per-thread input buffers)."""

    def __init__(self, path: str | Path, size: int = 192, margin: float = 0.25, iou: float = 0.3,
                 threads: int = 1) -> None:
        self.teacher = Detector(Path(path), imgsz=size, threads=threads)
        self.size, self.margin, self.iou = size, margin, iou
        self.sha256 = self.teacher.sha256

    def cues(self, image_bgr: Image, boxes: Sequence[Sequence[float]], scores: Sequence[float]) -> FloatArray:
        """(N, 4) :data:`CUES` per candidate box (frame pixels) with the detector's person score."""
        out = np.zeros((len(boxes), len(CUES)), np.float32)
        if not len(boxes):
            return out
        h, w = image_bgr.shape[:2]
        rects: list[Rect] = []
        for b in boxes:
            x1, y1, x2, y2 = grown(b, self.margin)
            rx1, ry1 = min(max(0, int(x1)), w - 2), min(max(0, int(y1)), h - 2)
            rects.append((rx1, ry1, max(min(w, int(np.ceil(x2))), rx1 + 2), max(min(h, int(np.ceil(y2))), ry1 + 2)))
        raw, transforms = self.teacher.infer(image_bgr, rects)
        for i, (b, rect) in enumerate(zip(boxes, rects, strict=True)):
            pred = raw[i]
            cx, cy, bw, bh = pred[0], pred[1], pred[2], pred[3]
            xyxy = transforms[i].to_image(np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1))
            xyxy += np.array([rect[0], rect[1], rect[0], rect[1]], np.float32)
            near = _iou(xyxy, b) >= self.iou
            out[i, 0] = scores[i]
            if near.any():
                cls = pred[4:, near]
                out[i, 1] = cls[PERSON].max()
                out[i, 2] = cls[list(SEAT)].max()
                out[i, 3] = cls[list(OBJECT)].max()
        return out



class PresenceVerifier:
    """Teacher cues + the trained head: P(person) per candidate."""

    def __init__(self, cues: TeacherCues, head: PresenceHead) -> None:
        self.teacher, self.head = cues, head

    def person_probs(self, image_bgr: Image, boxes: Sequence[Sequence[float]], scores: Sequence[float]
                     ) -> FloatArray:
        if not len(boxes):
            return np.zeros(0, np.float32)
        return self.head.probs(self.teacher.cues(image_bgr, boxes, scores))


def verify_people(verifier: PresenceVerifier, image_bgr: Image, detections: Sequence[Detection],
                  candidate: Callable[[Detection], bool]) -> list[Detection]:
    """Drop the person detections that ``candidate`` selects (the window's clerk candidates) whose P(person)
    is under the head's threshold; everything else passes untouched, in its order."""
    picked = [d for d in detections if d.label == "person" and candidate(d)]
    if not picked:
        return list(detections)
    probs = verifier.person_probs(image_bgr, [d.box for d in picked], [d.score for d in picked])
    rejected = {id(d) for d, p in zip(picked, probs, strict=True) if p < verifier.head.threshold}
    return [d for d in detections if id(d) not in rejected]
