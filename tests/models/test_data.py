"""Label mapping, YOLO label IO, pseudo-label merging, footwear cut-outs and the leak-free split rule, on the
real ../shared material."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from models.data.footwear import cutout, footwear_photos, rotate_rgba
from models.data.labels import Box, parse_yolo, read_yolo, write_yolo
from models.data.split import source_stem, split_of
from models.data.teacher import PseudoLabelPolicy, merge_pseudo
from models.taxonomy import CLASS_ID, CLASSES, COCO_TO_OURS, FOOTWEAR_TO_OURS, SUSPISENSE_TO_OURS


def test_taxonomy_is_fixed() -> None:
    # The edge maps detections by name: order and names are a contract.
    assert CLASSES == ("person", "phone", "food", "drink", "pause_sign", "slipper", "shoe")


def test_source_mappings() -> None:
    assert SUSPISENSE_TO_OURS == {3: "phone"}  # phone-holding only; behaviour boxes dropped
    assert COCO_TO_OURS[0] == "person" and COCO_TO_OURS[67] == "phone"
    assert {COCO_TO_OURS[i] for i in (39, 40, 41)} == {"drink"}
    assert {COCO_TO_OURS[i] for i in range(46, 56)} == {"food"}
    assert 62 not in COCO_TO_OURS  # tv is not a phone
    assert FOOTWEAR_TO_OURS == {"sandal": "slipper", "shoe": "shoe", "boot": "shoe"}


def test_suspisense_labels_map_to_phones_only(shared_dir: Path) -> None:
    root = shared_dir / "datasets/suspisense-phone"
    seen: set[int] = set()
    phones = 0
    for label in sorted((root / "labels/val").glob("*.txt")):
        boxes = read_yolo(label, 500, 500)
        seen |= {b.cls for b in boxes}
        phones += sum(b.cls in SUSPISENSE_TO_OURS for b in boxes)
    assert seen > {3}  # the source has behaviour classes we must drop
    assert phones == 56  # DATASET.md: 56 phone-holding boxes in val


def test_yolo_roundtrip_clips_and_drops_slivers(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    kept = write_yolo(path, [Box(1, -10, 10, 50, 60), Box(2, 10, 10, 11, 40), Box(4, 90, 90, 130, 130)], 100, 100)
    assert [b.cls for b in kept] == [1, 4]
    back = read_yolo(path, 100, 100)
    assert [(b.cls, round(b.x1), round(b.y1), round(b.x2), round(b.y2)) for b in back] == [
        (1, 0, 10, 50, 60), (4, 90, 90, 100, 100)]
    assert parse_yolo("garbage\n3 0.5 0.5 0.2 0.2\n", 10, 10)[0].cls == 3


def test_pseudo_labels_never_duplicate_human_boxes() -> None:
    human = [Box(CLASS_ID["phone"], 10, 10, 30, 50)]
    pseudo = [Box(CLASS_ID["phone"], 11, 11, 31, 49), Box(CLASS_ID["phone"], 200, 10, 220, 50),
              Box(CLASS_ID["person"], 0, 0, 100, 200)]
    merged = merge_pseudo(human, pseudo, PseudoLabelPolicy())
    assert merged == [human[0], pseudo[1], pseudo[2]]


def test_roboflow_stems_and_split_rule_match_the_shared_split(shared_dir: Path) -> None:
    assert source_stem("IMG_12_jpg.rf.0a1b2c3d4e5f") == "IMG_12"
    assert source_stem("plain") == "plain"
    images = shared_dir / "datasets/suspisense-phone/images"
    for split in ("train", "val"):
        stems = [source_stem(p.stem) for p in images.joinpath(split).glob("*.jpg")]
        assert stems and all(split_of(s) == split for s in stems)


def test_footwear_cutout_isolates_the_product(shared_dir: Path) -> None:
    photos = footwear_photos(shared_dir / "datasets/footwear-sbs")
    assert {ours for _, ours in photos} == {"slipper", "shoe"}
    path, _ = next(p for p in photos if p[1] == "slipper")
    photo = cv2.imread(str(path))
    assert photo is not None
    rgba = cutout(photo)
    assert rgba is not None and rgba.shape[2] == 4
    alpha = rgba[:, :, 3] > 0
    assert 0.2 < alpha.mean() < 0.98  # the product, not the white page
    assert rgba.shape[0] <= photo.shape[0] and rgba.shape[1] <= photo.shape[1]
    assert np.median(rgba[:, :, :3][alpha]) < 235  # what is kept is not background white
    rotated = rotate_rgba(rgba, 30, flip=True)
    assert (rotated[:, :, 3] > 0).sum() == pytest.approx(alpha.sum(), rel=0.1)  # nothing cropped


def test_blank_page_has_no_cutout() -> None:
    assert cutout(np.full((102, 136, 3), 255, np.uint8)) is None
