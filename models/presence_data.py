"""Training candidates for the presence verifier: the detector's own person candidates, labelled from real data.

    python -m models.presence_data --out /work/data/presence/features \
        --coco /work/data/presence/coco128 --shared ../shared/datasets

Every sample is what the edge's verifier will see: a person candidate of the shipped detector at a low floor
(``FLOOR``, under every config's confidence) and its cues (vision/presence.py: the detector's score and
the COCO teacher's person / seat / object scores on the candidate's crop). Labels:

* ``coco128`` (models/datasets/presence-candidates.md), its 128 COCO val2017 images (the teacher never trained
  on them): IoU >= 0.5 with a COCO person box -> person; IoU < 0.1 with every person box -> not a person
  (chairs, couches, bags, screens the detector took for people).
* ``suspisense-phone`` train split: IoU >= 0.5 with a human-drawn person-level box -> person (no negatives:
  not every person there is boxed).
* the TRAIN clips of :mod:`models.presence_clips`: candidates in an empty-desk window -> not a person; in an
  occupied window, the window's best candidate (score >= 0.1) -> person (others there are dropped: a bag
  next to a student is no person).

Cache: ``<set>.npz`` with C (n, 4) cues, y, group (image or clip
window: the unit cross-validation folds on), box. Resumable: an existing set file is kept.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from models.data.labels import Box, box_iou, read_yolo
from models.presence_clips import TRAIN, ClipWindow, window_crop, zone_overlap
from vision.detector import Detection, Detector
from vision.letterbox import Image
from vision.presence import TeacherCues

ROOT = Path(__file__).resolve().parents[1]
DETECTOR = ROOT / "models/counterwatch-det-v1.onnx"
FLOOR = 0.05  # candidates from here up: below config/office-cctv.yaml's 0.08 and the edge default 0.3
TEACHER = ROOT / "var/presence/yolo11n-coco-init.onnx"  # models/presence_release.py exports it
SIZE, MARGIN, IOU = 192, 0.25, 0.3  # the teacher's crop: the box + a quarter on each side, at 192 px
CROP_PADDING = 0.15  # DetectorSettings.crop_padding's default: the window crop the edge detects in
STAFF_MIN_OVERLAP = 0.3  # RuleThresholds.staff_min_overlap's default: what makes a candidate a clerk
STEP_S = 0.5
COCO_PERSON = 0
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}

Sample = tuple[Image, list[tuple[Detection, int]], str]  # image, labelled candidates, group


def _read(path: Path) -> Image:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"unreadable image {path}")
    return image


def _iou(d: Detection, b: Box) -> float:
    return box_iou(Box(0, *d.box), b)


def coco_samples(root: Path, detector: Detector, splits: tuple[str, ...] = ("val2017",)) -> Iterator[Sample]:
    """Only COCO *val* images by default: the teacher was pretrained on COCO train2017, so its scores on
    train images are better than it will ever do on a new camera."""
    for split in splits:
        for path in sorted((root / "images" / split).glob("*.jpg")):
            image = _read(path)
            h, w = image.shape[:2]
            people = [b for b in read_yolo(root / "object_detection/labels" / split / f"{path.stem}.txt", w, h)
                      if b.cls == COCO_PERSON]
            out = []
            for d in detector.detect(image, confidence=FLOOR):
                if d.label != "person":
                    continue
                best = max((_iou(d, b) for b in people), default=0.0)
                if best >= 0.5 or best < 0.1:
                    out.append((d, int(best >= 0.5)))
            yield image, out, f"coco-{split}/{path.stem}"


def suspisense_samples(root: Path, detector: Detector, every: int = 2) -> Iterator[Sample]:
    paths = sorted(p for p in (root / "images/train").iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    for path in paths[::every]:
        image = _read(path)
        h, w = image.shape[:2]
        people = read_yolo(root / "labels/train" / f"{path.stem}.txt", w, h)
        out = [(d, 1) for d in detector.detect(image, confidence=FLOOR)
               if d.label == "person" and max((_iou(d, b) for b in people), default=0.0) >= 0.5]
        yield image, out, f"suspisense/{path.stem}"


SEAT_LABELS = ROOT / "models/datasets/seat-occupancy-labels.json"


def seat_samples(root: Path, detector: Detector, labels: Path = SEAT_LABELS) -> Iterator[Sample]:
    """Library CCTV stills full of empty chairs seen from above (models/datasets/seat-occupancy-labels.json:
    the detector's candidates judged by eye); a candidate takes the label of the judged box it matches."""
    for frame in json.loads(labels.read_text())["frames"]:
        image = _read(root / frame["file"])
        judged = [(Box(0, *c["box"]), int(c["person"])) for c in frame["candidates"]]
        out = []
        for d in detector.detect(image, confidence=FLOOR):
            if d.label != "person":
                continue
            best = max(judged, key=lambda j: _iou(d, j[0]), default=None)
            if best is not None and _iou(d, best[0]) >= 0.7:
                out.append((d, best[1]))
        yield image, out, f"seats/{Path(frame['file']).stem}"


def window_candidates(detector: Detector, image: Image, cw: ClipWindow, confidence: float = FLOOR
                      ) -> list[Detection]:
    """The window's clerk candidates as the edge finds them: detector on the window crop, person boxes
    holding ``STAFF_MIN_OVERLAP`` of their area in the staff zone."""
    h, w = image.shape[:2]
    crop = window_crop([cw.staff, *cw.extra_zones], CROP_PADDING, (w, h))
    return [d for d in detector.detect_crops(image, [crop], confidence=confidence)[0]
            if d.label == "person" and zone_overlap(cw.staff, d.box, (w, h)) >= STAFF_MIN_OVERLAP]


def clip_frames(path: Path, step_s: float = STEP_S) -> Iterator[tuple[float, Image]]:
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    every, i = max(1, round(fps * step_s)), 0
    while True:
        ok, image = cap.read()
        if not ok:
            break
        if i % every == 0:
            yield i / fps, image
        i += 1
    cap.release()


def labelled_windows(shared: Path, windows: Sequence[ClipWindow]) -> Iterator[tuple[ClipWindow, float, Image, int]]:
    """(window, t, frame, truth) for every sampled frame of every window with truth at t; each clip read once."""
    for clip in sorted({cw.clip for cw in windows}):
        mine = [cw for cw in windows if cw.clip == clip]
        for t, image in clip_frames(shared / clip):
            for cw in mine:
                label = cw.label(t)
                if label is not None:
                    yield cw, t, image, label


def clip_samples(shared: Path, detector: Detector) -> Iterator[Sample]:
    for cw, _, image, label in labelled_windows(shared, TRAIN):
        cands = window_candidates(detector, image, cw)
        if label == 1:
            best = max(cands, key=lambda d: d.score, default=None)
            out = [(best, 1)] if best is not None and best.score >= 0.1 else []
        else:
            out = [(d, 0) for d in cands]
        yield image, out, f"clip/{cw.name}"


def extract(samples: Iterator[Sample], teacher: TeacherCues, out: Path, log: Path) -> dict[str, int]:
    cs: list[np.ndarray] = []
    ys: list[int] = []
    groups: list[str] = []
    boxes: list[tuple[float, float, float, float]] = []
    t0 = time.time()
    for k, (image, labelled, group) in enumerate(samples):
        if not labelled:
            continue
        cs.append(teacher.cues(image, [d.box for d, _ in labelled], [d.score for d, _ in labelled]))
        ys.extend(y for _, y in labelled)
        groups.extend([group] * len(labelled))
        boxes.extend(d.box for d, _ in labelled)
        if k % 50 == 0:
            with log.open("a") as f:
                f.write(f"{out.stem}: {k} images, {len(ys)} candidates, {time.time() - t0:.0f}s\n")
    y = np.asarray(ys, np.int64)
    np.savez_compressed(out, C=np.concatenate(cs), y=y,
                        group=np.asarray(groups), box=np.asarray(boxes, np.float32))
    return {"candidates": len(y), "person": int(y.sum()), "not_person": int((y == 0).sum())}


def main(args: argparse.Namespace) -> int:
    if "seats" in args.sets and args.seats is None:
        raise SystemExit("--sets seats needs --seats (a TheBlackCat22/Seat-Occupancy-Detection checkout)")
    args.out.mkdir(parents=True, exist_ok=True)
    teacher = TeacherCues(args.teacher, SIZE, MARGIN, IOU, threads=args.threads)
    detector = Detector(args.detector, confidence=FLOOR, threads=args.threads)
    sets = {
        "coco128": lambda: coco_samples(args.coco, detector),
        "suspisense": lambda: suspisense_samples(args.shared / "suspisense-phone", detector),
        "clips": lambda: clip_samples(args.shared, detector),
        "seats": lambda: seat_samples(args.seats, detector),  # measured, not in the shipped head (README)
    }
    counts_path = args.out / "COUNTS.json"
    counts = json.loads(counts_path.read_text()) if counts_path.exists() else {}
    for name, make in sets.items():
        if name not in args.sets or (args.out / f"{name}.npz").exists():
            continue
        counts[name] = extract(make(), teacher, args.out / f"{name}.npz", args.out / "extract.log")
        counts_path.write_text(json.dumps(counts, indent=2))
        print(name, counts[name], flush=True)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--coco", type=Path, required=True, help="coco128 (lightly-ai/coco128_yolo) folder")
    p.add_argument("--shared", type=Path, default=ROOT.parent / "shared/datasets")
    p.add_argument("--detector", type=Path, default=DETECTOR)
    p.add_argument("--teacher", type=Path, default=TEACHER)
    p.add_argument("--sets", nargs="+", default=["clips", "coco128", "suspisense"], help="add seats with --seats")
    p.add_argument("--seats", type=Path, help="TheBlackCat22/Seat-Occupancy-Detection checkout (its data/)")
    p.add_argument("--threads", type=int, default=2)
    return p


if __name__ == "__main__":
    raise SystemExit(main(parser().parse_args()))
