"""Arguments of ``counterwatch models train`` (kept apart from models/train.py so registering the CLI never
imports torch or ultralytics)."""

from __future__ import annotations

import argparse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, default=ROOT / "var/datasets/counterwatch-v1/data.yaml")
    p.add_argument("--from", dest="from_dir", type=Path, default=None,
                   help="fine-tune on a YOLO folder (e.g. from dataset-from-reviews) instead of --data")
    p.add_argument("--weights", type=Path, default=ROOT.parent / "shared/weights/yolo11n-coco-init.pt",
                   help="init weights: the COCO teacher (head re-mapped onto the taxonomy) or a previous best.pt")
    p.add_argument("--name", default="cw-v1")
    p.add_argument("--project", type=Path, default=ROOT / "var/runs")
    p.add_argument("--imgsz", type=int, default=320)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--hours", type=float, default=0.0, help="wall-clock budget; overrides --epochs when > 0")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--freeze", type=int, default=10, help="freeze the first N layers (10 = the backbone)")
    p.add_argument("--lr0", type=float, default=0.001)
    p.add_argument("--warmup-bias-lr", type=float, default=0.0)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = all cores)")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--fraction", type=float, default=1.0, help="use a fraction of the training images")
    p.add_argument("--resume", action="store_true", help="resume <project>/<name>/weights/last.pt")
