"""Fine-tune YOLO11n from the COCO init weights onto the CounterWatch taxonomy (train extra only).

Why it looks like this:
* The COCO head's class rows for person / cell phone / cup+bottle / food are copied into the new 7-class
  head (``remap_coco_head``), so the student starts as good as the teacher on those classes instead of
  from a random classifier; only pause_sign / slipper / shoe start fresh.
* ``warmup_bias_lr`` defaults to 0 and the backbone is frozen: on small data Ultralytics' default warmup
  (bias lr 0.1) wrecks the pretrained head (measured, see shared/weights/WEIGHTS.md).
* Ultralytics gives torch ``cpu_count - 1`` threads (1 on this 2-core box); we give it all cores.
* ``--hours`` uses Ultralytics' time mode, which re-plans the epoch count (and LR schedule) after the
  first epoch so the run ends on time.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
from datetime import UTC, datetime
from pathlib import Path

import torch
from torch import nn

from models.taxonomy import CLASSES, COCO_TO_OURS

log = logging.getLogger(__name__)


def _coco_rows(name: str) -> list[int]:
    return [i for i, ours in COCO_TO_OURS.items() if ours == name]


def remap_coco_head(src: Path, dst: Path) -> Path:
    """Write a checkpoint whose Detect head predicts our classes, initialised from COCO rows."""
    from ultralytics.nn.tasks import load_checkpoint

    model, _ = load_checkpoint(str(src), device="cpu")
    model = model.float()
    head = model.model[-1]
    if head.nc == len(CLASSES):
        log.info("%s already has %d classes: no remap", src, head.nc)
        return src
    for branch_list in [head.cv3] + ([head.one2one_cv3] if hasattr(head, "one2one_cv3") else []):
        for i, branch in enumerate(branch_list):
            old: nn.Conv2d = branch[-1]
            new = nn.Conv2d(old.in_channels, len(CLASSES), 1)
            stride = float(head.stride[i])
            prior = math.log(5 / len(CLASSES) / (640 / stride) ** 2)  # Ultralytics' bias_init prior
            with torch.no_grad():
                new.weight.zero_()
                new.bias.fill_(prior)
                for c, name in enumerate(CLASSES):
                    rows = _coco_rows(name)
                    if rows:  # mean of the matching COCO classifiers (cup+bottle+glass, 10 foods)
                        new.weight[c] = old.weight[rows].mean(0)
                        new.bias[c] = old.bias[rows].mean(0)
                    else:
                        nn.init.normal_(new.weight[c], std=0.01)
            branch[-1] = new
    head.nc = len(CLASSES)
    head.no = head.nc + head.reg_max * 4
    model.nc = len(CLASSES)
    model.yaml["nc"] = len(CLASSES)
    model.names = dict(enumerate(CLASSES))
    dst.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model, "train_args": {}, "date": datetime.now(UTC).isoformat()}, dst)
    return dst


def data_yaml_for(folder: Path) -> Path:
    """A data.yaml for a plain YOLO folder (images/{train,val}, labels/...) in our taxonomy."""
    yaml_path = folder / "data.yaml"
    if not yaml_path.exists():
        val = "images/val" if (folder / "images/val").exists() else "images/train"
        yaml_path.write_text(
            f"path: {folder.resolve()}\ntrain: images/train\nval: {val}\nnames:\n"
            + "".join(f"  {i}: {n}\n" for i, n in enumerate(CLASSES))
        )
    return yaml_path


def main(args: argparse.Namespace) -> int:
    threads = args.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    import ultralytics.utils.torch_utils as tu
    from ultralytics import YOLO

    tu.NUM_THREADS = threads  # select_device() resets torch threads to this

    run_dir = args.project / args.name
    last = run_dir / "weights/last.pt"
    if args.resume:
        if not last.exists():
            raise SystemExit(f"nothing to resume: {last} does not exist")
        model = YOLO(str(last))
        _keep_threads(model, threads)
        model.train(resume=True)
        return 0

    data = data_yaml_for(args.from_dir) if args.from_dir else args.data
    init = remap_coco_head(args.weights, run_dir / "init-remapped.pt")
    settings = {
        "data": str(data), "init": str(args.weights), "imgsz": args.imgsz, "epochs": args.epochs,
        "time_hours": args.hours or None, "batch": args.batch, "freeze": args.freeze, "optimizer": "AdamW",
        "lr0": args.lr0, "warmup_bias_lr": args.warmup_bias_lr, "warmup_epochs": 1, "threads": threads,
        "fraction": args.fraction, "close_mosaic": 2, "started": datetime.now(UTC).isoformat(),
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "run_settings.json").write_text(json.dumps(settings, indent=2))
    model = YOLO(str(init))
    _keep_threads(model, threads)
    model.train(
        data=str(data), imgsz=args.imgsz, epochs=args.epochs, time=args.hours or None, batch=args.batch,
        freeze=args.freeze, optimizer="AdamW", lr0=args.lr0, warmup_bias_lr=args.warmup_bias_lr,
        warmup_epochs=1, close_mosaic=2, fraction=args.fraction, workers=args.workers, device="cpu",
        project=str(args.project), name=args.name, exist_ok=True, plots=False, amp=False, cache="ram",
        patience=100, seed=0, deterministic=False, verbose=True,
    )
    return 0


def _keep_threads(model: object, threads: int) -> None:
    """Re-assert the thread count at every epoch (validation/select_device may reset it)."""

    def reset(_: object) -> None:
        torch.set_num_threads(threads)

    for event in ("on_pretrain_routine_end", "on_train_epoch_start", "on_val_start"):
        model.add_callback(event, reset)  # type: ignore[attr-defined]
