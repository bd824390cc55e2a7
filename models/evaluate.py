"""``counterwatch models evaluate``: per-class precision, recall and AP50 of an ONNX detector on a YOLO
folder, plus milliseconds per image on this CPU, measured through the very call the edge makes.

Every image goes through :meth:`vision.detector.Detector.detect_crops` (the edge pipeline's call) as one
crop, at the edge's NMS IoU and with the edge's merged taxonomy labels (a COCO teacher's ``cup`` and
``bottle`` are one ``drink``, suppressed together); detections are decoded down to
:data:`vision.operating.AP_FLOOR` for the PR curve and precision/recall are read at ``conf`` (default: the
edge's confidence). NMS is greedy by score, so the detections above ``conf`` are exactly the edge's.

With ``verifier`` (``--sign-verifier``), the pause_sign candidates are re-scored by
:func:`vision.verifier.rescore_signs`, the function the edge's sign cue calls; the report then also has the
verifier's milliseconds per crop.
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
from models.manifest import OperatingPoint
from models.metrics import ClassAccumulator, ClassMetrics, GroupRecall
from models.signverify_groups import GroupAccumulator, sign_records
from vision import operating
from vision.detector import DetectionArrays, Detector
from vision.taxonomy import CLASS_ID, CLASSES, label_of
from vision.verifier import CropSpec, SignVerifier, SignWiring, Suppression, rescore_signs

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
    operating_point: OperatingPoint
    sign_verifier: str | None = None
    verifier_crops: int = 0
    verifier_ms_per_crop_mean: float | None = None
    # pause-sign recall per group at ``conf`` where the data records its signs (models/signverify_groups.py)
    sign_groups: dict[str, GroupRecall] = {}


class VerifierConfig(BaseModel):
    """How the two stages are wired (recorded in the manifest's ``sign_verifier``)."""

    path: Path
    crop: CropSpec
    min_det: float = 0.05  # pause_sign candidates below this never reach the verifier (and are dropped)
    weight: float = 0.5  # final = det ** (1 - weight) * p ** weight
    suppression: Suppression | None = None  # overlap suppression after re-scoring

    def wiring(self) -> SignWiring:
        return SignWiring(self.crop, self.min_det, self.weight, self.suppression)


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


def model_to_taxonomy(names: dict[int, str], class_map: str = "auto") -> dict[int, int]:
    """Model class index -> taxonomy id, by name through the edge's aliases; classes with none are dropped."""
    return {i: CLASS_ID[label] for i, n in names.items() if (label := label_of(n)) is not None}


def scored_classes(names: dict[int, str]) -> set[int]:
    """Taxonomy ids the model can predict."""
    return set(model_to_taxonomy(names).values())


def evaluate(model: Path, data: Path, split: str | None = None, class_map: str = "auto",
             conf: float | None = None, limit: int = 0, iou_nms: float | None = None, include: str = "*",
             verifier: VerifierConfig | None = None) -> EvalReport:
    """``class_map`` is kept for the CLI: labels are always mapped by name, as on the edge ("coco" only
    checks that the model is a COCO one)."""
    conf = operating.CONFIDENCE if conf is None else conf
    iou_nms = operating.IOU if iou_nms is None else iou_nms
    detector = Detector(Path(model), confidence=conf, iou=iou_nms, threads=0)
    if class_map == "coco" and len(detector.names) != 80:
        raise ValueError(f"--class-map coco: {model} has {len(detector.names)} classes, not COCO's 80")
    sv = SignVerifier(verifier.path, verifier.crop) if verifier else None
    images_dir, labels_dir = resolve_split(data, split)
    paths = sorted(p for p in images_dir.glob(include) if p.suffix.lower() in IMAGE_SUFFIXES)
    if limit:
        paths = paths[:limit]
    if not paths:
        raise FileNotFoundError(f"no images in {images_dir}")
    acc = {c: ClassAccumulator() for c in range(len(CLASSES))}
    groups = GroupAccumulator(sign_records(images_dir.parent.parent))
    timings: list[float] = []
    crop_ms: list[float] = []
    for path in paths:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise ValueError(f"unreadable image {path}")
        h, w = image.shape[:2]
        t0 = time.perf_counter()
        found = detector.detect_crops(image, [(0, 0, w, h)], confidence=operating.AP_FLOOR)[0]
        timings.append((time.perf_counter() - t0) * 1000)
        if sv is not None and verifier is not None:
            n = sum(d.label == "pause_sign" and d.score >= verifier.min_det for d in found)
            t1 = time.perf_counter()
            found = rescore_signs(sv, verifier.wiring(), image, found)
            if n:
                crop_ms.extend([(time.perf_counter() - t1) * 1000 / n] * n)
        det = DetectionArrays.of(found)
        gt = read_yolo(labels_dir / f"{path.stem}.txt", w, h)
        gt_boxes = np.array([[b.x1, b.y1, b.x2, b.y2] for b in gt], dtype=np.float32).reshape(-1, 4)
        gt_cls = np.array([b.cls for b in gt], dtype=np.int64)
        for c, a in acc.items():
            sel = det.classes == c
            a.add(det.boxes[sel], det.scores[sel], gt_boxes[gt_cls == c])
        sign = det.classes == CLASS_ID["pause_sign"]
        groups.add(path.stem, w, det.boxes[sign], det.scores[sign], gt_boxes[gt_cls == CLASS_ID["pause_sign"]], conf)
    mapped = scored_classes(detector.names)
    return EvalReport(
        model=str(model),
        data=str(images_dir),
        images=len(paths),
        imgsz=detector.imgsz[0],
        conf=conf,
        ms_per_image_mean=round(statistics.fmean(timings), 2),
        ms_per_image_p50=round(statistics.median(timings), 2),
        classes={CLASSES[c]: a.result(conf) for c, a in acc.items() if c in mapped and a.gt > 0},
        operating_point=OperatingPoint(confidence=conf, iou=iou_nms, imgsz=detector.imgsz[0]),
        sign_verifier=str(verifier.path) if verifier else None,
        verifier_crops=len(crop_ms),
        verifier_ms_per_crop_mean=round(statistics.fmean(crop_ms), 3) if crop_ms else None,
        sign_groups=groups.result(),
    )


def format_table(report: EvalReport) -> str:
    op = report.operating_point
    lines = [f"{report.images} images from {report.data}; {report.ms_per_image_mean} ms/image (mean), "
             f"imgsz {report.imgsz}, NMS IoU {op.iou}, P/R at conf {report.conf}",
             f"{'class':<12}{'gt':>6}{'imgs':>6}{'P':>8}{'R':>8}{'AP50':>8}{'R@P95':>8}"]
    for name, m in report.classes.items():
        lines.append(f"{name:<12}{m.gt:>6}{m.images:>6}{m.precision:>8.3f}{m.recall:>8.3f}{m.ap50:>8.3f}"
                     f"{m.recall_at_p95:>8.3f}")
    for name, g in report.sign_groups.items():
        lines.append(f"  pause_sign group {name}: {g.found}/{g.gt} found, recall {g.recall:.3f}")
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
                      iou_nms=getattr(args, "iou", None), include=args.include, verifier=verifier_from_args(args))
    print(report.model_dump_json(indent=2) if args.json else format_table(report))
    return 0
