"""Detection boxes carried in an event's ``details`` (the contract keeps ``details`` flat: str/int/float/bool).

Key ``boxes``; value ``"<label>:<x1>,<y1>,<x2>,<y2>;..."`` with taxonomy labels (``person``, ``phone``, ...)
and coordinates in pixels of the event's snapshot. The edge writes it with :func:`encode_boxes`; the
dashboard reads it back with :func:`decode_boxes` (review export -> training data)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

DETAILS_KEY = "boxes"
MAX_BOXES = 64
_LABEL = re.compile(r"^[a-z_]{1,32}$")


class BoxFormatError(ValueError):
    """A ``boxes`` value that does not follow the format above."""


@dataclass(frozen=True, slots=True)
class LabelledBox:
    label: str
    x1: float
    y1: float
    x2: float
    y2: float


def encode_boxes(boxes: list[LabelledBox]) -> str:
    if len(boxes) > MAX_BOXES:
        raise BoxFormatError(f"{len(boxes)} boxes; at most {MAX_BOXES} fit an event")
    for b in boxes:
        _check(b)
    return ";".join(f"{b.label}:{b.x1:.1f},{b.y1:.1f},{b.x2:.1f},{b.y2:.1f}" for b in boxes)


def decode_boxes(value: str) -> list[LabelledBox]:
    if not value.strip():
        return []
    out = []
    for item in value.split(";"):
        label, sep, coords = item.strip().partition(":")
        parts = coords.split(",")
        if not sep or len(parts) != 4:
            raise BoxFormatError(f"box {item!r} is not '<label>:<x1>,<y1>,<x2>,<y2>'")
        try:
            x1, y1, x2, y2 = (float(p) for p in parts)
        except ValueError:
            raise BoxFormatError(f"box {item!r} has a coordinate that is not a number") from None
        out.append(_check(LabelledBox(label, x1, y1, x2, y2)))
    if len(out) > MAX_BOXES:
        raise BoxFormatError(f"{len(out)} boxes; at most {MAX_BOXES}")
    return out


def _check(box: LabelledBox) -> LabelledBox:
    if not _LABEL.match(box.label):
        raise BoxFormatError(f"box label {box.label!r} must be 1-32 of a-z and _")
    if not all(math.isfinite(v) for v in (box.x1, box.y1, box.x2, box.y2)) or not (
        0 <= box.x1 < box.x2 and 0 <= box.y1 < box.y2
    ):
        raise BoxFormatError(f"box {box} needs 0 <= x1 < x2 and 0 <= y1 < y2")
    return box
