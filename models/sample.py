"""The small labelled evaluation sample CI scores the shipped model on (CI never trains).

Built on the fly from ../shared plus the sign generator, deterministically (fixed seed, PNG output), so
the same numbers come out on every machine with the same fonts. Only classes with real or synthetic
ground truth are in it: phone (suspisense val, human boxes), pause_sign (unseen font family on office-CCTV
frames, with hard-negative placards), slipper/shoe (val products on office-CCTV frames). No teacher
pseudo-labels, so it needs nothing but ../shared and the runtime venv.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from models.data import signs
from models.data.build import (
    Background,
    Product,
    SignRecord,
    Writer,
    footwear_composite,
    load_products,
    sign_composite,
)
from models.data.labels import Box, read_yolo
from models.data.split import source_stem
from models.taxonomy import CLASS_ID, SUSPISENSE_TO_OURS

SAMPLE_SPLIT = "sample"


def _cctv_frames(clip: Path, every: int = 10, width: int = 800) -> list[Background]:
    cap = cv2.VideoCapture(str(clip))
    out, index = [], 0
    while True:
        ok = cap.grab()
        if not ok:
            break
        if index % every == 0:
            ok, frame = cap.retrieve()
            if ok:
                h, w = frame.shape[:2]
                frame = cv2.resize(frame, (width, round(h * width / w)), interpolation=cv2.INTER_AREA)
                out.append(Background(None, SAMPLE_SPLIT, f"cctv{index:04d}", [], image=frame))
        index += 1
    cap.release()
    if not out:
        raise ValueError(f"no frames decoded from {clip}")
    return out


def build_sample(shared: Path, out: Path, seed: int = 7, phones: int = 60, signs_n: int = 80,
                 feet: int = 60, sign_fonts: tuple[str, ...] = signs.HELDOUT_FONT_FAMILIES, two_line_p: float = 0.0
                 ) -> dict[str, dict[str, int]]:
    """Write ``out/images/sample`` + ``out/labels/sample`` and return counts per source and class. The CI
    sample keeps ``two_line_p=0`` (its images predate the two-line placard and stay bit-identical); each
    sign's layout is recorded in ``sources.jsonl`` for per-group recall."""
    rng = np.random.default_rng(seed)
    for kind in ("images", "labels"):
        (out / kind / SAMPLE_SPLIT).mkdir(parents=True, exist_ok=True)
    writer = Writer(out, png=True)
    sus = shared / "datasets/suspisense-phone"
    for img_path in sorted((sus / "images/val").glob("*.jpg"))[:phones]:
        img = cv2.imread(str(img_path), cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"unreadable image {img_path}")
        h, w = img.shape[:2]
        boxes = [Box(CLASS_ID[SUSPISENSE_TO_OURS[b.cls]], b.x1, b.y1, b.x2, b.y2)
                 for b in read_yolo(sus / "labels/val" / f"{img_path.stem}.txt", w, h) if b.cls in SUSPISENSE_TO_OURS]
        writer.write(SAMPLE_SPLIT, "suspisense-phone", f"sus_{source_stem(img_path.stem)}", img, boxes)
    frames = _cctv_frames(shared / "datasets/office-cctv-clip/office_cctv_cam5.mov")
    faces = signs.available_faces(sign_fonts)
    for i in range(signs_n):
        bg = frames[int(rng.integers(len(frames)))]
        record = SignRecord()
        img, boxes = sign_composite(bg, rng, faces, negative=i % 4 == 3, tint_p=0.0, record=record,
                                    two_line_p=two_line_p)
        writer.write(SAMPLE_SPLIT, "synthetic-signs", f"sign_{i:04d}", img, boxes, record)
    products: list[Product] = load_products(shared / "datasets/footwear-sbs", only="val")["val"]
    for i in range(feet):
        bg = frames[int(rng.integers(len(frames)))]
        img, boxes, _ = footwear_composite(bg, rng, products, tint_p=0.0)
        writer.write(SAMPLE_SPLIT, "footwear-composite", f"foot_{i:04d}", img, boxes)
    counts = {src: dict(c) for src, c in writer.counts[SAMPLE_SPLIT].items()}
    (out / "counts.json").write_text(json.dumps(counts, indent=2))
    return counts


def main(args: argparse.Namespace) -> int:
    counts = build_sample(args.shared, args.out, args.seed, signs_n=args.signs, phones=args.phones,
                          feet=args.feet, sign_fonts=tuple(args.sign_fonts), two_line_p=args.two_line_p)
    print(json.dumps(counts, indent=2))
    return 0
