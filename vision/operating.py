"""The edge's operating point, the one place its defaults live for the evaluator and the benches.

edge/settings.py (DetectorSettings) has the same defaults; tests/vision/test_operating_point.py holds them
equal, so ``models evaluate`` measures what the edge runs. No ML runtime imported here."""

from __future__ import annotations

CONFIDENCE = 0.3  # DetectorSettings.confidence: the floor a detection needs to exist on the edge
IOU = 0.5  # DetectorSettings.iou: NMS overlap, per merged taxonomy label
AP_FLOOR = 0.001  # evaluation decodes down to here for the PR curve; P/R are then read at CONFIDENCE
CALL = "vision.detector.Detector.detect_crops"
CROPS = "each image as one crop (the edge: one crop per window, its zones' padded bounding box)"
LABELS = "taxonomy labels merged by name (vision.taxonomy.ALIASES), class-aware NMS per merged label"
