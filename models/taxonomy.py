"""The detector's fixed taxonomy (vision/taxonomy.py, the one copy) and the training data sources' class maps."""

from __future__ import annotations

from vision.taxonomy import CLASS_ID, CLASSES, COCO_TO_OURS

__all__ = ["CLASSES", "CLASS_ID", "COCO_TO_OURS", "FOOTWEAR_TO_OURS", "SUSPISENSE_TO_OURS", "class_names_map"]

# Source classes -> ours. suspisense's behaviour boxes (head-turn, speaking, ...) are dropped.
SUSPISENSE_TO_OURS: dict[int, str] = {3: "phone"}  # phone-holding: a tight box around the held phone
FOOTWEAR_TO_OURS: dict[str, str] = {"sandal": "slipper", "shoe": "shoe", "boot": "shoe"}


def class_names_map() -> dict[int, str]:
    return dict(enumerate(CLASSES))
