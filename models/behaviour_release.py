"""Ship the behaviour stage: ONNX (frozen detector features + trained head) into models/, person-level
evaluation on every set's val split (never seen by training or threshold choice), manifest entry.

    python -m models.behaviour_release --run var/behaviour/runs/bh-v3 \
        --set suspisense-phone=/work/data/behave/person-level/suspisense-phone@320 \
        --set phone-usage-bwssytems=/work/data/behave/person-level/phone-usage-bwssytems@640 \
        --set clerk-clips=/work/data/behave/person-level/clerk-clips@640

Every figure written is what ``counterwatch models evaluate --person-level --model models --data DIR
--split val --imgsz N --json`` prints (``--stage geometric`` for the v1-rule rows).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx

from models.behaviour import BehaviourModel, CropSpec
from models.behaviour_onnx import OneVsRest, with_head
from models.behaviour_sample import build_ci_sample
from models.evaluate_person import Stage, evaluate
from models.infer import OnnxDetector
from models.manifest import AcceptanceCheck, BehaviourInput, BehaviourStage, Training, load, sha256_of, verify
from models.person_metrics import PersonEvaluation

ROOT = Path(__file__).resolve().parents[1]
NAME = "counterwatch-behaviour-v3.onnx"
CI_SAMPLE = "ci-sample"
TARGET = {"phone_use": (0.85, 0.85), "eating": (0.75, 0.75), "drinking": (0.75, 0.75), "dozing": (0.80, 0.80)}


def person_checks(name: str, shipped: PersonEvaluation, base: PersonEvaluation) -> list[AcceptanceCheck]:
    """Per behaviour the set has (support or predictions): a recall and a precision check against the issue's
    targets; the v1 rule's figures ride along in the detail."""
    out = []
    for behaviour, m in shipped.classes.items():
        if m.support == 0 and m.predicted == 0:
            continue
        p_t, r_t = TARGET.get(behaviour, (0.85, 0.85))
        b = base.classes[behaviour]
        detail = (f"support {m.support}, predicted {m.predicted}, tp {m.tp}; v1 geometric rule: precision "
                  f"{b.precision}, recall {b.recall}")
        if m.support:
            r = m.recall or 0.0
            out.append(AcceptanceCheck(name=f"{behaviour} person-level recall ({name} val)", value=r,
                                       threshold=r_t, passed=r >= r_t, detail=detail))
        p = m.precision if m.precision is not None else 1.0
        out.append(AcceptanceCheck(name=f"{behaviour} person-level precision ({name} val)", value=p,
                                   threshold=p_t, passed=p >= p_t, detail=detail))
    return out


def ci_sample_metrics(shared: Path, detector_path: Path, runtime: BehaviourModel, thresholds: dict[str, float]
                      ) -> PersonEvaluation:
    """The figures tests/models/test_behaviour_shipped.py re-derives from ../shared alone."""
    with tempfile.TemporaryDirectory() as tmp:
        persons = build_ci_sample(shared, Path(tmp))
        report = evaluate(Stage(OnnxDetector(detector_path), runtime, thresholds), persons, "val",
                          description="CI sample (models/behaviour_sample.py: 60 suspisense val images + 8 real "
                                      "clerk-clip frames, no phone in hand), detector@320 + behaviour stage")
    return report.model_copy(update={"data": "models/behaviour_sample.py (rebuilt from ../shared)"})


def _set_arg(text: str) -> tuple[str, Path, int]:
    name, rest = text.split("=", 1)
    path, _, size = rest.partition("@")
    return name, Path(path), int(size or 320)


def main(args: argparse.Namespace) -> int:
    manifest_path = args.models / "manifest.json"
    manifest = load(manifest_path)
    detector_path = verify(args.models)
    head = np.load(args.run / "head.npz")
    summary = json.loads((args.run / "summary.json").read_text())
    classes = [str(c) for c in head["classes"]]
    spec = CropSpec(summary["size"], summary.get("margin", args.margin))
    grid = (int(summary.get("grid", [0, 0])[0]), int(summary.get("grid", [0, 0])[1]))
    hidden = (head["w1"], head["b1"]) if "w1" in head else None
    extras = [OneVsRest(b, head[f"ovr_{b}_mean"], head[f"ovr_{b}_std"], head[f"ovr_{b}_w"], head[f"ovr_{b}_b"])
              for b in summary.get("one_vs_rest", {})]
    model = with_head(detector_path, head["mean"], head["std"], head["w"], head["b"], classes,
                      {"detector_sha256": manifest.sha256, "crop": f"{spec.size}px margin {spec.margin}",
                       "head": f"{summary.get('config', 'lr')}, grid {grid[0]}x{grid[1]}"},
                      size=spec.size, grid=grid, crop_scores=bool(summary.get("crop_scores")),
                      gray=bool(summary.get("gray")), hidden=hidden, one_vs_rest=extras)
    out = args.models / NAME
    onnx.save(model, str(out))
    for old in args.models.glob("counterwatch-behaviour-v*.onnx"):
        if old != out:
            old.unlink()  # the manifest names one behaviour file; a superseded one is not shipped twice
    runtime = BehaviourModel(out, spec, classes)
    x = np.random.default_rng(0).random((8, 3, spec.size, spec.size), dtype=np.float32)
    runtime.run(x, np.zeros((8, 3), np.float32))
    t0 = time.perf_counter()
    for _ in range(5):
        runtime.run(x[:1], np.zeros((1, 3), np.float32))
    ms_crop = round((time.perf_counter() - t0) * 1000 / 5, 2)

    thresholds = {c: float(v) for c, v in summary["thresholds"].items()}
    metrics, checks = {}, []
    for name, data, size in map(_set_arg, args.set):
        det = OnnxDetector(detector_path, imgsz=size)
        shipped = evaluate(Stage(det, runtime, thresholds), data, "val",
                           description=f"detector@{size} + behaviour stage; `counterwatch models evaluate "
                                       f"--person-level --model models --data {data} --split val --imgsz {size}`")
        base = evaluate(Stage(det, None, {"object": 0.3}), data, "val",
                        description=f"detector@{size} + the v1 geometric rule (phone centre in the person box); "
                                    f"`... --person-level --stage geometric --conf 0.3 --imgsz {size}`")
        metrics[name] = shipped
        metrics[f"{name}/geometric-v1"] = base
        checks.extend(person_checks(name, shipped, base))
        print(json.dumps({"set": name, "stage": shipped.classes["phone_use"].model_dump(),
                          "geometric": base.classes["phone_use"].model_dump(),
                          "presence_recall": shipped.presence_recall}))

    metrics[CI_SAMPLE] = ci_sample_metrics(args.shared, detector_path, runtime, thresholds)
    entry = BehaviourStage(
        file=NAME, sha256=sha256_of(out), size_bytes=out.stat().st_size,
        input=BehaviourInput(size=spec.size, margin=spec.margin), classes=classes, thresholds=thresholds,
        detector_sha256=manifest.sha256,
        training=Training(run_id=args.run.name, init_weights=f"{manifest.file} (frozen: neck P3/P4/P5 pooled)",
                          settings={k: summary[k] for k in ("sets", "variant", "size", "margin", "grid", "crop_scores",
                                                            "gray", "config",
                                                            "features", "head", "l2", "cue_scale", "flip_augment",
                                                            "cv_target_precision", "thresholds", "cv",
                                                            "configs_tried", "one_vs_rest") if k in summary}),
        data_counts={"train_persons": summary["per_class"], "train_persons_per_set": summary["per_set"],
                     "train_groups": summary["groups"]},
        ms_per_crop_mean=ms_crop, metrics=metrics, caveats=args.caveat)
    data = json.loads(manifest_path.read_text())
    data["behaviour"] = json.loads(entry.model_dump_json())
    data["acceptance"] = [a for a in data.get("acceptance", []) if "person-level" not in a["name"]] + [
        json.loads(c.model_dump_json()) for c in checks]
    manifest_path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    load(manifest_path)
    print(json.dumps({"file": str(out), "sha256": entry.sha256, "ms_per_crop": ms_crop,
                      "checks": [c.model_dump() for c in checks]}, indent=2))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--models", type=Path, default=ROOT / "models")
    p.add_argument("--set", action="append", default=[], metavar="NAME=DIR@IMGSZ")
    p.add_argument("--margin", type=float, default=CropSpec().margin)
    p.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    p.add_argument("--caveat", action="append", default=[])
    return p


if __name__ == "__main__":
    raise SystemExit(main(parser().parse_args()))
