"""The presence verifier's teacher: the COCO-pretrained YOLO11n fine-tuned by us, all 80 classes kept.

    .venv-train/bin/python -m models.presence_teacher --coco128 /work/data/presence/coco128 \
        --out var/presence/teacher-ft          # -> var/presence/teacher-ft/teacher.onnx (+ run log)

The verifier reads COCO's person / seat / object scores on each candidate's crop (vision/presence.py), so its
teacher must keep COCO's classes: the detector (7 classes) cannot serve. The shipped teacher is
../shared/weights/yolo11n-coco-init.pt exported unchanged, which the weights card says never to ship; this
job is the replacement: the init weights fine-tuned on the human-labelled COCO boxes of coco128's
**train2017** half only (128 images; the verifier's own training candidates come from the val2017 half, so
its head never sees images the teacher trained on). Batch-norms are held fixed
(:func:`keep_batch_norm_fixed`), the learning rate is low with no warm-up bias (the default 0.1 wrecks a
pretrained head on small data, WEIGHTS.md), the whole network trains at imgsz 320 on 2 torch threads, and
the last epoch is exported (ultralytics' val runs on the same train2017 images and only reports).

Resumable: ``--resume`` continues ``<out>/run/weights/last.pt``. Needs the train extra (torch, ultralytics);
the runtime never imports this module.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
INIT = ROOT.parent / "shared/weights/yolo11n-coco-init.pt"


def data_yaml(coco128: Path, out: Path, names: dict[int, str]) -> Path:
    """An ultralytics data file over the train2017 half (train and the report-only val alike)."""
    images = coco128 / "images/train2017"
    if not any(images.glob("*.jpg")):
        raise FileNotFoundError(f"no coco128 train2017 images under {images} (lightly-ai/coco128_yolo)")
    if not (out / "labels/train2017").exists():  # ultralytics wants labels/ beside images/: a copy of both
        shutil.copytree(coco128 / "object_detection/labels/train2017", out / "labels/train2017")
        shutil.copytree(images, out / "images/train2017")
    path = out / "coco128-train2017.yaml"
    path.write_text(json.dumps({"path": str(out.resolve()), "train": "images/train2017", "val": "images/train2017",
                                "names": names}))
    return path


def keep_batch_norm_fixed(trainer: Any) -> None:
    """The init weights have their batch-norms folded into the conv biases (WEIGHTS.md: rebuilt from an int8
    export), so every BN is an identity with unit running statistics. In train mode BN would normalise by
    the batch's own statistics instead and wreck the network at the first step (measured: COCO mAP50 on
    coco128 train2017 fell to 0.11 after one epoch at lr 1e-4); kept in eval mode, only the weights learn."""
    from torch import nn

    for module in trainer.model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.eval()


def main(args: argparse.Namespace) -> int:
    import torch
    from ultralytics import YOLO

    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    args.out = args.out.resolve()  # ultralytics puts a relative project under runs/detect/
    run = args.out / "run"
    if args.resume:
        model = YOLO(str(run / "weights/last.pt"))
        model.train(resume=True)
    else:
        model = YOLO(str(args.init))
        model.add_callback("on_train_batch_start", keep_batch_norm_fixed)
        model.train(data=str(data_yaml(args.coco128, args.out, dict(model.names))), epochs=args.epochs, imgsz=320,
                    batch=16, optimizer="AdamW", lr0=args.lr0, lrf=1.0, warmup_epochs=0, warmup_bias_lr=0.0,
                    workers=0, device="cpu", project=str(args.out), name="run", exist_ok=True, plots=False,
                    seed=0, deterministic=True, val=True)
    last = run / "weights/last.pt"
    exported = Path(YOLO(str(last)).export(format="onnx", imgsz=320, opset=17, dynamic=True, simplify=False))
    target = args.out / "teacher.onnx"
    shutil.move(str(exported), target)
    (args.out / "teacher.json").write_text(json.dumps({
        "init": str(args.init), "data": "coco128 train2017 (lightly-ai/coco128_yolo 6d6f7a0), 128 images, COCO boxes",
        "epochs": args.epochs, "lr0": args.lr0, "imgsz": 320, "weights": str(last), "onnx": str(target)}, indent=2))
    print(target)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m models.presence_teacher", description=__doc__.split("\n\n")[0])
    p.add_argument("--coco128", type=Path, required=True, help="lightly-ai/coco128_yolo checkout")
    p.add_argument("--out", type=Path, default=ROOT / "var/presence/teacher-ft")
    p.add_argument("--init", type=Path, default=INIT)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--lr0", type=float, default=1e-4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--resume", action="store_true")
    return p


if __name__ == "__main__":
    raise SystemExit(main(parser().parse_args()))
