"""``models evaluate`` measures what the edge runs: label real photos (suspisense val) with the edge's own detector (its
default settings) and the evaluator must find exactly those boxes, precision and recall 1.0 at the edge's
confidence. A different letterbox, decode, NMS IoU or label merge in the evaluator would miss or add boxes."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edge.detect import default_model
from edge.settings import DetectorSettings
from models.evaluate import evaluate
from vision.detector import Detector
from vision.taxonomy import CLASS_ID


def test_the_evaluator_sees_exactly_what_the_edge_sees(shared_dir: Path, tmp_path: Path) -> None:
    shipped = default_model()  # the build the edge runs by default
    d = DetectorSettings()
    edge = Detector(shipped.path, sha256=shipped.sha256, confidence=d.confidence, iou=d.iou,
                    class_confidence=d.class_confidence)
    images, labels = tmp_path / "images" / "val", tmp_path / "labels" / "val"
    images.mkdir(parents=True)
    labels.mkdir(parents=True)
    photos = sorted((shared_dir / "datasets/suspisense-phone/images/val").glob("*.jpg"))[:12]
    boxes = 0
    for i, photo in enumerate(photos):
        frame = cv2.imread(str(photo), cv2.IMREAD_COLOR)
        frame = np.ascontiguousarray(frame[:, : frame.shape[1] * 3 // 4])  # not square: the letterbox pads
        h, w = frame.shape[:2]
        cv2.imwrite(str(images / f"f{i}.png"), frame)
        found = edge.detect(frame)
        boxes += len(found)
        (labels / f"f{i}.txt").write_text("".join(
            f"{CLASS_ID[x.label]} {(x.box[0] + x.box[2]) / 2 / w:.8f} {(x.box[1] + x.box[3]) / 2 / h:.8f} "
            f"{(x.box[2] - x.box[0]) / w:.8f} {(x.box[3] - x.box[1]) / h:.8f}\n" for x in found))
    assert boxes >= 10 and len({c for c in report_classes(labels)}) >= 2

    report = evaluate(shipped.path, tmp_path, "val")
    assert (report.conf, report.operating_point.iou) == (d.confidence, d.iou)
    assert sum(m.gt for m in report.classes.values()) == boxes
    for name, m in report.classes.items():
        assert (m.precision, m.recall, m.predictions) == (1.0, 1.0, m.gt), name


def report_classes(labels: Path) -> set[str]:
    return {line.split()[0] for p in labels.glob("*.txt") for line in p.read_text().splitlines()}
