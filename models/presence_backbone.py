"""Presence verifier v2 candidate: the shipped detector's own *backbone* features on each candidate crop.

    python -m models.presence_backbone extract --out /work/data/presence/backbone \
        --coco /work/data/presence/coco128
    python -m models.presence_backbone train --out /work/data/presence/backbone
    python -m models.presence_backbone eval --out /work/data/presence/backbone

The neck of models/counterwatch-det-v1.onnx was fine-tuned (and a head on it could not tell an empty chair,
models/README.md); its backbone was frozen, so its stride-16 (``/model.6``) and stride-32 C2PSA
(``/model.10``) outputs are still generic COCO features. The crop (box + ``MARGIN``, letterboxed to
``SIZE``) runs through that backbone only; each map is pooled 2x2 (average) + global (average, max) ->
(128 + 256) * 6 features, plus logit(detector score). A balanced L2 logistic head (L2 and threshold by
grouped 5-fold CV on the 494 training candidates only, targets = their labels) gives P(person). Test:
models/presence_clips.TEST, the same rows as models/presence_eval.py, read once.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Sequence
from itertools import product
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper
from scipy.optimize import minimize

from models.presence_clips import TEST
from models.presence_data import (
    DETECTOR,
    FLOOR,
    MARGIN,
    clip_frames,
    clip_samples,
    coco_samples,
    suspisense_samples,
    window_candidates,
)
from models.presence_eval import report
from models.presence_train import threshold_at_recall
from vision.clerk import grown
from vision.detector import Detector
from vision.letterbox import FloatArray, Image, letterbox_into
from vision.presence import PresenceHead, logits

ROOT = Path(__file__).resolve().parents[1]
SIZE = 192
BACKBONE: tuple[tuple[str, int, int], ...] = (  # output, channels, stride
    ("/model.6/cv2/act/Mul_output_0", 128, 16),
    ("/model.10/cv2/act/Mul_output_0", 256, 32),
)
L2_GRID = (0.001, 0.01, 0.1)
PCA_GRID = (16, 64)  # components of the standardised features (494 candidates: 2304 raw ones overfit)
ALPHA_GRID = (0.0, 0.5, 0.8, 1.0)  # target = (1 - alpha) * label + alpha * the v1 verifier's P(person)


def feature_model(detector: Path, size: int = SIZE) -> onnx.ModelProto:
    """The detector cut after its backbone; each map pooled 2x2 + global avg + global max -> ``features``."""
    with tempfile.TemporaryDirectory() as tmp:
        cut = Path(tmp) / "cut.onnx"
        onnx.utils.extract_model(str(detector), str(cut), ["images"], [n for n, _, _ in BACKBONE])
        model = onnx.load(str(cut))
    graph = model.graph
    pooled: list[str] = []
    for i, (name, _, stride) in enumerate(BACKBONE):
        k = size // stride // 2
        for op in ("GlobalAveragePool", "GlobalMaxPool", "AveragePool"):
            out = f"pv_{op}_{i}"
            node = (helper.make_node(op, [name], [out], kernel_shape=[k, k], strides=[k, k]) if op == "AveragePool"
                    else helper.make_node(op, [name], [out]))
            graph.node.append(node)
            graph.node.append(helper.make_node("Flatten", [out], [f"{out}_flat"], axis=1))
            pooled.append(f"{out}_flat")
    graph.node.append(helper.make_node("Concat", pooled, ["features"], axis=1))
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", None]))
    return model


class BackboneFeatures:
    def __init__(self, model: onnx.ModelProto, threads: int = 2) -> None:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
        self.session = ort.InferenceSession(model.SerializeToString(), sess_options=opts,
                                            providers=["CPUExecutionProvider"])

    def __call__(self, image: Image, boxes: Sequence[Sequence[float]]) -> FloatArray:
        h, w = image.shape[:2]
        batch = np.zeros((len(boxes), 3, SIZE, SIZE), np.float32)
        for i, b in enumerate(boxes):
            x1, y1, x2, y2 = grown(b, MARGIN)
            rx1, ry1 = min(max(0, int(x1)), w - 2), min(max(0, int(y1)), h - 2)
            rx2, ry2 = max(min(w, int(np.ceil(x2))), rx1 + 2), max(min(h, int(np.ceil(y2))), ry1 + 2)
            letterbox_into(image[ry1:ry2, rx1:rx2], batch[i])
        return np.asarray(self.session.run(None, {"images": batch})[0], np.float32)


def extract(args: argparse.Namespace) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    detector = Detector(DETECTOR, confidence=FLOOR, threads=2)
    feats = BackboneFeatures(feature_model(DETECTOR))
    sets = {"coco128": lambda: coco_samples(args.coco, detector),
            "suspisense": lambda: suspisense_samples(args.shared / "suspisense-phone", detector),
            "clips": lambda: clip_samples(args.shared, detector)}
    for name, make in sets.items():
        if (args.out / f"{name}.npz").exists():
            continue
        fs, ys, gs, ss = [], [], [], []
        for image, labelled, group in make():
            if labelled:
                fs.append(feats(image, [d.box for d, _ in labelled]))
                ys += [y for _, y in labelled]
                gs += [group] * len(labelled)
                ss += [d.score for d, _ in labelled]
        np.savez_compressed(args.out / f"{name}.npz", F=np.concatenate(fs), y=np.asarray(ys), group=np.asarray(gs),
                            score=np.asarray(ss, np.float32))
        print(name, len(ys), flush=True)
    rows = []
    for clip in sorted({cw.clip for cw in TEST}):
        mine = [cw for cw in TEST if cw.clip == clip]
        for t, image in clip_frames(args.shared / clip):
            for cw in mine:
                truth = cw.label(t)
                if truth is None:
                    continue
                cands = window_candidates(detector, image, cw, FLOOR)
                f = feats(image, [d.box for d in cands]) if cands else np.zeros((0, 1), np.float32)
                rows.append({"window": cw.name, "t": round(t, 2), "truth": truth,
                             "scores": [d.score for d in cands], "F": f.tolist()})
    (args.out / "test-rows.json").write_text(json.dumps(rows))
    return 0


def design(f: np.ndarray, score: np.ndarray, h: dict[str, np.ndarray]) -> np.ndarray:
    """Standardised features -> the PCA basis ``h['pca']`` -> + logit(detector score), standardised again."""
    z = ((f.astype(np.float64) - h["f_mean"]) / h["f_std"]) @ h["pca"]
    x = np.concatenate([z, logits(score)[:, None].astype(np.float64)], axis=1)
    return np.asarray((x - h["mean"]) / h["std"])


def fit_soft(x: np.ndarray, t: np.ndarray, y: np.ndarray, l2: float) -> tuple[np.ndarray, float]:
    """L2 logistic regression on soft targets ``t``; classes of the hard labels ``y`` balanced."""
    n, d = x.shape
    sw = np.where(y == 1, (y == 0).sum() / max(1, (y == 1).sum()), 1.0)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:d], theta[d]
        p = 1 / (1 + np.exp(-(x @ w + b)))
        nll = -(sw * (t * np.log(p + 1e-12) + (1 - t) * np.log(1 - p + 1e-12))).sum() / n
        g = sw * (p - t) / n
        return nll + 0.5 * l2 * float(w @ w), np.concatenate([x.T @ g + l2 * w, [g.sum()]])

    res = minimize(loss, np.zeros(d + 1), jac=True, method="L-BFGS-B", options={"maxiter": 400})
    return res.x[:d], float(res.x[d])


def fit_head(f: np.ndarray, score: np.ndarray, t: np.ndarray, y: np.ndarray, pca: int, l2: float
             ) -> dict[str, np.ndarray]:
    h = {"f_mean": f.mean(0), "f_std": f.std(0) + 1e-6}
    h["pca"] = np.linalg.svd((f - h["f_mean"]) / h["f_std"], full_matrices=False)[2][:pca].T
    h["mean"], h["std"] = np.zeros(pca + 1), np.ones(pca + 1)
    x = design(f, score, h)
    h["mean"], h["std"] = x.mean(0), x.std(0) + 1e-6
    w, b = fit_soft((x - h["mean"]) / h["std"], t, y, l2)
    return {**h, "w": w, "b": np.asarray(b)}


def head_probs(h: dict[str, np.ndarray], f: np.ndarray, score: np.ndarray) -> np.ndarray:
    return np.asarray(1 / (1 + np.exp(-(design(f, score, h) @ h["w"] + h["b"]))))


def teacher_probs(v1: Path, sets: tuple[str, ...], score: np.ndarray) -> np.ndarray:
    """The v1 verifier's P(person) on the same candidates (training-time distillation only; its cues cache)."""
    cues = np.concatenate([np.load(v1 / "features" / f"{s}.npz")["C"] for s in sets])
    if not np.allclose(cues[:, 0], score, atol=1e-4):
        raise ValueError("the teacher's cue cache does not hold the same candidates in the same order")
    head = PresenceHead(**json.loads((v1 / "runs/pv-v1/head.json").read_text()))
    return np.asarray(head.probs(cues), np.float64)


def train(args: argparse.Namespace) -> int:
    sets = ("clips", "coco128", "suspisense")
    parts = [np.load(args.out / f"{s}.npz") for s in sets]
    f = np.concatenate([p["F"] for p in parts]).astype(np.float64)
    y = np.concatenate([p["y"] for p in parts]).astype(np.int64)
    groups = np.concatenate([p["group"] for p in parts])
    score = np.concatenate([p["score"] for p in parts])
    teacher = teacher_probs(args.v1, sets, score)
    keep = score >= 0.08
    f, y, groups, score, teacher = f[keep], y[keep], groups[keep], score[keep], teacher[keep]
    uniq = np.array(sorted(set(groups.tolist())))
    fold_of = dict(zip(uniq, np.random.default_rng(0).permutation(len(uniq)) % 5, strict=True))
    fold = np.array([fold_of[g] for g in groups])
    results: dict[tuple[int, float, float], dict[str, float]] = {}
    for pca, alpha, l2 in product(PCA_GRID, ALPHA_GRID, L2_GRID):
        oof = np.zeros(len(y))
        t = (1 - alpha) * y + alpha * teacher
        for k in range(5):  # everything (standardising, PCA) fitted inside each fold
            tr, te = fold != k, fold == k
            oof[te] = head_probs(fit_head(f[tr], score[tr], t[tr], y[tr], pca, l2), f[te], score[te])
        thr = threshold_at_recall(oof, y == 1, args.recall)
        results[(pca, alpha, l2)] = {"threshold": thr, "cv_person_recall": float((oof[y == 1] >= thr).mean()),
                                     "cv_not_person_rejected": float((oof[y == 0] < thr).mean())}
        print(pca, alpha, l2, results[(pca, alpha, l2)], flush=True)
    best = max(results, key=lambda c: (results[c]["cv_not_person_rejected"], c[2]))  # ties: the stronger L2
    pca, alpha, l2 = best
    h = fit_head(f, score, (1 - alpha) * y + alpha * teacher, y, pca, l2)
    np.savez(args.out / "head.npz", threshold=np.asarray(results[best]["threshold"]), **h)  # type: ignore[arg-type]
    summary = {"candidates": len(y), "groups": len(uniq), "features": f.shape[1] + 1,
               "chosen": {"pca": pca, "alpha": alpha, "l2": l2, **results[best]},
               "cv": [{"pca": c[0], "alpha": c[1], "l2": c[2], **v} for c, v in results.items()]}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary["chosen"], indent=2))
    return 0


def evaluate(args: argparse.Namespace) -> int:
    h = dict(np.load(args.out / "head.npz"))
    rows = json.loads((args.out / "test-rows.json").read_text())
    scored = []
    for r in rows:
        s = np.asarray(r["scores"], np.float32)
        p = head_probs(h, np.asarray(r["F"], np.float64), s) if len(s) else np.zeros(0)
        scored.append({**r, "F": None, "candidates": [[float(a), float(c)] for a, c in zip(s, p, strict=True)]})
    out = report(scored, float(h["threshold"]))
    (args.out / "test.json").write_text(json.dumps({"data": "models/presence_clips.TEST", "threshold":
                                                    float(h["threshold"]), "report": out}, indent=2))
    print(json.dumps({k: {m: v[m]["all"] for m in ("detector", "verified")}  # type: ignore[index]
                      for k, v in out.items()}, indent=2))
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("step", choices=("extract", "train", "eval"))
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--coco", type=Path, default=Path("/work/data/presence/coco128"))
    p.add_argument("--shared", type=Path, default=ROOT.parent / "shared/datasets")
    p.add_argument("--recall", type=float, default=0.99)
    p.add_argument("--v1", type=Path, default=Path("/work/data/presence"),
                   help="v1's cue cache (features/) and head (runs/pv-v1/): the distillation target")
    args = p.parse_args()
    return {"extract": extract, "train": train, "eval": evaluate}[args.step](args)


if __name__ == "__main__":
    raise SystemExit(main())
