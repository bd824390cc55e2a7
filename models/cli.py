"""``counterwatch models ...``: build-dataset, train, export, evaluate, dataset-from-reviews, sample.

Each handler imports its module lazily: ``train``/``export`` need the ``train`` extra (torch, ultralytics),
everything else runs in the runtime venv.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
TEACHER_PT = SHARED / "weights/yolo11n-coco-init.pt"
TEACHER_ONNX = ROOT / "var/teacher/yolo11n-coco-init.onnx"
DATASET = ROOT / "var/datasets/counterwatch-v1"


def _build_dataset(args: argparse.Namespace) -> int:
    from models.data.build import BuildConfig, build

    teacher = None if str(args.teacher) == "none" else args.teacher
    cfg = BuildConfig(shared=args.shared, out=args.out, teacher=teacher, seed=args.seed)
    if args.scale != 1.0:
        cfg.sign_composites = {k: max(1, int(v * args.scale)) for k, v in cfg.sign_composites.items()}
        cfg.footwear_composites = {k: max(1, int(v * args.scale)) for k, v in cfg.footwear_composites.items()}
    summary = build(cfg)
    print(json.dumps(summary["totals"], indent=2))
    return 0


def _needs_train_extra(what: str) -> None:
    import importlib.util

    if importlib.util.find_spec("ultralytics") is None or importlib.util.find_spec("torch") is None:
        raise SystemExit(f"counterwatch models {what}: needs the train extra (torch, ultralytics); "
                         "run it with ./cw train ... or install .[train]")


def _train(args: argparse.Namespace) -> int:
    _needs_train_extra("train")
    from models import train

    return train.main(args)


def _export(args: argparse.Namespace) -> int:
    if not args.skip_export:
        _needs_train_extra("export")
    from models import export

    return export.main(args)


def _evaluate(args: argparse.Namespace) -> int:
    if args.person_level:
        from models import evaluate_person

        return evaluate_person.main(args)
    from models import evaluate

    return evaluate.main(args)


def _verifier_crops(args: argparse.Namespace) -> int:
    from models.signverify import CropSpec
    from models.signverify_data import build_crops

    for split in args.splits:
        counts = build_crops(args.data, split, args.model, CropSpec(args.size, args.margin), args.out,
                             min_det=args.min_det, jitters=args.jitters)
        print(json.dumps({"split": split, **counts}))
    return 0


def _sample(args: argparse.Namespace) -> int:
    from models import sample

    return sample.main(args)


def _from_reviews(args: argparse.Namespace) -> int:
    from models import reviews

    return reviews.main(args)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    models = sub.add_parser("models", help="detector: dataset, train, export, evaluate")
    msub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)

    p = msub.add_parser("build-dataset", help="assemble the YOLO dataset from ../shared (+ synthetic signs)")
    p.add_argument("--shared", type=Path, default=SHARED)
    p.add_argument("--out", type=Path, default=DATASET)
    p.add_argument("--teacher", type=Path, default=TEACHER_ONNX,
                   help="COCO teacher ONNX for pseudo-labels; 'none': no person/drink/food pseudo-labels "
                   "(the sign and footwear composites come out identical)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scale", type=float, default=1.0, help="multiply the number of synthetic composites")
    p.set_defaults(handler=_build_dataset)

    from models import train_args

    train_args.add_arguments(msub.add_parser("train", help="fine-tune (needs the train extra: ./cw train)"))
    msub.choices["train"].set_defaults(handler=_train)

    p = msub.add_parser("export", help="ONNX export + manifest (needs the train extra)")
    p.add_argument("--weights", type=Path, required=True, help="best.pt of a run")
    p.add_argument("--name", default="counterwatch-det-v1")
    p.add_argument("--imgsz", type=int, default=320)
    p.add_argument("--out-dir", type=Path, default=ROOT / "models")
    p.add_argument("--dataset", type=Path, default=DATASET, help="the built dataset (val + holdout splits)")
    p.add_argument("--teacher", type=Path, default=TEACHER_ONNX, help="COCO teacher ONNX for the baseline")
    p.add_argument("--version", default="1.0.0")
    p.add_argument("--skip-export", action="store_true", help="keep the ONNX file; re-evaluate + manifest")
    p.set_defaults(handler=_export)

    p = msub.add_parser("evaluate", help="per-class P/R/AP50 through the edge's own detector call")
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--data", type=Path, required=True, help="YOLO folder (images/ + labels/) or a split of it")
    p.add_argument("--split", default=None, help="split under images/ (default: DIR itself or 'val')")
    p.add_argument("--class-map", choices=["auto", "coco"], default="auto",
                   help="coco: map a COCO model's names onto the taxonomy (for the teacher)")
    p.add_argument("--conf", type=float, default=None,
                   help="operating threshold for precision/recall (default: the edge's detector confidence)")
    p.add_argument("--iou", type=float, default=None, help="NMS IoU (default: the edge's detector iou)")
    p.add_argument("--limit", type=int, default=0, help="evaluate at most N images")
    p.add_argument("--person-level", action="store_true",
                   help="per clerk box: behaviour P/R + confusion on a person-level set (models/evaluate_person.py)")
    p.add_argument("--stage", choices=["shipped", "geometric"], default="shipped",
                   help="person-level: the shipped behaviour stage, or the v1 geometric rule for comparison")
    p.add_argument("--class-map-person", default="", metavar="NAME=BEHAVIOUR,...",
                   help="person-level: map a set's class names onto behaviours")
    p.add_argument("--imgsz", type=int, default=None, help="person-level: detector input size (default 320)")
    p.add_argument("--include", default="*", help="glob of image names, e.g. 'sus_*' for suspisense only")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--sign-verifier", default=None, metavar="manifest|FILE.onnx",
                   help="re-score pause_sign with the second-stage verifier: 'manifest' = the one the model's "
                        "manifest ships (with its crop size, margin, min_det, weight), or an ONNX file")
    p.add_argument("--verifier-size", type=int, default=64)
    p.add_argument("--verifier-margin", type=float, default=0.15)
    p.add_argument("--verifier-min-det", type=float, default=0.05)
    p.add_argument("--verifier-weight", type=float, default=0.5)
    p.add_argument("--verifier-suppress-iou", type=float, default=None,
                   help="drop a re-scored sign a better one overlaps by more than this IoU ...")
    p.add_argument("--verifier-suppress-containment", type=float, default=0.8,
                   help="... or covers more than this share of (with --verifier-suppress-iou)")
    p.set_defaults(handler=_evaluate)

    p = msub.add_parser("verifier-crops", help="sign-verifier training crops from a built dataset split")
    p.add_argument("--data", type=Path, default=DATASET)
    p.add_argument("--model", type=Path, default=ROOT / "models/counterwatch-det-v1.onnx",
                   help="detector whose pause_sign candidates are mined (true and false positives)")
    p.add_argument("--splits", nargs="+", default=["train", "val"], choices=["train", "val"],
                   help="never the holdout: its font and backgrounds stay unseen")
    p.add_argument("--out", type=Path, default=ROOT / "var/signverify")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--margin", type=float, default=0.15)
    p.add_argument("--min-det", type=float, default=0.05)
    p.add_argument("--jitters", type=int, default=4)
    p.set_defaults(handler=_verifier_crops)

    p = msub.add_parser("sample", help="build the small labelled evaluation sample CI uses")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--shared", type=Path, default=SHARED)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--signs", type=int, default=80, help="sign composites (a quarter are look-alike negatives)")
    p.add_argument("--phones", type=int, default=60)
    p.add_argument("--feet", type=int, default=60)
    p.add_argument("--sign-fonts", nargs="+", default=["wqy"], choices=["wqy", "lxgw"],
                   help="font families of the signs: wqy (the held-out font) or lxgw (never used anywhere "
                   "else: a fresh check)")
    p.add_argument("--two-line-p", type=float, default=0.0,
                   help="share of two-line placards (暂停服务 / 请到其他窗口办理) among the signs and look-alikes; "
                   "0 keeps the CI sample's images")
    p.set_defaults(handler=_sample)

    p = msub.add_parser("dataset-from-reviews", help="pull reviewed events from the dashboard as YOLO data")
    p.add_argument("--dashboard", required=True, help="base URL, e.g. http://127.0.0.1:8000")
    p.add_argument("--token", required=True, help="API bearer token")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--since", default=None, help="ISO-8601 UTC timestamp")
    p.set_defaults(handler=_from_reviews)


def main(argv: list[str] | None = None) -> int:
    """``python -m models.cli ...`` (what ``./cw train`` runs in the train venv)."""
    from common.logs import setup_logging

    setup_logging()
    parser = argparse.ArgumentParser(prog="models")
    register(parser.add_subparsers(dest="command", required=True))
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(["models", *argv])
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
