"""Detector plumbing on tiny ONNX graphs built in the test: metadata, aliases, letterbox, NMS, crops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge.detect import Detector, ModelError, sha256_file
from tests.edge.onnx_fixtures import constant_detector, prediction

COCOISH = {0: "person", 1: "car", 2: "cell phone", 3: "cup", 4: "banana"}


@pytest.fixture
def model(tmp_path: Path) -> Path:
    pred = prediction(COCOISH, [
        (32, 32, 20, 40, "person", 0.9),   # centre of the 64x64 input
        (33, 32, 20, 40, "person", 0.6),   # duplicate of the first: suppressed
        (10, 10, 8, 8, "cell phone", 0.7),
        (50, 50, 6, 6, "cup", 0.5),
        (20, 50, 6, 6, "banana", 0.2),     # below the confidence threshold
        (40, 10, 10, 10, "car", 0.95),     # not in the taxonomy: never reported
    ])
    return constant_detector(tmp_path / "tiny.onnx", COCOISH, pred, imgsz=64)


def test_metadata_and_aliases(model: Path) -> None:
    det = Detector(model, confidence=0.3)
    assert det.imgsz == (64, 64)
    assert det.dynamic_batch
    found = det.detect(np.zeros((64, 64, 3), np.uint8))
    assert sorted(d.label for d in found) == ["drink", "person", "phone"]
    phone = next(d for d in found if d.label == "phone")
    assert phone.source_label == "cell phone"
    assert phone.box == pytest.approx((6, 6, 14, 14))


def test_letterbox_maps_boxes_back_to_frame(model: Path) -> None:
    det = Detector(model, confidence=0.3)
    # A 256x128 image is scaled by 1/4 into 64x32, padded by 16 rows above: input (32, 32) is frame (128, 64).
    person = next(d for d in det.detect(np.zeros((128, 256, 3), np.uint8)) if d.label == "person")
    # 20x40 input pixels are 80x160 frame pixels, clipped to the 128 rows of the frame.
    assert person.box == pytest.approx((128 - 40, 0, 128 + 40, 128))
    # The phone lies wholly in the letterbox padding: no such object in the frame.
    assert "phone" not in {d.label for d in det.detect(np.zeros((128, 256, 3), np.uint8))}


def test_crops_are_batched_and_offset(model: Path) -> None:
    det = Detector(model, confidence=0.3)
    frame = np.zeros((400, 600, 3), np.uint8)
    results = det.detect_crops(frame, [(0, 0, 64, 64), (300, 200, 364, 264)])
    people = [next(d for d in r if d.label == "person") for r in results]
    assert people[0].box == pytest.approx((22, 12, 42, 52))
    assert people[1].box == pytest.approx((322, 212, 342, 252))


def test_boxes_are_clipped_to_their_crop(tmp_path: Path) -> None:
    pred = prediction({0: "person"}, [(60, 32, 30, 80, "person", 0.9)])
    det = Detector(constant_detector(tmp_path / "edge.onnx", {0: "person"}, pred), confidence=0.3)
    (person,) = det.detect_crops(np.zeros((100, 100, 3), np.uint8), [(10, 10, 74, 74)])[0]
    assert person.box == pytest.approx((55, 10, 74, 74))


def test_project_taxonomy_model(tmp_path: Path) -> None:
    names = dict(enumerate(("person", "phone", "food", "drink", "pause_sign", "slipper", "shoe")))
    pred = prediction(names, [(16, 16, 8, 8, "pause_sign", 0.8), (48, 48, 8, 8, "slipper", 0.8)])
    det = Detector(constant_detector(tmp_path / "cw.onnx", names, pred), confidence=0.3)
    assert sorted(d.label for d in det.detect(np.zeros((64, 64, 3), np.uint8))) == ["pause_sign", "slipper"]


def test_a_class_can_have_its_own_floor(tmp_path: Path) -> None:
    """Weak pause_sign candidates reach the sign verifier while other classes keep the global bar."""
    names = dict(enumerate(("person", "phone", "food", "drink", "pause_sign", "slipper", "shoe")))
    pred = prediction(names, [(16, 16, 8, 8, "pause_sign", 0.02), (48, 48, 8, 8, "phone", 0.02),
                              (16, 48, 8, 8, "person", 0.5)])
    path = constant_detector(tmp_path / "cw.onnx", names, pred)
    image = np.zeros((64, 64, 3), np.uint8)
    assert [d.label for d in Detector(path, confidence=0.3).detect(image)] == ["person"]
    floor = Detector(path, confidence=0.3, class_confidence={"pause_sign": 0.01})
    assert sorted(d.label for d in floor.detect(image)) == ["pause_sign", "person"]


def test_sha256_is_verified(model: Path) -> None:
    Detector(model, sha256=sha256_file(model))
    with pytest.raises(ModelError, match="sha256"):
        Detector(model, sha256="0" * 64)


def test_model_without_person_is_refused(tmp_path: Path) -> None:
    names = {0: "car"}
    with pytest.raises(ModelError, match="person"):
        Detector(constant_detector(tmp_path / "cars.onnx", names, prediction(names, [])))


def test_missing_model_file() -> None:
    with pytest.raises(ModelError, match="does not exist"):
        Detector(Path("/nonexistent/model.onnx"))


def test_merged_labels_are_suppressed_together(tmp_path: Path) -> None:
    """A cup and a bottle on one object are one drink on the edge (NMS on the merged label), while a person
    overlapping it is kept."""
    names = {0: "person", 1: "cup", 2: "bottle"}
    pred = prediction(names, [(32, 32, 20, 20, "cup", 0.8), (32, 33, 20, 20, "bottle", 0.7),
                              (32, 32, 20, 20, "person", 0.6)])
    det = Detector(constant_detector(tmp_path / "m.onnx", names, pred), confidence=0.3)
    found = det.detect(np.zeros((64, 64, 3), np.uint8))
    assert [(d.label, d.source_label) for d in found] == [("drink", "cup"), ("person", "person")]
