"""The ``details["boxes"]`` convention: what the edge writes, the dashboard reads back exactly."""

from __future__ import annotations

import pytest

from broker.boxes import MAX_BOXES, BoxFormatError, LabelledBox, decode_boxes, encode_boxes


def test_round_trip_keeps_labels_and_pixels() -> None:
    boxes = [LabelledBox("person", 0, 0, 80.5, 120), LabelledBox("pause_sign", 10, 20, 30, 60)]
    text = encode_boxes(boxes)
    assert text == "person:0.0,0.0,80.5,120.0;pause_sign:10.0,20.0,30.0,60.0"
    assert decode_boxes(text) == boxes
    assert decode_boxes("") == [] and encode_boxes([]) == ""


@pytest.mark.parametrize("text", ["phone:1,2,3", "phone 1,2,3,4", "Phone:1,2,3,4", "phone:1,2,x,4",
                                  "phone:5,2,3,4", "phone:-1,2,3,4", "phone:1,2,nan,4", "phone:1,2,inf,4"])
def test_malformed_boxes_are_refused_with_the_reason(text: str) -> None:
    with pytest.raises(BoxFormatError):
        decode_boxes(text)


def test_too_many_boxes_are_refused() -> None:
    with pytest.raises(BoxFormatError, match="at most"):
        encode_boxes([LabelledBox("person", 0, 0, 1, 1)] * (MAX_BOXES + 1))
