"""Letterbox, NMS (the vision core) and AP50: the numpy code the evaluator and edge rely on; decode is
covered on real ONNX graphs in tests/edge/test_detect.py."""

from __future__ import annotations

import numpy as np
import pytest

from models.metrics import ClassAccumulator, average_precision, match
from vision.boxes import batched_nms, iou_matrix, nms
from vision.letterbox import letterbox


def boxes(*rows: tuple[float, float, float, float]) -> np.ndarray:
    return np.array(rows, dtype=np.float32).reshape(-1, 4)


def test_letterbox_pads_and_maps_boxes_back() -> None:
    image = np.zeros((480, 640, 3), np.uint8)
    padded, lb = letterbox(image, 320)
    assert padded.shape == (3, 320, 320)
    assert lb.scale == pytest.approx(0.5)
    assert (lb.pad_x, lb.pad_y) == (0, 40)
    assert padded[:, 0, 0] == pytest.approx([114 / 255] * 3) and padded[:, 40, 0].tolist() == [0, 0, 0]
    net = boxes((10, 50, 110, 90))
    np.testing.assert_allclose(lb.to_image(net), boxes((20, 20, 220, 100)))


def test_iou_matrix() -> None:
    a = boxes((0, 0, 10, 10), (100, 100, 110, 110))
    b = boxes((0, 0, 10, 10), (5, 0, 15, 10))
    np.testing.assert_allclose(iou_matrix(a, b), [[1.0, 50 / 150], [0.0, 0.0]], rtol=1e-6)
    assert iou_matrix(a, boxes()).shape == (2, 0)


def test_nms_keeps_best_of_overlapping_boxes() -> None:
    b = boxes((0, 0, 10, 10), (1, 0, 11, 10), (50, 50, 60, 60))
    keep = nms(b, np.array([0.8, 0.9, 0.5], np.float32), iou_threshold=0.5)
    assert keep.tolist() == [1, 2]


def test_batched_nms_never_suppresses_across_classes() -> None:
    b = boxes((0, 0, 10, 10), (0, 0, 10, 10))
    scores = np.array([0.9, 0.8], np.float32)
    assert sorted(batched_nms(b, scores, np.array([0, 1]), 0.5).tolist()) == [0, 1]
    assert batched_nms(b, scores, np.array([2, 2]), 0.5).tolist() == [0]


def test_match_counts_a_duplicate_as_false_positive() -> None:
    tp = match(boxes((0, 0, 10, 10), (0, 0, 10, 9), (50, 50, 60, 60)), np.array([0.9, 0.8, 0.7], np.float32),
               boxes((0, 0, 10, 10)))
    assert tp.tolist() == [True, False, False]


def test_average_precision_by_hand() -> None:
    assert average_precision(np.array([0.5, 1.0]), np.array([1.0, 1.0])) == pytest.approx(1.0)
    # TP, FP, TP with 2 ground truths: recall .5 .5 1, precision 1 .5 .667 -> .5 * 1 + .5 * .667
    assert average_precision(np.array([0.5, 0.5, 1.0]), np.array([1.0, 0.5, 2 / 3])) == pytest.approx(
        0.5 + 0.5 * 2 / 3)
    assert average_precision(np.array([]), np.array([])) == 0.0


def test_class_accumulator_operating_point_and_recall_at_precision() -> None:
    acc = ClassAccumulator()
    gt = boxes((0, 0, 10, 10), (20, 0, 30, 10))
    acc.add(boxes((0, 0, 10, 10), (40, 0, 50, 10), (20, 0, 30, 10)), np.array([0.9, 0.6, 0.3], np.float32), gt)
    acc.add(boxes(), np.zeros(0, np.float32), boxes((0, 0, 5, 5)))
    m = acc.result(conf=0.5)
    assert (m.gt, m.images, m.predictions) == (3, 2, 2)
    assert m.precision == pytest.approx(0.5) and m.recall == pytest.approx(1 / 3, abs=1e-3)
    assert m.recall_at_p95 == pytest.approx(1 / 3, abs=1e-3)  # only the first detection is at P >= .95
    assert m.ap50 == pytest.approx(1 / 3 + 1 / 3 * 2 / 3, abs=1e-3)


def test_model_classes_map_onto_the_taxonomy_by_name() -> None:
    from models.evaluate import model_to_taxonomy
    from models.taxonomy import CLASS_ID, CLASSES

    assert model_to_taxonomy(dict(enumerate(CLASSES)), "auto") == {i: i for i in range(len(CLASSES))}
    coco = {i: f"c{i}" for i in range(80)} | {0: "person", 41: "cup", 67: "cell phone"}
    mapping = model_to_taxonomy(coco, "auto")
    assert mapping[67] == CLASS_ID["phone"] and mapping[41] == CLASS_ID["drink"] and 62 not in mapping
    assert model_to_taxonomy({0: "person", 1: "forklift"}, "auto") == {0: CLASS_ID["person"]}
