"""Body-pose cues for the behaviour stage, measured before adoption (issue #14): do MediaPipe's pose
landmarks tell phone use, drinking or dozing apart from everything else, on real person-level data?

Not a runtime part, and MediaPipe is no project dependency. Its wheels up to 0.10.14 carry the pose model
offline (``mediapipe/modules/pose_landmark/pose_landmark_full.tflite``; 0.10.15 and later fetch models at
run time), so landmarks are extracted in a venv of their own and evaluated in the project's::

    python3 -m venv /work/mp-venv && /work/mp-venv/bin/pip install mediapipe==0.10.14
    /work/mp-venv/bin/python -m models.pose_cues extract --photos /work/data/behave/stanford40-actions \
        --out /work/data/behave/pose/stanford40-actions.json
    /work/mp-venv/bin/python -m models.pose_cues extract \
        --person-set /work/data/behave/person-level/suspisense-phone --out /work/data/behave/pose/suspisense.json
    python -m models.pose_cues evaluate /work/data/behave/pose/*.json

``extract`` runs the pose landmarker on every person crop (a person-level set's boxes grown by a quarter, as
MediaPipe wants a person-centred crop) or whole photo (a class-folder photo set, :mod:`models.data.action_photos`)
of the train and val splits. ``evaluate`` turns landmarks into a few scale-free cues (:func:`cues_of`) and
prints, per set and behaviour, the val ROC AUC of each cue and of a logistic regression on all of them
fitted on train only. Results: models/README.md, "Pose cues (MediaPipe), measured".
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

# Stanford 40 / State Farm folder names -> the behaviour stage's classes (the rest: none).
PHOTO_LABELS = {"phoning": "phone_use", "phone_left": "phone_use", "phone_right": "phone_use",
                "texting_left": "phone_use", "texting_right": "phone_use", "drinking": "drinking",
                "sleeping": "dozing"}
PERSON_LABELS = ("none", "phone_use", "eating", "drinking", "dozing")  # models/behaviour_data.py's data.yaml
CUES = ("hand_to_ear", "hand_to_nose", "wrists_apart", "wrists_below_shoulders", "nose_below_shoulders",
        "face_visibility")
NO_POSE = (9.0, 9.0, 9.0, 9.0, -9.0, 0.0)  # no person found: hands far from the face, head up, face unseen
MARGIN = 0.25

# MediaPipe pose landmark indices.
NOSE, L_EYE, R_EYE, L_EAR, R_EAR = 0, 2, 5, 7, 8
L_SHOULDER, R_SHOULDER, L_WRIST, R_WRIST, L_INDEX, R_INDEX = 11, 12, 15, 16, 19, 20


def cues_of(landmarks: Sequence[Sequence[float]] | None, width: int, height: int) -> tuple[float, ...]:
    """Landmarks (33 x [x, y, visibility], x and y normalised to the crop) -> :data:`CUES`, distances in
    shoulder widths so that a near and a far clerk read alike; y grows downwards."""
    if landmarks is None:
        return NO_POSE
    lm = np.asarray(landmarks, dtype=np.float64)
    xy, visibility = lm[:, :2] * (width, height), lm[:, 2]
    shoulders = float(np.linalg.norm(xy[L_SHOULDER] - xy[R_SHOULDER])) + 1e-6
    shoulder_y = (xy[L_SHOULDER, 1] + xy[R_SHOULDER, 1]) / 2
    hands = xy[[L_WRIST, R_WRIST, L_INDEX, R_INDEX]]

    def nearest(points: np.ndarray, target: np.ndarray) -> float:
        return float(np.linalg.norm(points[:, None, :] - target[None, :, :], axis=2).min()) / shoulders

    return (nearest(hands, xy[[L_EAR, R_EAR]]), nearest(hands, xy[[NOSE]]),
            float(np.linalg.norm(xy[L_WRIST] - xy[R_WRIST])) / shoulders,
            float(min(xy[L_WRIST, 1], xy[R_WRIST, 1]) - shoulder_y) / shoulders,
            float(xy[NOSE, 1] - shoulder_y) / shoulders,
            float(visibility[[NOSE, L_EYE, R_EYE, L_EAR, R_EAR]].mean()))


# -- extract (in the MediaPipe venv) ------------------------------------------------------------------------


def _photos(root: Path) -> Iterator[tuple[str, str, str, Path, tuple[int, int, int, int] | None]]:
    for split in ("train", "val"):
        for folder in sorted(p for p in (root / split).iterdir() if p.is_dir()):
            for image in sorted(folder.glob("*.jpg")):
                yield split, PHOTO_LABELS.get(folder.name, "none"), image.stem, image, None


def _persons(root: Path) -> Iterator[tuple[str, str, str, Path, tuple[int, int, int, int] | None]]:
    import cv2

    for split in ("train", "val"):
        for labels in sorted((root / "labels" / split).glob("*.txt")):
            lines = [line.split() for line in labels.read_text().splitlines() if line.strip()]
            image = next((root / "images" / split).glob(labels.stem + ".*"), None)
            pixels = None if image is None else cv2.imread(str(image))
            if not lines or image is None or pixels is None:
                continue
            h, w = pixels.shape[:2]
            for k, (cls, cx, cy, bw, bh) in enumerate(lines):
                half_w, half_h = float(bw) * w / 2 * (1 + MARGIN), float(bh) * h / 2 * (1 + MARGIN)
                x, y = float(cx) * w, float(cy) * h
                box = (int(max(0, x - half_w)), int(max(0, y - half_h)),
                       int(min(w, x + half_w)), int(min(h, y + half_h)))
                yield split, PERSON_LABELS[int(cls)], f"{labels.stem}#{k}", image, box


def extract(args: argparse.Namespace) -> int:
    import cv2
    import mediapipe as mp  # 0.10.14: the pose model inside the wheel

    items = _photos(args.photos) if args.photos else _persons(args.person_set)
    pose = mp.solutions.pose.Pose(static_image_mode=True, model_complexity=1, min_detection_confidence=0.3)
    rows: list[dict[str, Any]] = []
    cpu = 0.0
    for split, label, name, path, box in items:
        image = cv2.imread(str(path))
        if image is None:
            continue
        if box is not None:
            image = image[box[1]:box[3], box[0]:box[2]]
        if image.size == 0:
            continue
        t = time.process_time()
        found = pose.process(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)).pose_landmarks
        cpu += time.process_time() - t
        rows.append({"split": split, "label": label, "name": name, "width": image.shape[1],
                     "height": image.shape[0],
                     "landmarks": [[p.x, p.y, p.visibility] for p in found.landmark] if found else None})
    source = str(args.photos or args.person_set)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"source": source, "mediapipe": mp.__version__, "model_complexity": 1,
                                    "ms_cpu_per_crop": round(cpu * 1000 / max(1, len(rows)), 1), "rows": rows}))
    print(f"{len(rows)} crops of {source}: {cpu * 1000 / max(1, len(rows)):.1f} ms CPU each -> {args.out}")
    return 0


# -- evaluate (in the project's venv) -----------------------------------------------------------------------


def evaluate_rows(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per behaviour with val examples: each cue's val AUC (the better of its two directions, so the
    figure says how well the cue separates, not which way) and a train-fitted logistic regression's."""
    from models.behaviour_train import fit, predict
    from models.metrics import roc_auc

    split = {s: [r for r in rows if r["split"] == s] for s in ("train", "val")}
    x = {s: np.array([cues_of(r["landmarks"], r["width"], r["height"]) for r in split[s]]).reshape(-1, len(CUES))
         for s in split}
    out: dict[str, Any] = {
        "persons": {s: len(split[s]) for s in split},
        "pose_found": {s: round(sum(r["landmarks"] is not None for r in split[s]) / max(1, len(split[s])), 3)
                       for s in split}}
    for behaviour in sorted({r["label"] for r in split["val"]} - {"none"}):
        y = {s: np.array([r["label"] == behaviour for r in split[s]]) for s in split}
        report: dict[str, Any] = {
            "val_positives": int(y["val"].sum()),
            "pose_found_val_positives": round(float(np.mean([r["landmarks"] is not None for r in split["val"]
                                                             if r["label"] == behaviour])), 3),
            "val_auc": {name: round(max(a, 1 - a), 3)
                        for name, a in ((n, roc_auc(x["val"][:, i], y["val"])) for i, n in enumerate(CUES))}}
        if 0 < y["train"].sum() < len(y["train"]):
            mean, std = x["train"].mean(axis=0), x["train"].std(axis=0) + 1e-6
            w, b = fit((x["train"] - mean) / std, y["train"].astype(np.int64), 2, 0.01)
            report["val_auc"]["logistic_all_cues"] = round(
                roc_auc(predict((x["val"] - mean) / std, w, b)[:, 1], y["val"]), 3)
        out[behaviour] = report
    return out


def evaluate(args: argparse.Namespace) -> int:
    report = {}
    for path in args.files:
        doc = json.loads(path.read_text())
        report[path.stem] = {"source": doc["source"], "mediapipe": doc["mediapipe"],
                             "ms_cpu_per_crop": doc["ms_cpu_per_crop"], **evaluate_rows(doc["rows"])}
    print(json.dumps(report, indent=1))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("extract", help="pose landmarks of every crop (needs mediapipe==0.10.14)")
    src = e.add_mutually_exclusive_group(required=True)
    src.add_argument("--photos", type=Path, help="class-folder photo set: <dir>/<split>/<class>/*.jpg")
    src.add_argument("--person-set", type=Path, help="person-level YOLO set (models/behaviour_data.py)")
    e.add_argument("--out", type=Path, required=True)
    v = sub.add_parser("evaluate", help="val AUC of each cue and of their train-fitted combination")
    v.add_argument("files", type=Path, nargs="+")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return extract(args) if args.command == "extract" else evaluate(args)


if __name__ == "__main__":
    sys.exit(main())
