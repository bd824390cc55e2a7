"""A small dataset built end to end from ../shared (no teacher): split leak-freedom, counts and labels."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from models.data.build import BuildConfig, build, product_split
from models.data.labels import read_yolo
from models.data.signs import HELDOUT_FONT_FAMILIES, TRAIN_FONT_FAMILIES
from models.data.split import source_stem, split_of
from models.taxonomy import CLASSES

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    out = tmp_path_factory.mktemp("dataset")
    cfg = BuildConfig(shared=shared_dir, out=out, teacher=None, source_limit=12, product_limit=10,
                      sign_composites={"train": 16, "val": 6, "holdout": 8},
                      footwear_composites={"train": 10, "val": 5, "holdout": 5}, cctv_every=50)
    return out, build(cfg)


def provenance(out: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in (out / "sources.jsonl").read_text().splitlines()]


def test_no_source_photo_product_or_font_crosses_splits(built: tuple[Path, dict[str, object]]) -> None:
    out, _ = built
    rows = provenance(out)
    splits_of: dict[tuple[str, str], set[str]] = defaultdict(set)
    for row in rows:
        if "background" in row:
            splits_of[("background", row["background"])].add(row["split"])
        if "product" in row:  # holdout pastes val products (on unseen backgrounds): never train ones
            splits_of[("product", row["product"])].add("train" if row["split"] == "train" else "val")
    assert all(len(s) == 1 for s in splits_of.values()), {k: v for k, v in splits_of.items() if len(v) > 1}
    for row in rows:
        if "product" in row:
            assert product_split(row["product"]) == ("val" if row["split"] == "holdout" else row["split"])
        if row["source"] == "suspisense-phone":
            assert split_of(row["background"]) == row["split"]
        if row["split"] == "holdout":
            assert row["background"].startswith("cctv")  # CCTV frames: holdout only
            assert row.get("fonts", ",".join(HELDOUT_FONT_FAMILIES)) == ",".join(HELDOUT_FONT_FAMILIES)
        else:
            assert not row["background"].startswith("cctv")
            assert row.get("fonts", ",".join(TRAIN_FONT_FAMILIES)) == ",".join(TRAIN_FONT_FAMILIES)


def test_counts_match_the_label_files(built: tuple[Path, dict[str, object]]) -> None:
    out, summary = built
    totals = summary["totals"]
    assert isinstance(totals, dict)
    for split in ("train", "val", "holdout"):
        labels = sorted((out / "labels" / split).glob("*.txt"))
        assert len(labels) == len(list((out / "images" / split).iterdir())) == totals[split]["images"]
        per_class: dict[str, int] = defaultdict(int)
        for label in labels:
            for box in read_yolo(label, 100, 100):
                per_class[CLASSES[box.cls]] += 1
        assert dict(per_class) == {k: v for k, v in totals[split].items() if k != "images"}
    assert totals["train"]["pause_sign"] > 0 and totals["holdout"]["pause_sign"] > 0
    assert totals["train"]["slipper"] + totals["train"]["shoe"] > 0
    data_yaml = (out / "data.yaml").read_text()
    assert "test: images/holdout" in data_yaml and "4: pause_sign" in data_yaml


def test_val_phones_are_human_labels_only(built: tuple[Path, dict[str, object]], shared_dir: Path) -> None:
    out, _ = built
    src = {source_stem(p.stem): p for p in (shared_dir / "datasets/suspisense-phone/labels/val").glob("*.txt")}
    labels = sorted((out / "labels/val").glob("sus_*.txt"))
    assert labels
    for label in labels:
        ours = [b for b in read_yolo(label, 1, 1) if CLASSES[b.cls] == "phone"]
        source = src.get(label.stem.removeprefix("sus_"))
        human = [b for b in read_yolo(source, 1, 1) if b.cls == 3] if source else []
        assert len(ours) == len(human)
