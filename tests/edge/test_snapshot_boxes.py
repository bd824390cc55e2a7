"""An event's ``boxes`` detail: detections clipped to the frame and scaled to the snapshot."""

from __future__ import annotations

import pytest

from broker.boxes import MAX_BOXES, decode_boxes
from edge.detect import Detection
from edge.pipeline import snapshot_boxes


def test_boxes_are_scaled_clipped_and_round_trip() -> None:
    dets = [Detection("person", 0.9, (100, 50, 500, 700)), Detection("phone", 0.4, (-20, 10, 40, 60)),
            Detection("drink", 0.3, (1900, 1000, 1950, 1100))]
    boxes = decode_boxes(snapshot_boxes(dets, 0.5, 1920, 1080))
    assert [(b.label, b.x1, b.y1, b.x2, b.y2) for b in boxes] == [
        ("person", 50.0, 25.0, 250.0, 350.0),
        ("phone", 0.0, 5.0, 20.0, 30.0),  # clipped at the left edge
        ("drink", 950.0, 500.0, 960.0, 540.0),  # clipped at the right and bottom edges
    ]


@pytest.mark.parametrize("box", [(2000, 0, 2100, 10), (10, 10, 10.5, 50)], ids=["outside", "degenerate"])
def test_boxes_outside_the_frame_or_thinner_than_a_pixel_are_dropped(box: tuple[float, ...]) -> None:
    assert snapshot_boxes([Detection("person", 0.9, box)], 1.0, 1920, 1080) == ""  # type: ignore[arg-type]


def test_the_most_confident_boxes_are_kept_when_there_are_too_many() -> None:
    dets = [Detection("person", i / 100, (i, 0, i + 10, 10)) for i in range(MAX_BOXES + 6)]
    boxes = decode_boxes(snapshot_boxes(dets, 1.0, 1920, 1080))
    assert len(boxes) == MAX_BOXES and min(b.x1 for b in boxes) == 6
