"""``counterwatch models evaluate``: per-class precision, recall and AP50 of an ONNX detector on a YOLO
folder, with onnxruntime and numpy only (no ultralytics), plus milliseconds per image on this CPU.

A COCO model (the teacher) is scored on our taxonomy with ``class_map="coco"``: its ``cell phone`` is our
``phone``, ``cup``/``bottle``/``wine glass`` our ``drink`` and so on (models.taxonomy.COCO_TO_OURS).

With ``verifier`` (``--sign-verifier``), every ``pause_sign`` candidate scoring >= its ``min_det`` is
re-scored by the second-stage verifier (models/signverify.py) and the rest are dropped, exactly as the edge
does; the other classes are untouched. The report then also has the verifier's milliseconds per crop.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
from pydantic import BaseModel

from models.data.labels import read_yolo
from models.infer import Detections, OnnxDetector
from models.metrics import ClassAccumulator, ClassMetrics
from models.signverify import CropSpec, SignVerifier, Suppression, combine, suppress
from models.taxonomy import CLASS_ID, CLASSES, COCO_TO_OURS

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


class EvalReport(BaseModel):
    model: str
    data: str
    images: int
    imgsz: int
    conf: float
    ms_per_image_mean: float
    ms_per_image_p50: float
    classes: dict[str, ClassMetrics]
    sign_verifier: str | None = None
    verifier_crops: int = 0
    verifier_ms_per_crop_mean: float | None = None


class VerifierConfig(BaseModel):
    """How the two stages are wired (recorded in the manifest's ``sign_verifier``)."""

    path: Path
    crop: CropSpec
    min_det: float = 0.05  # pause_sign candidates below this never reach the verifier (and are dropped)
    weight: float = 0.5  # final = det ** (1 - weight) * p ** weight
    suppression: Suppression | None = None  # overlap suppression after re-scoring


def resolve_split(data: Path, split: str | None) -> tuple[Path, Path]:
    """(images dir, labels dir) for a YOLO folder, one of its splits, or an images dir itself."""
    if split:
        return data / "images" / split, data / "labels" / split
    if (data / "images").is_dir():
        sub = data / "images" / "val"
        if sub.is_dir():
            return sub, data / "labels" / "val"
        return data / "images", data / "labels"
    if data.name and (data.parent.parent / "labels" / data.name).is_dir():
        return data, data.parent.parent / "labels" / data.name
    raise FileNotFoundError(f"no images/ under {data}")


def model_to_taxonomy(names: dict[int, str], class_map: str) -> dict[int, int]:
    """Model class index -> our class index; classes with no counterpart are dropped."""
    if class_map == "coco" or (class_map == "auto" and len(names) == 80 and names.get(67) == "cell phone"):
        return {i: CLASS_ID[ours] for i, ours in COCO_TO_OURS.items()}
    return {i: CLASS_ID[n] for i, n in names.items() if n in CLASS_ID}


def evaluate(model: Path, data: Path, split: str | None = None, class_map: str = "auto", conf: float = 0.25,
             limit: int = 0, iou_nms: float = 0.7, include: str = "*",
             verifier: VerifierConfig | None = None) -> EvalReport:
    detector = OnnxDetector(model)
    sv = SignVerifier(verifier.path, verifier.crop) if verifier else None
    mapping = model_to_taxonomy(detector.names, class_map)
    sign_ids = np.array([i for i, c in mapping.items() if c == CLASS_ID["pause_sign"]], np.int64)
    images_dir, labels_dir = resolve_split(data, split)
    paths = sorted(p for p in images_dir.glob(include) if p.suffix.lower() in IMAGE_SUFFIXES)
    if limit:
        paths = paths[:limit]
    if not paths:
        raise FileNotFoundError(f"no images in {images_dir}")
    acc = {c: ClassAccumulator() for c in range(len(CLASSES))}
    timings: list[float] = []
    crop_ms: list[float] = []
    for path in paths:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"unreadable image {path}")
        h, w = image.shape[:2]
        t0 = time.perf_counter()
        output, lb = detector.raw(image)
        detector.postprocess(output, lb, image.shape, conf, iou_nms)  # what a deployment pays
        timings.append((time.perf_counter() - t0) * 1000)
        det = detector.postprocess(output, lb, image.shape, 0.001, iou_nms)
        if sv is not None and verifier is not None:
            det, ms = verify_signs(sv, verifier, image, det, sign_ids)
            crop_ms.extend(ms)
        ours = np.array([mapping.get(int(c), -1) for c in det.classes], dtype=np.int64)
        gt = read_yolo(labels_dir / f"{path.stem}.txt", w, h)
        gt_boxes = np.array([[b.x1, b.y1, b.x2, b.y2] for b in gt], dtype=np.float32).reshape(-1, 4)
        gt_cls = np.array([b.cls for b in gt], dtype=np.int64)
        for c, a in acc.items():
            sel = ours == c
            a.add(det.boxes[sel], det.scores[sel], gt_boxes[gt_cls == c])
    mapped = set(mapping.values())
    return EvalReport(
        model=str(model),
        data=str(images_dir),
        images=len(paths),
        imgsz=detector.imgsz,
        conf=conf,
        ms_per_image_mean=round(statistics.fmean(timings), 2),
        ms_per_image_p50=round(statistics.median(timings), 2),
        classes={CLASSES[c]: a.result(conf) for c, a in acc.items() if c in mapped and a.gt > 0},
        sign_verifier=str(verifier.path) if verifier else None,
        verifier_crops=len(crop_ms),
        verifier_ms_per_crop_mean=round(statistics.fmean(crop_ms), 3) if crop_ms else None,
    )


def verify_signs(sv: SignVerifier, cfg: VerifierConfig, image: np.ndarray, det: Detections,
                 sign_ids: np.ndarray) -> tuple[Detections, list[float]]:
    """Re-score the pause_sign candidates >= min_det with the verifier, drop the ones below; returns the new
    detections and the per-crop milliseconds (crop + resize + inference, one batch per image)."""
    is_sign = np.isin(det.classes, sign_ids)
    keep = ~is_sign | (det.scores >= cfg.min_det)
    todo = np.where(is_sign & keep)[0]
    scores = det.scores.copy()
    ms: list[float] = []
    if len(todo):
        t0 = time.perf_counter()
        probs = sv.probs(image, det.boxes[todo])
        ms = [(time.perf_counter() - t0) * 1000 / len(todo)] * len(todo)
        scores[todo] = combine(det.scores[todo], probs, cfg.weight)
        if cfg.suppression is not None:
            kept = suppress(det.boxes[todo], scores[todo], cfg.suppression)
            keep[np.setdiff1d(todo, todo[kept])] = False
    return Detections(det.boxes[keep], scores[keep], det.classes[keep]), ms


def format_table(report: EvalReport) -> str:
    lines = [f"{report.images} images from {report.data}; {report.ms_per_image_mean} ms/image (mean), "
             f"imgsz {report.imgsz}, P/R at conf {report.conf}",
             f"{'class':<12}{'gt':>6}{'imgs':>6}{'P':>8}{'R':>8}{'AP50':>8}{'R@P95':>8}"]
    for name, m in report.classes.items():
        lines.append(f"{name:<12}{m.gt:>6}{m.images:>6}{m.precision:>8.3f}{m.recall:>8.3f}{m.ap50:>8.3f}"
                     f"{m.recall_at_p95:>8.3f}")
    return "\n".join(lines)


def verifier_from_args(args: argparse.Namespace) -> VerifierConfig | None:
    """``--sign-verifier manifest`` takes the verifier and its wiring from the model's manifest;
    ``--sign-verifier FILE.onnx`` uses FILE with --verifier-size/--verifier-margin/--verifier-min-det/-weight."""
    choice = getattr(args, "sign_verifier", None)
    if not choice:
        return None
    if str(choice) == "manifest":
        from models.manifest import load, verify_sign_verifier

        folder = Path(args.model).resolve().parent
        entry = load(folder).sign_verifier
        path = verify_sign_verifier(folder)
        if entry is None or path is None:
            raise SystemExit(f"--sign-verifier manifest: {folder}/manifest.json ships no sign verifier")
        rule = (Suppression(entry.suppress_iou, entry.suppress_containment)
                if entry.suppress_iou is not None and entry.suppress_containment is not None else None)
        return VerifierConfig(path=path, crop=CropSpec(entry.input.size, entry.input.margin),
                              min_det=entry.min_det, weight=entry.weight, suppression=rule)
    rule = (Suppression(args.verifier_suppress_iou, args.verifier_suppress_containment)
            if args.verifier_suppress_iou is not None else None)
    return VerifierConfig(path=Path(choice), crop=CropSpec(args.verifier_size, args.verifier_margin),
                          min_det=args.verifier_min_det, weight=args.verifier_weight, suppression=rule)


def main(args: argparse.Namespace) -> int:
    report = evaluate(args.model, args.data, args.split, args.class_map, args.conf, args.limit,
                      include=args.include, verifier=verifier_from_args(args))
    print(report.model_dump_json(indent=2) if args.json else format_table(report))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    for flag in ("--model", "--data"):
        parser.add_argument(flag, type=Path, required=True)
    parser.add_argument("--split", default=None)
    parser.add_argument("--class-map", default="auto")
    parser.add_argument("--conf", type=float, default=0.25)
    parser.add_argument("--limit", type=int, default=0)
    parser.add_argument("--include", default="*")
    parser.add_argument("--json", action="store_true")
    raise SystemExit(main(parser.parse_args()))
