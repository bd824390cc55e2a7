"""Ship the presence verifier into models/ and models/manifest.json (runtime venv only).

    python -m models.presence_release --teacher var/presence/yolo11n-coco-init.onnx \
        --run /work/data/presence/runs/pv-v1 --eval /work/data/presence/eval/test.json

1. The teacher ONNX (../shared/weights/yolo11n-coco-init.pt exported once with the train extra, see
   models/datasets/presence-candidates.md) is copied to models/ as ``--name``.
2. The manifest gets ``presence``: file, sha256, input, the head (``head.json`` of models/presence_train.py),
   its threshold (chosen by grouped CV on the training sets), the detector it was fitted for, the training
   summary and counts, the per-window presence figures on the TEST clips (models/presence_eval.py) and the
   time per candidate measured here. Nothing else in the manifest changes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import cv2

from models.manifest import PresenceHeadSpec, PresenceInput, PresenceStage, load, sha256_of
from models.presence_data import IOU, MARGIN, SIZE
from vision.presence import CUES, TeacherCues

ROOT = Path(__file__).resolve().parents[1]
TIMING_CLIP = ROOT.parent / "shared/datasets/office-cctv-nix-4desks/office_cctv_nix.mp4"


def ms_per_candidate(model: Path, clip: Path = TIMING_CLIP, n: int = 40) -> float | None:
    """Single-thread time of one candidate's cues (crop + teacher + decode) on a real frame."""
    if not clip.exists():
        return None
    cap = cv2.VideoCapture(str(clip))
    ok, image = cap.read()
    cap.release()
    if not ok:
        return None
    teacher = TeacherCues(model, SIZE, MARGIN, IOU, threads=1)
    box = (0.27 * image.shape[1], 0.30 * image.shape[0], 0.45 * image.shape[1], 0.62 * image.shape[0])
    teacher.cues(image, [box], [0.5])  # warm-up
    t0 = time.perf_counter()
    for _ in range(n):
        teacher.cues(image, [box], [0.5])
    return round((time.perf_counter() - t0) * 1000 / n, 2)


def main(args: argparse.Namespace) -> int:
    manifest_path = args.out_dir / "manifest.json"
    manifest = load(manifest_path)
    shipped = args.out_dir / args.name
    shutil.copyfile(args.teacher, shipped)
    head = json.loads((args.run / "head.json").read_text())
    summary = json.loads((args.run / "summary.json").read_text())
    evaluation = json.loads(args.eval.read_text())
    metrics = {"test_clips": {"data": evaluation["data"], "step_s": evaluation["step_s"],
                              "description": "per window, every 0.5 s of each TEST clip (models/presence_clips.py); "
                              "'present' = any staff-zone person candidate >= the detector confidence (and, "
                              "verified, P(person) >= threshold); truth from each clip's DATASET.md timeline",
                              "report": evaluation["report"]}}
    entry = PresenceStage(
        file=shipped.name, sha256=sha256_of(shipped), size_bytes=shipped.stat().st_size,
        licence="AGPL-3.0 (Ultralytics YOLO11n COCO weights, ../shared/weights/yolo11n-coco-init.pt, exported)",
        input=PresenceInput(size=SIZE, margin=MARGIN, iou=IOU),
        head=PresenceHeadSpec(cues=list(CUES), mean=head["mean"], std=head["std"], weight=head["weight"],
                              bias=head["bias"]),
        threshold=head["threshold"], detector_sha256=manifest.sha256,
        training={"run": args.run.name, **{k: summary[k] for k in ("sets", "l2", "cv_target_recall", "groups")},
                  "cv_person_recall": summary["cv_person_recall"],
                  "cv_not_person_rejected": summary["cv_not_person_rejected"]},
        data_counts={"candidates": summary["candidates"], "per_set": summary["per_set"]},
        ms_per_candidate_mean=ms_per_candidate(shipped),
        metrics=metrics,
        caveats=[
            "training data is small: 256 COCO images, a sample of suspisense-phone, two unlicensed CCTV clips; "
            "validate at each site (models/presence_eval.py with the site's clips)",
            "fitted on the scores of the detector with sha256 detector_sha256: a swapped-in detector runs "
            "without the verifier",
            "the test clips' truth is a timeline read by eye (+-1 s); seconds near a change are not scored",
        ],
    )
    manifest = manifest.model_copy(update={"presence": entry})
    manifest_path.write_text(manifest.model_dump_json(indent=2) + "\n")
    print(json.dumps({"file": entry.file, "sha256": entry.sha256, "threshold": entry.threshold,
                      "ms_per_candidate_mean": entry.ms_per_candidate_mean}))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--teacher", type=Path, default=ROOT / "var/presence/yolo11n-coco-init.onnx")
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--eval", type=Path, required=True)
    p.add_argument("--out-dir", type=Path, default=ROOT / "models")
    p.add_argument("--name", default="counterwatch-presence-v1.onnx")
    return p


if __name__ == "__main__":
    raise SystemExit(main(parser().parse_args()))
