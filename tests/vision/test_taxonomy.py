"""The taxonomy, its aliases and the edge's operating point, each held to what uses it."""

from __future__ import annotations

from pathlib import Path

from edge.settings import DetectorSettings
from models.manifest import OperatingPoint, load
from vision import operating
from vision.taxonomy import ALIASES, CLASS_ID, CLASSES, COCO_TO_OURS, label_of

# COCO-80 class names at the indices COCO_TO_OURS uses (Ultralytics' coco.yaml).
COCO_NAMES = {0: "person", 39: "bottle", 40: "wine glass", 41: "cup", 46: "banana", 47: "apple",
              48: "sandwich", 49: "orange", 50: "broccoli", 51: "carrot", 52: "hot dog", 53: "pizza",
              54: "donut", 55: "cake", 56: "chair", 62: "tv", 63: "laptop", 67: "cell phone"}


def test_coco_index_map_and_name_aliases_agree() -> None:
    """Training maps the teacher by index, the edge and the evaluator by name: the same classes either way."""
    by_name = {i: label for i, n in COCO_NAMES.items() if (label := label_of(n)) is not None}
    assert by_name == COCO_TO_OURS
    assert set(ALIASES.values()) == set(CLASSES)
    assert [CLASS_ID[c] for c in CLASSES] == list(range(len(CLASSES)))
    assert label_of("Cell Phone") == "phone" and label_of("laptop") is None


def test_the_evaluators_operating_point_is_the_edges() -> None:
    edge = DetectorSettings()
    assert (edge.confidence, edge.iou) == (operating.CONFIDENCE, operating.IOU)
    point = OperatingPoint()
    assert (point.confidence, point.iou) == (edge.confidence, edge.iou)


def test_every_shipped_figure_is_measured_at_the_edges_operating_point() -> None:
    manifest = load(Path(__file__).resolve().parents[2] / "models")
    assert manifest.operating_point == OperatingPoint()
    assert manifest.sign_verifier is not None
    runs = {**manifest.metrics, **{f"teacher {k}": v for k, v in manifest.teacher_baseline.items()},
            **{f"verifier {k}": v for k, v in manifest.sign_verifier.metrics.items()}}
    for name, ev in runs.items():
        op = ev.operating_point
        assert op is not None, name
        assert (op.call, op.iou, op.labels) == (operating.CALL, operating.IOU, operating.LABELS), name
        expected = manifest.sign_verifier.threshold if name.startswith("verifier") else operating.CONFIDENCE
        assert op.confidence == expected, name
