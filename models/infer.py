"""The vision core (vision/) under the names the dataset and verifier tools use. No implementation here:
letterbox, decode, NMS and taxonomy mapping are the edge's own (vision.detector.Detector)."""

from __future__ import annotations

from pathlib import Path

from vision.boxes import FloatArray, iou_matrix
from vision.detector import DetectionArrays, Detector
from vision.letterbox import Image

Detections = DetectionArrays  # boxes (n, 4) in image pixels, scores, *taxonomy* class ids

__all__ = ["Detections", "FloatArray", "Image", "OnnxDetector", "iou_matrix"]


class OnnxDetector(Detector):
    """A :class:`vision.detector.Detector` called with per-call thresholds, answering arrays.

    Class ids are taxonomy ids (vision.taxonomy.CLASS_ID): a COCO teacher's ``cup`` comes back as ``drink``,
    and for the project's own model they equal its class indices."""

    def __init__(self, path: str | Path, imgsz: int | None = None, threads: int | None = None) -> None:
        super().__init__(Path(path), confidence=0.25, iou=0.7, imgsz=imgsz, threads=threads or 0)

    def __call__(self, image_bgr: Image, conf: float = 0.25, iou: float = 0.7) -> Detections:
        return DetectionArrays.of(self.detect(image_bgr, confidence=conf, iou=iou))
