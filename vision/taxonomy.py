"""The detector's fixed taxonomy and the name aliases that map any model's classes onto it.

Pure data: importing this module loads no ML runtime (no onnxruntime, no OpenCV), so settings validation
(edge/settings.py) can name the classes without paying for them. The edge maps detections by *name*, so
names never change meaning; new classes are only ever appended.
"""

from __future__ import annotations

CLASSES: tuple[str, ...] = ("person", "phone", "food", "drink", "pause_sign", "slipper", "shoe")
TAXONOMY = CLASSES  # the edge's older name for the same tuple
CLASS_ID: dict[str, int] = {name: i for i, name in enumerate(CLASSES)}

COCO_FOODS = ("banana", "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake")
COCO_DRINKS = ("bottle", "wine glass", "cup")

# Model class name (lower case) -> taxonomy label: the project's own model and a stock COCO model both work.
# Several source classes may merge into one label (cup, bottle -> drink); NMS then runs on the merged label.
ALIASES: dict[str, str] = {
    "person": "person", "people": "person", "clerk": "person",
    "phone": "phone", "cell phone": "phone", "cellphone": "phone", "mobile phone": "phone",
    **{n: "food" for n in ("food", *COCO_FOODS)},
    **{n: "drink" for n in ("drink", *COCO_DRINKS)},
    "pause_sign": "pause_sign", "pause sign": "pause_sign", "sign": "pause_sign",
    "slipper": "slipper", "slippers": "slipper", "sandal": "slipper", "sandals": "slipper",
    "shoe": "shoe", "shoes": "shoe", "boot": "shoe", "boots": "shoe",
}

# COCO-80 index -> our class (training: the head re-map and the pseudo-labeller's data-source bookkeeping).
# The same mapping as ALIASES over the COCO names (tests/vision/test_taxonomy.py holds them equal).
COCO_TO_OURS: dict[int, str] = {
    0: "person",
    67: "phone",  # cell phone
    39: "drink",  # bottle
    40: "drink",  # wine glass
    41: "drink",  # cup
    **{i: "food" for i in range(46, 56)},  # banana .. cake
}


def label_of(name: str) -> str | None:
    """The taxonomy label of a model class name, or None when it has none (never scored)."""
    return ALIASES.get(name.lower())
