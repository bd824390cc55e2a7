"""Evaluate an exported model against the COCO teacher and write models/manifest.json (runtime venv only).

Acceptance checks (all numbers land in the manifest):
* phone AP50 on the suspisense val split (human phone boxes) >= the teacher's ``cell phone`` AP50;
* person / drink AP50 on the same images (teacher pseudo-labels) not below the teacher's by > 0.05;
* pause_sign recall >= 0.95 at precision >= 0.95 on the held-out synthetic split (unseen font family and
  office-CCTV backgrounds).
"""

from __future__ import annotations

import csv
import json
import tempfile
from pathlib import Path
from typing import Any

from models.evaluate import EvalReport, evaluate
from models.manifest import (
    AcceptanceCheck,
    DataSource,
    Evaluation,
    InputSpec,
    Manifest,
    Training,
    now_utc,
    sha256_of,
)
from models.sample import SAMPLE_SPLIT, build_sample
from models.taxonomy import CLASSES

CI_SAMPLE = "ci_sample"


def dataset_shared_default() -> Path:
    return Path(__file__).resolve().parents[2] / "shared"

TEACHER_KEEP_MARGIN = 0.05

DATA_SOURCES = [
    DataSource(name="suspisense-phone", role="phone boxes (human, 'phone-holding'); person/drink/food by the "
               "COCO teacher; backgrounds for synthetic data", licence="none stated (research/evaluation only)",
               caveat="all grayscale; classroom and stock photos, not counters"),
    DataSource(name="synthetic pause signs (models/data/signs.py)", role="pause_sign: rendered project sign "
               "and 暂停服务/暂停办理/暂停受理 placards composited onto real photos", licence="generated; CJK fonts "
               "are OFL/Arphic/GPL-with-font-exception", proxy=True,
               caveat="synthetic; held-out split uses an unseen font family and unseen (CCTV) backgrounds"),
    DataSource(name="footwear-sbs", role="slipper (sandal) / shoe (shoe, boot) product cut-outs composited "
               "low in desk photos", licence="none stated (research/internal evaluation only)", proxy=True,
               caveat="WEAK PROXY: catalogue product photos, not worn footwear under a desk seen by a ceiling "
               "camera; slipper/shoe metrics overstate field accuracy"),
    DataSource(name="office-cctv-clip", role="held-out backgrounds only (never trained on)",
               licence="none stated", caveat="boxes burned into the pixels by its author"),
    DataSource(name="yolo11n-coco-init.pt", role="init weights and teacher", licence="AGPL-3.0"),
]

CAVEATS = [
    "slipper/shoe are learnt from a WEAK PROXY (catalogue product photos pasted under desks); expect much lower "
    "accuracy on real CCTV feet",
    "pause_sign is learnt from synthetic renders only; validate on real printed signs at each site",
    "person/drink/food labels on training images are COCO-teacher pseudo-labels, and 'teacher not lost' is "
    "measured against those pseudo-labels, not human ground truth",
    "food has almost no labelled examples (no food data available): the head starts from the COCO food rows, "
    "but fine-tuning on near-zero positives erased it (student AP50 0.0 vs teacher 0.6 on 3 val boxes); "
    "do not rely on the food class",
    "pause_sign misses its acceptance target (recall at precision >= 0.95 on the held-out split: detector "
    "alone 0.52, with the second-stage sign verifier 0.879 < 0.95); the edge must keep its ArUco and OCR cues "
    "for the sign",
]


def _evaluation(report: EvalReport, description: str) -> Evaluation:
    return Evaluation(data=report.data, description=description, images=report.images,
                      ms_per_image_mean=report.ms_per_image_mean, classes=report.classes,
                      operating_point=report.operating_point)


def _ap(ev: Evaluation, name: str) -> float:
    m = ev.classes.get(name)
    return m.ap50 if m else 0.0


def training_info(run_dir: Path) -> Training:
    settings: dict[str, Any] = {}
    if (run_dir / "run_settings.json").exists():
        settings = json.loads((run_dir / "run_settings.json").read_text())
    epochs = None
    results = run_dir / "results.csv"
    if results.exists():
        rows = list(csv.DictReader(results.open()))
        epochs = len(rows)
        if rows:
            settings["final_val_ultralytics"] = {k.strip(): v.strip() for k, v in rows[-1].items()
                                                 if "metrics" in k}
    return Training(run_id=run_dir.name, init_weights=str(settings.get("init", "yolo11n-coco-init.pt")),
                    settings=settings, epochs_completed=epochs)


def acceptance(metrics: dict[str, Evaluation], teacher: dict[str, Evaluation]) -> list[AcceptanceCheck]:
    sus, t_sus = metrics["val_suspisense"], teacher["val_suspisense"]
    checks = [AcceptanceCheck(
        name="phone AP50 >= teacher cell-phone AP50 (suspisense val, human boxes)",
        value=_ap(sus, "phone"), threshold=_ap(t_sus, "phone"), passed=_ap(sus, "phone") >= _ap(t_sus, "phone"),
        detail=f"gt={sus.classes['phone'].gt if 'phone' in sus.classes else 0}",
    )]
    for name in ("person", "drink"):
        if name in t_sus.classes:
            threshold = round(_ap(t_sus, name) - TEACHER_KEEP_MARGIN, 4)
            checks.append(AcceptanceCheck(
                name=f"{name} AP50 not below teacher's by > {TEACHER_KEEP_MARGIN} (teacher pseudo-labels)",
                value=_ap(sus, name), threshold=threshold, passed=_ap(sus, name) >= threshold,
                detail=f"teacher AP50 {_ap(t_sus, name)}, gt={t_sus.classes[name].gt}",
            ))
    sign = metrics["holdout"].classes.get("pause_sign")
    value = sign.recall_at_p95 if sign else 0.0
    checks.append(AcceptanceCheck(
        name="pause_sign recall at precision >= 0.95 (held-out synthetic: unseen font + CCTV backgrounds)",
        value=value, threshold=0.95, passed=value >= 0.95, detail=f"gt={sign.gt if sign else 0}",
    ))
    return checks


def write_manifest(model: Path, run_dir: Path, dataset: Path, teacher: Path, out: Path,
                   version: str = "1.0.0", shared: Path | None = None) -> Manifest:
    with tempfile.TemporaryDirectory(prefix="cw-sample-") as tmp:
        build_sample(shared or dataset_shared_default(), Path(tmp))
        ci_sample = evaluate(model, Path(tmp), SAMPLE_SPLIT)
    reports = {
        CI_SAMPLE: (ci_sample, "CI sample (models/sample.py, seed 7): suspisense val phones (human), signs in an "
                    "unseen font and footwear from val products on office-CCTV frames; rebuilt by the tests"),
        "val_suspisense": (evaluate(model, dataset, "val", include="sus_*"),
                           "suspisense val photos: phone = human boxes; person/drink/food = teacher pseudo-labels"),
        "val": (evaluate(model, dataset, "val"), "whole val split: suspisense + sign and footwear composites"),
        "holdout": (evaluate(model, dataset, "holdout"),
                    "held-out synthetic: signs in an unseen font family + footwear from val products, on "
                    "office-CCTV frames never used in training"),
    }
    metrics = {k: _evaluation(r, d) for k, (r, d) in reports.items()}
    teacher_eval = {"val_suspisense": _evaluation(
        evaluate(teacher, dataset, "val", class_map="coco", include="sus_*"),
        "COCO teacher on the same images, COCO classes mapped onto the taxonomy")}
    counts_path = dataset / "counts.json"
    counts = json.loads(counts_path.read_text()) if counts_path.exists() else {}
    manifest = Manifest(
        name=model.stem, version=version, file=model.name, sha256=sha256_of(model),
        size_bytes=model.stat().st_size, created=now_utc(), classes=list(CLASSES),
        input=InputSpec(imgsz=reports["val"][0].imgsz), training=training_info(run_dir),
        data_sources=DATA_SOURCES,
        data_counts={"per_split_and_source": counts.get("counts", {}), "totals": counts.get("totals", {})},
        metrics=metrics, teacher_baseline=teacher_eval,
        acceptance=acceptance(metrics, teacher_eval), caveats=CAVEATS,
    )
    out.write_text(manifest.model_dump_json(indent=2) + "\n")
    return manifest


def results_markdown(manifest: Manifest) -> str:
    """The README's results section, generated from the manifest."""
    conf = manifest.operating_point.confidence
    lines = [f"| evaluation | class | GT boxes | images | P@{conf:.2f} | R@{conf:.2f} | AP50 | R@P≥0.95 |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    rows = [*((f"student: {k}", v) for k, v in manifest.metrics.items()),
            *((f"COCO teacher: {k}", v) for k, v in manifest.teacher_baseline.items())]
    for label, ev in rows:
        for name, m in ev.classes.items():
            lines.append(f"| {label} | {name} | {m.gt} | {m.images} | {m.precision:.3f} | {m.recall:.3f} | "
                         f"{m.ap50:.3f} | {m.recall_at_p95:.3f} |")
    lines += ["", "| acceptance check | value | threshold | passed |", "| --- | ---: | ---: | :---: |"]
    lines += [f"| {c.name} ({c.detail}) | {c.value:.3f} | {c.threshold:.3f} | {'yes' if c.passed else 'NO'} |"
              for c in manifest.acceptance]
    speed = manifest.metrics.get("val")
    if speed and speed.ms_per_image_mean:
        lines += ["", f"CPU latency (this 2-core box, shared, onnxruntime, incl. letterbox + NMS): "
                      f"{speed.ms_per_image_mean} ms/image mean."]
    return "\n".join(lines)
