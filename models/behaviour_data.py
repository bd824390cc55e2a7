"""Person-level behaviour sets and their cached crop features (runtime venv; resumable; logs under var/).

    python -m models.behaviour_data persons --set suspisense-phone --images ../shared/datasets/suspisense-phone \
        --phone-class 3 --out /work/data/person-level/suspisense-phone
    python -m models.behaviour_data features --person-set /work/data/person-level/suspisense-phone \
        --cache var/behaviour/features

``persons``: the shipped detector's person boxes (its operating threshold, full frame) become the clerks;
each human-labelled *held* phone box is given to the smallest person box whose grown box holds its centre,
and that person is ``phone_use``; everyone else is ``none``. Written as a YOLO person-level set (class ids
index :data:`models.behaviour.BEHAVIOURS`, images as symlinks) that ``counterwatch models evaluate
--person-level`` reads like any other. ``features``: per person, the frozen feature graph's pooled neck
features (global, plus a spatial grid with ``--grid``) of the crop and of its mirror image, plus the detector
cues, cached per split and recipe as .npz (a finished split is never recomputed). ``photos``: one-label
photos in class folders (models/data/action_photos.py) become a person-level set whose subject is each
photo's largest detected person (:func:`build_photos`).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnxruntime as ort

from models.behaviour import BEHAVIOURS, CropSpec, ObjectBox, blob, cues_for, cut, grown
from models.behaviour_onnx import feature_model
from models.data.labels import Box, read_yolo
from models.infer import OnnxDetector
from vision.clerk import CUE_CONFIDENCE

ROOT = Path(__file__).resolve().parents[1]
DETECTOR = ROOT / "models/counterwatch-det-v1.onnx"
PERSON_CONF = 0.3  # edge default detector.confidence
CUE_CONF = CUE_CONFIDENCE  # the floor the edge hands the stage its cues at (vision/clerk.py)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def assign_phones(persons: list[tuple[float, float, float, float]], phones: list[Box], margin: float = 0.1
                  ) -> list[int]:
    """Per person: 1 when a held phone is assigned to them (smallest containing grown box), else 0."""
    flags = [0] * len(persons)
    for ph in phones:
        cx, cy = (ph.x1 + ph.x2) / 2, (ph.y1 + ph.y2) / 2
        best, area = -1, float("inf")
        for i, p in enumerate(persons):
            gx1, gy1, gx2, gy2 = grown(p, margin)
            a = (p[2] - p[0]) * (p[3] - p[1])
            if gx1 <= cx <= gx2 and gy1 <= cy <= gy2 and a < area:
                best, area = i, a
        if best >= 0:
            flags[best] = 1
    return flags


def detect_objects(detector: OnnxDetector, image: np.ndarray) -> tuple[list[tuple[float, float, float, float]],
                                                                          list[ObjectBox]]:
    det = detector(image, conf=CUE_CONF, iou=0.7)
    persons, objects = [], []
    for b, s, c in zip(det.boxes, det.scores, det.classes, strict=True):
        name = detector.names[int(c)]
        if name == "person" and s >= PERSON_CONF:
            persons.append((float(b[0]), float(b[1]), float(b[2]), float(b[3])))
        elif name in ("phone", "food", "drink"):
            objects.append(ObjectBox(name, (float(b[0]), float(b[1]), float(b[2]), float(b[3])), float(s)))
    return persons, objects


def build_persons(name: str, images: Path, phone_classes: set[int], out: Path, detector_path: Path = DETECTOR,
                  imgsz: int | None = None) -> dict[str, object]:
    detector = OnnxDetector(detector_path, imgsz=imgsz)
    counts: dict[str, int] = {}
    for split in ("train", "val"):
        src = images / "images" / split
        if not src.is_dir():
            continue
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
        for path in sorted(p for p in src.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                raise ValueError(f"unreadable image {path}")
            h, w = image.shape[:2]
            persons, _ = detect_objects(detector, image)
            phones = [b for b in read_yolo(images / "labels" / split / f"{path.stem}.txt", w, h)
                      if b.cls in phone_classes]
            flags = assign_phones(persons, phones)
            link = out / "images" / split / path.name
            if not link.exists():
                os.symlink(path.resolve(), link)
            lines = [Box(BEHAVIOURS.index("phone_use") if f else 0, *p).to_yolo(w, h)
                     for p, f in zip(persons, flags, strict=True)]
            (out / "labels" / split / f"{path.stem}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
            counts[f"{split}_images"] = counts.get(f"{split}_images", 0) + 1
            counts[f"{split}_persons"] = counts.get(f"{split}_persons", 0) + len(persons)
            counts[f"{split}_phone_use"] = counts.get(f"{split}_phone_use", 0) + sum(flags)
            counts[f"{split}_phones_unassigned"] = counts.get(f"{split}_phones_unassigned", 0) + len(phones) - sum(
                flags)
    _write_yaml(out)
    summary = {"set": name, "source": str(images), "detector": detector_path.name, "imgsz": detector.imgsz,
               "person_conf": PERSON_CONF,
               "counts": counts}
    (out / "PERSONS.json").write_text(json.dumps(summary, indent=2))
    return summary


PHOTO_SETS: dict[str, dict[str, str]] = {
    # folder class -> behaviour; every other class of the set is a person doing something else ("none")
    "stanford40-actions": {"phoning": "phone_use", "drinking": "drinking", "sleeping": "dozing"},
    "statefarm-drivers": {"texting_right": "phone_use", "texting_left": "phone_use", "phone_right": "phone_use",
                          "phone_left": "phone_use", "drinking": "drinking"},
}


def build_photos(name: str, root: Path, class_map: dict[str, str], out: Path, detector_path: Path = DETECTOR,
                 imgsz: int | None = None) -> dict[str, object]:
    """A person-level set from one-label photos (``root/<split>/<class>/<image>``, models/data/action_photos.py).

    The photo's subject is the largest person box the detector finds at the edge's operating threshold, and
    only the subject is labelled (another person in the photo may or may not share the action). Where the
    detector finds nobody the whole photo is the subject's box, so the evaluation counts that person as
    missed (presence recall) instead of silently dropping the photo."""
    detector = OnnxDetector(detector_path, imgsz=imgsz)
    counts: dict[str, int] = {}
    for split in ("train", "val"):
        if not (root / split).is_dir():
            continue
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
        for path in sorted(p for p in (root / split).glob("*/*") if p.suffix.lower() in IMAGE_SUFFIXES):
            behaviour = class_map.get(path.parent.name, "none")
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                raise ValueError(f"unreadable image {path}")
            h, w = image.shape[:2]
            persons, _ = detect_objects(detector, image)
            if persons:
                subject = max(persons, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]))
            else:
                subject = (0.0, 0.0, float(w), float(h))
                counts[f"{split}_no_person_detected"] = counts.get(f"{split}_no_person_detected", 0) + 1
            link = out / "images" / split / path.name
            if not link.exists():
                os.symlink(path.resolve(), link)
            (out / "labels" / split / f"{path.stem}.txt").write_text(
                Box(BEHAVIOURS.index(behaviour), *subject).to_yolo(w, h) + "\n")
            counts[f"{split}_{behaviour}"] = counts.get(f"{split}_{behaviour}", 0) + 1
            counts[f"{split}_other_persons"] = counts.get(f"{split}_other_persons", 0) + max(0, len(persons) - 1)
    _write_yaml(out)
    summary = {"set": name, "source": str(root), "detector": detector_path.name, "imgsz": detector.imgsz,
               "person_conf": PERSON_CONF, "class_map": class_map, "counts": dict(sorted(counts.items()))}
    (out / "PERSONS.json").write_text(json.dumps(summary, indent=2))
    return summary


def _write_yaml(out: Path) -> None:
    (out / "data.yaml").write_text(
        "# person-level behaviour labels (models/behaviour_data.py)\npath: .\ntrain: images/train\n"
        "val: images/val\nnames:\n" + "".join(f"  {i}: {n}\n" for i, n in enumerate(BEHAVIOURS)))


def variant_name(spec: CropSpec, grid: tuple[int, int] = (0, 0), crop_scores: bool = False, gray: bool = False
                 ) -> str:
    """The cache / run key of one feature recipe: crop size, margin (percent), pooling grid, crop scores,
    luma crops."""
    return (f"s{spec.size}m{round(spec.margin * 100):02d}g{grid[0]}x{grid[1]}" + ("d" if crop_scores else "")
            + ("y" if gray else ""))


def extract_features(person_set: Path, cache: Path, spec: CropSpec, detector_path: Path = DETECTOR,
                     log: Path | None = None, grid: tuple[int, int] = (0, 0), flip: bool = True,
                     crop_scores: bool = False, gray: bool = False) -> list[Path]:
    """Cache per split ``<set>-<split>-<variant>.npz``: X (n, F) features, Xf (n, F) the same of the
    mirrored crop (``flip``; a training-time augmentation, never a second person), C (n, 3) cues, y (n,),
    image (n,) names, box (n, 4). A finished split is never recomputed."""
    import onnx

    cache.mkdir(parents=True, exist_ok=True)
    variant = variant_name(spec, grid, crop_scores, gray)
    feat_path = cache / f"feature-graph-{variant}.onnx"
    if not feat_path.exists():
        onnx.save(feature_model(detector_path, spec.size, grid, crop_scores, gray), str(feat_path))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    sess = ort.InferenceSession(str(feat_path), opts, providers=["CPUExecutionProvider"])
    detector = OnnxDetector(detector_path)
    written = []
    for split in ("train", "val"):
        out = cache / f"{person_set.name}-{split}-{variant}.npz"
        src = person_set / "images" / split
        if out.exists() or not src.is_dir():
            written.append(out)
            continue
        xs: list[np.ndarray] = []
        xfs: list[np.ndarray] = []
        cs: list[np.ndarray] = []
        ys: list[int] = []
        names: list[str] = []
        boxes: list[tuple[float, float, float, float]] = []
        t0 = time.time()
        for k, path in enumerate(sorted(p for p in src.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)):
            image = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if image is None:
                raise ValueError(f"unreadable image {path}")
            h, w = image.shape[:2]
            people = read_yolo(person_set / "labels" / split / f"{path.stem}.txt", w, h)
            if not people:
                continue
            _, objects = detect_objects(detector, image)
            pboxes = [(b.x1, b.y1, b.x2, b.y2) for b in people]
            crops = blob([cut(image, b, spec) for b in pboxes])
            xs.append(sess.run(["features"], {"images": crops})[0])
            if flip:
                xfs.append(sess.run(["features"], {"images": np.ascontiguousarray(crops[..., ::-1])})[0])
            cs.append(np.stack([cues_for(b, objects, spec.margin) for b in pboxes]))
            ys.extend(b.cls for b in people)
            names.extend([path.name] * len(people))
            boxes.extend(pboxes)
            if log is not None and k % 50 == 0:
                with log.open("a") as f:
                    f.write(f"{person_set.name}/{split}/{variant}: {k} images, {len(ys)} persons, "
                            f"{time.time() - t0:.0f}s\n")
        arrays: dict[str, Any] = {"X": np.concatenate(xs), "C": np.concatenate(cs), "y": np.asarray(ys, np.int64),
                  "image": np.asarray(names), "box": np.asarray(boxes, np.float32)}
        if flip:
            arrays["Xf"] = np.concatenate(xfs)
        tmp = out.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, **arrays)
        tmp.rename(out)  # a killed job leaves no half-written cache behind
        written.append(out)
    return written


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("persons")
    a.add_argument("--set", required=True)
    a.add_argument("--images", type=Path, required=True, help="YOLO set: images/{train,val}, labels/{train,val}")
    a.add_argument("--phone-class", type=int, action="append", default=[])
    a.add_argument("--out", type=Path, required=True)
    a.add_argument("--imgsz", type=int, default=None, help="detector input size (default: the model's, 320)")
    ph = sub.add_parser("photos", help="one-label photos in class folders -> person-level set")
    ph.add_argument("--set", required=True, choices=sorted(PHOTO_SETS))
    ph.add_argument("--images", type=Path, required=True, help="<split>/<class>/<image> (models/data/action_photos.py)")
    ph.add_argument("--out", type=Path, required=True)
    ph.add_argument("--imgsz", type=int, default=None, help="detector input size (default: the model's, 320)")
    f = sub.add_parser("features")
    f.add_argument("--person-set", type=Path, required=True)
    f.add_argument("--cache", type=Path, default=ROOT / "var/behaviour/features")
    f.add_argument("--size", type=int, default=CropSpec().size)
    f.add_argument("--margin", type=float, default=CropSpec().margin)
    f.add_argument("--grid", type=int, nargs=2, default=(0, 0), metavar=("ROWS", "COLS"),
                   help="also average-pool each neck map over a ROWS x COLS grid")
    f.add_argument("--no-flip", action="store_true", help="skip the mirrored-crop features")
    f.add_argument("--crop-scores", action="store_true",
                   help="also the detector head's best phone / food / drink scores on the crop (last 3 columns)")
    f.add_argument("--gray", action="store_true", help="the graph turns every crop to luma first")
    args = p.parse_args()
    if args.cmd == "persons":
        print(json.dumps(build_persons(args.set, args.images, set(args.phone_class), args.out,
                                                  imgsz=args.imgsz), indent=2))
    elif args.cmd == "photos":
        print(json.dumps(build_photos(args.set, args.images, PHOTO_SETS[args.set], args.out, imgsz=args.imgsz),
                         indent=2))
    else:
        log = args.cache / "features.log"
        args.cache.mkdir(parents=True, exist_ok=True)
        for path in extract_features(args.person_set, args.cache, CropSpec(args.size, args.margin), log=log,
                                     grid=tuple(args.grid), flip=not args.no_flip, crop_scores=args.crop_scores,
                                     gray=args.gray):
            print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
