"""``counterwatch models evaluate --person-level``: per clerk box, does the system say phone use / eating /
drinking / dozing? Precision, recall and a confusion table (onnxruntime only).

    counterwatch models evaluate --person-level --model models/ --data /work/data/person-level/clerk-clips \
        --split val --json

``--data`` is a person-level set: YOLO (images/<split>, labels/<split>, data.yaml ``names``: boxes are
*persons*, the class is the behaviour) or a COCO json (person boxes whose category names are behaviours).
Names are mapped to :data:`models.behaviour.BEHAVIOURS` (aliases such as ``using_phone``, ``sleep``; anything
else with ``--class-map name=behaviour,...``). ``--model`` is the folder holding manifest.json (detector +
behaviour stage as shipped) or a detector ONNX with ``--stage geometric`` (the old rule: a phone box whose
centre is inside the person box is phone use; food in the upper two thirds is eating).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from models.behaviour import BEHAVIOURS, BehaviourModel, CropSpec, ObjectBox, grown
from models.data.labels import read_yolo
from models.infer import OnnxDetector
from models.person_metrics import PersonAccumulator, PersonEvaluation

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
ALIASES: dict[str, str] = {
    "using_phone": "phone_use", "phone": "phone_use", "phone_call": "phone_use", "phone_browse": "phone_use",
    "calling": "phone_use", "texting": "phone_use", "play_phone": "phone_use", "sleep": "dozing",
    "sleeping": "dozing", "eat": "eating", "drink": "drinking", "normal": "none", "other": "none",
}


def behaviour_of(name: str, extra: dict[str, str]) -> str:
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    out = extra.get(name) or extra.get(key) or (key if key in BEHAVIOURS else ALIASES.get(key))
    if out is None or out not in BEHAVIOURS:
        raise ValueError(f"class {name!r} is no behaviour of {BEHAVIOURS}; map it with --class-map {name}=...")
    return out


def parse_class_map(text: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in text.split(",") if "=" in part)


def _yaml_names(path: Path) -> list[str]:
    import yaml

    names = yaml.safe_load(path.read_text())["names"]
    return [names[k] for k in sorted(names)] if isinstance(names, dict) else list(names)


@dataclass(frozen=True)
class Item:
    image: Path
    boxes: np.ndarray  # (n, 4) person boxes, xyxy pixels
    labels: list[str]


def load_items(data: Path, split: str, class_map: dict[str, str]) -> list[Item]:
    if data.suffix == ".json":
        coco = json.loads(data.read_text())
        cats = {c["id"]: behaviour_of(c["name"], class_map) for c in coco["categories"]}
        anns: dict[int, list[dict[str, object]]] = {}
        for a in coco["annotations"]:
            anns.setdefault(int(a["image_id"]), []).append(a)
        items = []
        for im in coco["images"]:
            rows = anns.get(int(im["id"]), [])
            boxes = np.array([[a["bbox"][0], a["bbox"][1], a["bbox"][0] + a["bbox"][2],  # type: ignore[index]
                               a["bbox"][1] + a["bbox"][3]] for a in rows], np.float32).reshape(-1, 4)  # type: ignore[index]
            items.append(Item(data.parent / str(im["file_name"]), boxes,
                              [cats[int(a["category_id"])] for a in rows]))  # type: ignore[call-overload]
        return items
    names = _yaml_names(data / "data.yaml")
    mapped = [behaviour_of(n, class_map) for n in names]
    items = []
    for path in sorted(p for p in (data / "images" / split).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"unreadable image {path}")
        h, w = image.shape[:2]
        gt = read_yolo(data / "labels" / split / f"{path.stem}.txt", w, h)
        items.append(Item(path, np.array([[b.x1, b.y1, b.x2, b.y2] for b in gt], np.float32).reshape(-1, 4),
                          [mapped[b.cls] for b in gt]))
    return items


@dataclass
class Stage:
    """What the system runs per image: detector persons + objects, then a verdict per person."""

    detector: OnnxDetector
    model: BehaviourModel | None
    thresholds: dict[str, float]
    person_conf: float = 0.3

    def verdicts(self, image: np.ndarray) -> tuple[np.ndarray, list[str], float]:
        det = self.detector(image, conf=0.05, iou=0.7)
        names = [self.detector.names[int(c)] for c in det.classes]
        persons = [tuple(map(float, b)) for b, n, s in zip(det.boxes, names, det.scores, strict=True)
                   if n == "person" and s >= self.person_conf]
        objects = [ObjectBox(n, tuple(map(float, b)), float(s))  # type: ignore[arg-type]
                   for b, n, s in zip(det.boxes, names, det.scores, strict=True) if n in ("phone", "food", "drink")]
        t0 = time.perf_counter()
        labels = (self._stage(image, persons, objects) if self.model is not None
                  else [geometric(p, objects, self.thresholds) for p in persons])
        return np.array(persons, np.float32).reshape(-1, 4), labels, time.perf_counter() - t0

    def _stage(self, image: np.ndarray, persons: Sequence[tuple[float, ...]], objects: list[ObjectBox]) -> list[str]:
        assert self.model is not None
        probs = self.model.probs(image, persons, objects)
        return [decide(row, self.model.classes, self.thresholds) for row in probs]


def decide(probs: np.ndarray, classes: Sequence[str], thresholds: dict[str, float]) -> str:
    """The behaviour with the highest probability among those at or over their threshold; else none."""
    best, label = -1.0, "none"
    for p, c in zip(probs, classes, strict=True):
        if c != "none" and p >= thresholds.get(c, 0.5) and p > best:
            best, label = float(p), c
    return label


def geometric(person: Sequence[float], objects: Sequence[ObjectBox], thresholds: dict[str, float]) -> str:
    """The v1 rule (edge/behaviours.py before the second stage), for comparison."""
    gx1, gy1, gx2, gy2 = grown(person, 0.1)
    conf = thresholds.get("object", 0.3)
    upper_y = person[1] + (person[3] - person[1]) * 2 / 3
    for o in objects:
        cx, cy = (o.box[0] + o.box[2]) / 2, (o.box[1] + o.box[3]) / 2
        if o.score < conf or not (gx1 <= cx <= gx2 and gy1 <= cy <= gy2):
            continue
        if o.label == "phone":
            return "phone_use"
        if o.label == "food" and cy <= upper_y:
            return "eating"
    return "none"


def stage_from_manifest(model_dir: Path, imgsz: int | None = None) -> tuple[Stage, str]:
    from models.manifest import load, verify, verify_behaviour

    manifest = load(model_dir)
    detector = OnnxDetector(verify(model_dir), imgsz=imgsz)
    path = verify_behaviour(model_dir)
    entry = manifest.behaviour
    if path is None or entry is None:
        raise SystemExit(f"{model_dir}: the manifest ships no behaviour stage (use --stage geometric)")
    model = BehaviourModel(path, CropSpec(entry.input.size, entry.input.margin), entry.classes)
    return Stage(detector, model, dict(entry.thresholds)), f"{manifest.name} + {entry.file}"


def evaluate(stage: Stage, data: Path, split: str, class_map: dict[str, str] | None = None, limit: int = 0,
             description: str = "") -> PersonEvaluation:
    items = load_items(data, split, class_map or {})
    if limit:
        items = items[:limit]
    acc = PersonAccumulator(BEHAVIOURS)
    spent, persons = 0.0, 0
    for item in items:
        image = cv2.imread(str(item.image), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"unreadable image {item.image}")
        boxes, labels, dt = stage.verdicts(image)
        spent += dt
        persons += len(labels)
        acc.add(item.boxes, item.labels, boxes, labels)
    ms = round(spent * 1000 / persons, 3) if persons else None
    return acc.result(str(data), split, description, ms)


def main(args: argparse.Namespace) -> int:
    if args.stage == "geometric":
        model_path = args.model / "manifest.json" if args.model.is_dir() else args.model
        if model_path.suffix == ".json":
            from models.manifest import verify
            model_path = verify(args.model)
        stage = Stage(OnnxDetector(model_path, imgsz=args.imgsz), None, {"object": args.conf})
        what = f"{model_path.name} + geometric rule"
    else:
        stage, what = stage_from_manifest(args.model, args.imgsz)
    report = evaluate(stage, args.data, args.split or "val", parse_class_map(args.class_map_person),
                      args.limit, what)
    if args.json:
        print(report.model_dump_json(indent=2))
    else:
        print(f"{report.data} [{report.split}] {what}: {report.images} images, {report.persons} persons, "
              f"presence recall {report.presence_recall}")
        for name, m in report.classes.items():
            print(f"  {name:10s} support {m.support:4d} predicted {m.predicted:4d} P {m.precision} R {m.recall}")
        print("  confusion (truth -> predicted):", json.dumps(report.confusion))
    return 0
