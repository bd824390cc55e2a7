"""Export a trained checkpoint to ONNX (opset 17, dynamic batch, names/imgsz in the metadata), copy it into
models/, evaluate it and the COCO teacher with onnxruntime, and write models/manifest.json.

The ONNX step needs the ``train`` extra (ultralytics); ``--skip-export`` re-evaluates an existing file and
rewrites the manifest with the runtime venv only.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
from pathlib import Path

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[1]


def export_onnx(weights: Path, imgsz: int, dst: Path) -> Path:
    from ultralytics import YOLO

    produced = Path(YOLO(str(weights)).export(format="onnx", imgsz=imgsz, opset=17, dynamic=True, simplify=True,
                                              batch=1, device="cpu"))
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(produced, dst)
    return dst


def main(args: argparse.Namespace) -> int:
    dst = args.out_dir / f"{args.name}.onnx"
    if not getattr(args, "skip_export", False):
        export_onnx(args.weights, args.imgsz, dst)
        log.info("exported %s", dst)
    from models import release

    manifest = release.write_manifest(
        model=dst,
        run_dir=args.weights.parent.parent,
        dataset=Path(args.dataset),
        teacher=Path(args.teacher),
        out=args.out_dir / "manifest.json",
        version=args.version,
    )
    print(json.dumps({"file": manifest.file, "sha256": manifest.sha256,
                      "acceptance": [c.model_dump() for c in manifest.acceptance]}, indent=2))
    return 0
