"""Crops for the sign verifier, cut from a built dataset split (var/datasets/...), never across splits.

Per image of the split:

* positives: every ground-truth ``pause_sign`` box, jittered ``jitters`` times (scale and shift, as a
  detector box would be off), plus each detector candidate that matches a sign (IoU >= 0.5);
* negatives: the hard-negative placards the generator recorded in ``sources.jsonl`` (``placards``,
  jittered), the detector's false positives (candidates with IoU < 0.3 to every sign, score >= ``min_det``)
  and one random box per image sized like a sign. Candidates with 0.3 <= IoU < 0.5 are ambiguous: skipped.

Detector candidates are cached per split in ``candidates-<split>.json`` (running the detector is the slow
part), crops in ``crops-<split>-<size>.npz`` with ``counts``.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from models.data.labels import read_yolo
from models.evaluate import IMAGE_SUFFIXES, model_to_taxonomy
from models.infer import Image, OnnxDetector, iou_matrix
from models.signverify import CropSpec, crop
from models.taxonomy import CLASS_ID

log = logging.getLogger(__name__)
SIGN = CLASS_ID["pause_sign"]
POS_IOU, NEG_IOU = 0.5, 0.3


def _images(dataset: Path, split: str) -> list[Path]:
    return sorted(p for p in (dataset / "images" / split).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def placards_of(dataset: Path, split: str) -> dict[str, list[list[float]]]:
    out: dict[str, list[list[float]]] = {}
    for line in (dataset / "sources.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["split"] == split and row.get("placards"):
            out[row["image"]] = row["placards"]
    return out


def mine_candidates(dataset: Path, split: str, model: Path, min_det: float, cache: Path
                    ) -> dict[str, list[list[float]]]:
    """image stem -> [[x1, y1, x2, y2, score], ...] of the detector's pause_sign candidates (cached)."""
    if cache.exists():
        data = json.loads(cache.read_text())
        if data.get("model") == str(model) and data.get("min_det") == min_det:
            return dict(data["candidates"])
    detector = OnnxDetector(model)
    ours = {i for i, c in model_to_taxonomy(detector.names, "auto").items() if c == SIGN}
    found: dict[str, list[list[float]]] = {}
    paths = _images(dataset, split)
    for k, path in enumerate(paths):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"unreadable image {path}")
        det = detector(image, conf=min_det, iou=0.7)
        sel = np.isin(det.classes, list(ours))
        found[path.stem] = [[*map(float, b), float(s)] for b, s in zip(det.boxes[sel], det.scores[sel], strict=True)]
        if k % 500 == 0:
            log.info("mined %d/%d %s images", k, len(paths), split)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"model": str(model), "min_det": min_det, "candidates": found}))
    return found


def _jitter(box: npt.NDArray[np.float32], rng: np.random.Generator, amount: float = 0.1) -> npt.NDArray[np.float32]:
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    cx, cy = (x1 + x2) / 2 + rng.uniform(-amount, amount) * w, (y1 + y2) / 2 + rng.uniform(-amount, amount) * h
    w, h = w * rng.uniform(1 - amount * 1.5, 1 + amount * 1.5), h * rng.uniform(1 - amount * 1.5, 1 + amount * 1.5)
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], np.float32)


def _random_box(w: int, h: int, rng: np.random.Generator) -> npt.NDArray[np.float32]:
    bw = w * rng.uniform(0.05, 0.3)
    bh = bw * float(np.exp(rng.uniform(np.log(0.3), np.log(1.6))))
    x1, y1 = rng.uniform(0, max(1.0, w - bw)), rng.uniform(0, max(1.0, h - bh))
    return np.array([x1, y1, x1 + bw, y1 + bh], np.float32)


def build_crops(dataset: Path, split: str, model: Path, spec: CropSpec, out: Path, *, min_det: float = 0.05,
                jitters: int = 4, seed: int = 0) -> dict[str, int]:
    """Write ``out/crops-<split>-<size>.npz`` (x: uint8 N×S×S×3 BGR, y: 0/1, kind) and return counts."""
    rng = np.random.default_rng(seed)
    candidates = mine_candidates(dataset, split, model, min_det, out / f"candidates-{split}.json")
    placards = placards_of(dataset, split)
    xs: list[Image] = []
    ys: list[int] = []
    kinds: list[str] = []
    counts: Counter[str] = Counter()

    def add(image: Image, box: npt.NDArray[np.float32], label: int, kind: str) -> None:
        xs.append(crop(image, box, spec))
        ys.append(label)
        kinds.append(kind)
        counts[kind] += 1

    for path in _images(dataset, split):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"unreadable image {path}")
        h, w = image.shape[:2]
        gt = np.array([[b.x1, b.y1, b.x2, b.y2] for b in read_yolo(dataset / "labels" / split / f"{path.stem}.txt",
                                                                   w, h) if b.cls == SIGN], np.float32).reshape(-1, 4)
        for box in gt:
            for _ in range(jitters):
                add(image, _jitter(box, rng), 1, "gt_sign")
        for placard in placards.get(path.stem, []):
            pbox = np.array(placard, np.float32)
            if len(gt) and iou_matrix(pbox[None], gt).max() > NEG_IOU:
                continue  # mostly under a pasted sign
            for _ in range(jitters):
                add(image, _jitter(pbox, rng), 0, "placard")
        cands = np.array(candidates.get(path.stem, []), np.float32).reshape(-1, 5)
        if len(cands):
            best = iou_matrix(cands[:, :4], gt).max(axis=1) if len(gt) else np.zeros(len(cands), np.float32)
            for cand, iou in zip(cands, best, strict=True):
                if iou >= POS_IOU:
                    add(image, cand[:4], 1, "det_tp")
                elif iou < NEG_IOU:
                    add(image, cand[:4], 0, "det_fp")
        for _ in range(20):  # one random sign-sized box that is not a sign
            rbox = _random_box(w, h, rng)
            if not len(gt) or iou_matrix(rbox[None], gt).max() < 0.1:
                add(image, rbox, 0, "random")
                break
    x = np.stack(xs) if xs else np.zeros((0, spec.size, spec.size, 3), np.uint8)
    out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out / f"crops-{split}-{spec.size}.npz", x=x, y=np.array(ys, np.int64),
                        kind=np.array(kinds))
    summary = {**dict(counts), "positives": int(sum(ys)), "negatives": len(ys) - int(sum(ys))}
    (out / f"crops-{split}-{spec.size}.json").write_text(json.dumps(
        {"split": split, "size": spec.size, "margin": spec.margin, "min_det": min_det, "jitters": jitters,
         "dataset": str(dataset), "detector": str(model), "counts": summary}, indent=2))
    return summary
