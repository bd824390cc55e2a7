"""The detector's fixed taxonomy. The edge maps detections by *name*, so names never change meaning;
new classes are only ever appended."""

from __future__ import annotations

CLASSES: tuple[str, ...] = ("person", "phone", "food", "drink", "pause_sign", "slipper", "shoe")
CLASS_ID: dict[str, int] = {name: i for i, name in enumerate(CLASSES)}

# COCO-80 index -> our class, for pseudo-labelling with the COCO teacher and for evaluating it.
COCO_TO_OURS: dict[int, str] = {
    0: "person",
    67: "phone",  # cell phone
    39: "drink",  # bottle
    40: "drink",  # wine glass
    41: "drink",  # cup
    **{
        i: "food"
        for i in (46, 47, 48, 49, 50, 51, 52, 53, 54, 55)  # banana .. cake
    },
}

# Source classes -> ours. suspisense's behaviour boxes (head-turn, speaking, ...) are dropped.
SUSPISENSE_TO_OURS: dict[int, str] = {3: "phone"}  # phone-holding: a tight box around the held phone
FOOTWEAR_TO_OURS: dict[str, str] = {"sandal": "slipper", "shoe": "shoe", "boot": "shoe"}


def class_names_map() -> dict[int, str]:
    return dict(enumerate(CLASSES))
