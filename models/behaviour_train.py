"""Train the behaviour head on cached crop features (numpy + scipy; 2 CPU cores; minutes).

    python -m models.behaviour_train --cache /work/data/behave/features --variant s160m10g3x2 \
        --run var/behaviour/runs/bh-v2 --sets suspisense-phone phone-usage-bwssytems clerk-clips

Only the ``train`` split of each set is read; the val splits stay untouched for
:mod:`models.behaviour_release`. The classes are those with training examples (a behaviour without data gets
no column, so it can never fire). Every candidate head in ``--configs`` (feature subset x head type x L2) is
scored by grouped 5-fold cross-validation inside train (groups: source video / photo stem, so frames of one
video never sit on both sides of a fold): out-of-fold recall of each behaviour at the lowest P(behaviour)
whose out-of-fold precision reaches its target. The best config (mean of those recalls) is refitted on all
of train; its thresholds are the out-of-fold ones. Heads: a multinomial logistic regression (``lr``) or one
hidden ReLU layer (``mlp<H>``), both with L2 and balanced class weights, on standardised [features, cues]
(the 3 detector cues weighted up by ``--cue-scale``). Mirrored-crop features (``Xf`` in the cache) are added
as extra training rows of the same group, never as held-out rows. Resumable: each config's CV result is
appended to ``cv.jsonl`` and not recomputed; an existing ``head.npz`` means done.

``--one-vs-rest dozing:0.03 --ovr-sets ...`` adds a column per behaviour from its own two-class head
(:func:`one_vs_rest`), trained on other sets than the main head: the photo sets teach dozing, while the
phone_use head stays fitted on the footage it was chosen on.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
from scipy.optimize import minimize

from models.behaviour import BEHAVIOURS
from models.behaviour_onnx import CROP_SCORE_CLASSES

_VIDEO = re.compile(r"^(?P<g>.+?)(?:_f\d{6}.*|_t\d+\.\d|_jpg\.rf\..*)")
GLOBAL_WIDTH = 2 * (64 + 128 + 256)  # global avg + max pooling of P3/P4/P5 (first in every cache)
TARGET_PRECISION = {"phone_use": 0.85, "eating": 0.75, "drinking": 0.75, "dozing": 0.80}


def group_of(image_name: str) -> str:
    stem = Path(image_name).stem
    m = _VIDEO.match(stem)
    return m.group("g") if m else stem


def load(cache: Path, sets: list[str], split: str, variant: str) -> dict[str, np.ndarray]:
    parts = [np.load(cache / f"{s}-{split}-{variant}.npz") for s in sets]
    keys = ["X", "C", "y", "image"] + (["Xf"] if all("Xf" in p for p in parts) else [])
    out = {k: np.concatenate([p[k] for p in parts]) for k in keys}
    out["set"] = np.concatenate([np.full(len(p["y"]), s) for s, p in zip(sets, parts, strict=True)])
    return out


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


def _weights(y: np.ndarray, k: int) -> np.ndarray:
    counts = np.bincount(y, minlength=k).astype(np.float64)
    return (len(y) / (k * np.maximum(counts, 1)))[y]


def fit(x: np.ndarray, y: np.ndarray, k: int, l2: float) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial LR by L-BFGS; balanced class weights. x is already standardised."""
    n, d = x.shape
    sw, onehot = _weights(y, k), np.eye(k)[y]

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[: d * k].reshape(d, k), theta[d * k:]
        p = _softmax(x @ w + b)
        nll = -(sw * np.log(np.maximum((p * onehot).sum(axis=1), 1e-12))).sum() / n
        g = (sw[:, None] * (p - onehot)) / n
        gw = x.T @ g + l2 * w
        return nll + 0.5 * l2 * float((w * w).sum()), np.concatenate([gw.ravel(), g.sum(axis=0)])

    res = minimize(loss, np.zeros(d * k + k), jac=True, method="L-BFGS-B", options={"maxiter": 400})
    return res.x[: d * k].reshape(d, k), res.x[d * k:]


def predict(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _softmax(x @ w + b)


def fit_mlp(x: np.ndarray, y: np.ndarray, k: int, l2: float, hidden: int, seed: int = 0
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One hidden ReLU layer, full-batch L-BFGS, balanced class weights, L2 on both weight matrices."""
    n, d = x.shape
    sw, onehot = _weights(y, k), np.eye(k)[y]
    rng = np.random.default_rng(seed)
    shapes = [(d, hidden), (hidden,), (hidden, k), (k,)]
    sizes = [int(np.prod(s)) for s in shapes]
    theta0 = np.concatenate([rng.normal(0, np.sqrt(2 / d), d * hidden), np.zeros(hidden),
                             rng.normal(0, np.sqrt(1 / hidden), hidden * k), np.zeros(k)])

    def unpack(theta: np.ndarray) -> list[np.ndarray]:
        out, i = [], 0
        for s, m in zip(shapes, sizes, strict=True):
            out.append(theta[i:i + m].reshape(s))
            i += m
        return out

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w1, b1, w2, b2 = unpack(theta)
        a = x @ w1 + b1
        h = np.maximum(a, 0)
        p = _softmax(h @ w2 + b2)
        nll = -(sw * np.log(np.maximum((p * onehot).sum(axis=1), 1e-12))).sum() / n
        g = (sw[:, None] * (p - onehot)) / n
        gw2 = h.T @ g + l2 * w2
        gh = (g @ w2.T) * (a > 0)
        gw1 = x.T @ gh + l2 * w1
        reg = 0.5 * l2 * float((w1 * w1).sum() + (w2 * w2).sum())
        return nll + reg, np.concatenate([gw1.ravel(), gh.sum(axis=0), gw2.ravel(), g.sum(axis=0)])

    res = minimize(loss, theta0, jac=True, method="L-BFGS-B", options={"maxiter": 300})
    w1, b1, w2, b2 = unpack(res.x)
    return w1, b1, w2, b2


def predict_mlp(x: np.ndarray, w1: np.ndarray, b1: np.ndarray, w2: np.ndarray, b2: np.ndarray) -> np.ndarray:
    return _softmax(np.maximum(x @ w1 + b1, 0) @ w2 + b2)


def threshold_at_precision(scores: np.ndarray, positive: np.ndarray, target: float) -> tuple[float, float, float]:
    """Lowest score with cumulative precision >= target (most recall there): (threshold, precision, recall)."""
    order = np.argsort(-scores, kind="stable")
    s, t = scores[order], positive[order].astype(np.float64)
    tp = np.cumsum(t)
    prec = tp / np.arange(1, len(t) + 1)
    ok = np.where(prec >= target)[0]
    if not len(ok) or t.sum() == 0:
        return 0.5, 0.0, 0.0
    i = ok[np.argmax(tp[ok])]
    return float(s[i]), float(prec[i]), float(tp[i] / t.sum())


@dataclass(frozen=True)
class Config:
    features: str  # "global" (the v1 896) or "all" (global + grid cells), either with "+det"
    head: str  # "lr" or "mlp<H>"
    l2: float
    flip: bool = True  # the mirrored crops as extra training rows

    @property
    def key(self) -> str:
        return f"{self.features}/{self.head}/l2={self.l2:g}" + ("" if self.flip else "/noflip")

    @property
    def hidden(self) -> int:
        return int(self.head[3:]) if self.head.startswith("mlp") else 0


def parse_config(text: str) -> Config:
    """``FEATURES:HEAD:L2[:noflip]``, e.g. ``global:lr:0.3:noflip``, ``all+det:mlp64:1``."""
    features, head, l2, *rest = text.split(":")
    return Config(features, head, float(l2), flip=rest != ["noflip"])


class Head:
    """A fitted head on standardised inputs (a column subset of the cache)."""

    def __init__(self, cfg: Config, x: np.ndarray, y: np.ndarray, k: int) -> None:
        self.cfg = cfg
        self.params: tuple[np.ndarray, ...] = (fit_mlp(x, y, k, cfg.l2, cfg.hidden) if cfg.hidden
                                                else fit(x, y, k, cfg.l2))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return predict_mlp(x, *self.params) if self.cfg.hidden else predict(x, *self.params)


def design(data: dict[str, np.ndarray], features: str, key: str = "X", det_columns: int = 0) -> np.ndarray:
    """[pooled features, cues] for a feature subset: ``global`` (the v1 896), ``all`` (+ grid cells), either
    with ``+det`` (the crop's detector scores, the cache's last ``det_columns`` columns)."""
    base, _, det = features.partition("+")
    x = data[key]
    pooled = x[:, :GLOBAL_WIDTH] if base == "global" else x[:, : x.shape[1] - det_columns]
    parts = [pooled] + ([x[:, x.shape[1] - det_columns:]] if det == "det" and det_columns else []) + [data["C"]]
    if det == "det" and not det_columns:
        raise ValueError(f"{features}: the feature cache has no crop detector scores")
    return np.concatenate(parts, axis=1).astype(np.float64)


def scaled_columns(cfg: Config, data: dict[str, np.ndarray], det_columns: int) -> int:
    """The trailing columns weighted up by ``--cue-scale``: the 3 frame cues, and the crop's detector scores
    when the config uses them (they sit just before the cues)."""
    return data["C"].shape[1] + (det_columns if cfg.features.endswith("+det") else 0)


def standardiser(x_raw: np.ndarray, n_cues: int, cue_scale: float) -> tuple[np.ndarray, np.ndarray]:
    mean, std = x_raw.mean(axis=0), x_raw.std(axis=0) + 1e-6
    # The detector cues are 3 columns among ~900-3600 pooled features: shrinking their std (folded into the
    # shipped standardisation) lets the shared L2 penalty bind them less.
    std[-n_cues:] /= cue_scale
    return mean, std


def folds_of(images: np.ndarray, k: int = 5) -> np.ndarray:
    groups = np.array([group_of(str(n)) for n in images])
    uniq = np.array(sorted(set(groups)))
    rng = np.random.default_rng(0)
    fold_of_group = dict(zip(uniq, rng.permutation(len(uniq)) % k, strict=True))
    return np.array([fold_of_group[g] for g in groups])


def cross_validate(cfg: Config, data: dict[str, np.ndarray], y: np.ndarray, classes: list[str], fold: np.ndarray,
                   cue_scale: float, flip: bool, det_columns: int = 0) -> tuple[np.ndarray, dict[str, object]]:
    x_raw = design(data, cfg.features, det_columns=det_columns)
    xf_raw = design(data, cfg.features, "Xf", det_columns) if flip and cfg.flip and "Xf" in data else None
    oof = np.zeros((len(y), len(classes)))
    for f in range(int(fold.max()) + 1):
        tr, te = fold != f, fold == f
        xt, yt = x_raw[tr], y[tr]
        if xf_raw is not None:
            xt, yt = np.concatenate([xt, xf_raw[tr]]), np.concatenate([yt, yt])
        mean, std = standardiser(xt, scaled_columns(cfg, data, det_columns), cue_scale)
        head = Head(cfg, (xt - mean) / std, yt, len(classes))
        oof[te] = head((x_raw[te] - mean) / std)
    result: dict[str, object] = {}
    recalls = []
    for i, c in enumerate(classes):
        if c == "none":
            continue
        thr, p, r = threshold_at_precision(oof[:, i], y == i, TARGET_PRECISION.get(c, 0.85))
        per_set = {}
        for s in sorted(set(data["set"])):
            m = data["set"] == s
            if (y[m] == i).any():
                hit = (oof[m, i] >= thr) & (y[m] == i)
                per_set[s] = round(float(hit.sum() / (y[m] == i).sum()), 4)
        result[c] = {"threshold": round(thr, 4), "cv_precision": round(p, 4), "cv_recall": round(r, 4),
                     "cv_recall_per_set": per_set}
        recalls.append(r)
    result["score"] = round(float(np.mean(recalls)), 4) if recalls else 0.0
    return oof, result


DEFAULT_CONFIGS = ("global:lr:0.3", "global:lr:0.3:noflip", "global+det:lr:0.3", "global+det:lr:0.3:noflip",
                   "all+det:lr:1", "all:lr:1", "all:lr:1:noflip", "global+det:mlp64:0.3",
                   "global:mlp64:0.3:noflip")


def main(args: argparse.Namespace) -> int:
    args.run.mkdir(parents=True, exist_ok=True)
    log = args.run / "train.log"
    head_path = args.run / "head.npz"
    if head_path.exists():
        print(f"{head_path} exists (resume: nothing to do)")
        return 0
    data = load(args.cache, args.sets, "train", args.variant)
    present = sorted(set(int(v) for v in data["y"]))
    classes = [BEHAVIOURS[i] for i in present]
    y = np.searchsorted(present, data["y"])
    fold = folds_of(data["image"])
    size, margin, grid, crop_scores = parse_variant(args.variant)
    det_columns = len(CROP_SCORE_CLASSES) if crop_scores else 0
    cv_path = args.run / "cv.jsonl"
    done = {}
    if cv_path.exists():
        for line in cv_path.read_text().splitlines():
            row = json.loads(line)
            done[row["config"]] = row
    for text in args.configs:
        cfg = parse_config(text)
        if cfg.key in done:
            continue
        t0 = time.time()
        _, result = cross_validate(cfg, data, y, classes, fold, args.cue_scale, not args.no_flip, det_columns)
        row = {"config": cfg.key, "text": text, **result, "seconds": round(time.time() - t0, 1)}
        done[cfg.key] = row
        with cv_path.open("a") as f:
            f.write(json.dumps(row) + "\n")
        with log.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps(row), flush=True)
    best = max((done[parse_config(t).key] for t in args.configs), key=lambda r: r["score"])
    cfg = parse_config(str(best["text"]))
    x_raw = design(data, cfg.features, det_columns=det_columns)
    xt, yt = x_raw, y
    flipped = not args.no_flip and cfg.flip and "Xf" in data
    if flipped:
        xt, yt = np.concatenate([x_raw, design(data, cfg.features, "Xf", det_columns)]), np.concatenate([y, y])
    mean, std = standardiser(xt, scaled_columns(cfg, data, det_columns), args.cue_scale)
    head = Head(cfg, (xt - mean) / std, yt, len(classes))
    thresholds = {c: best[c]["threshold"] for c in classes if c != "none"}
    summary = {
        "sets": args.sets, "variant": args.variant, "size": size, "margin": margin,
        "grid": list(grid) if cfg.features.startswith("all") else [0, 0],
        "crop_scores": cfg.features.endswith("+det"), "gray": gray_variant(args.variant), "config": cfg.key,
        "features": cfg.features,
        "head": cfg.head, "l2": cfg.l2, "cue_scale": args.cue_scale, "flip_augment": flipped,
        "classes": list(classes), "persons": len(y),
        "per_class": {c: int((y == i).sum()) for i, c in enumerate(classes)},
        "per_set": {s: int((data["set"] == s).sum()) for s in args.sets},
        "groups": len(set(group_of(str(n)) for n in data["image"])),
        "cv_target_precision": {c: TARGET_PRECISION.get(c, 0.85) for c in classes if c != "none"},
        "thresholds": thresholds,
        "cv": {c: best[c] for c in classes if c != "none"},
        "configs_tried": {k: v["score"] for k, v in done.items()},
    }
    arrays: dict[str, Any] = {"mean": mean, "std": std}
    if cfg.hidden:
        arrays.update(w1=head.params[0], b1=head.params[1], w=head.params[2], b=head.params[3])
    else:
        arrays.update(w=head.params[0], b=head.params[1])
    summary["one_vs_rest"] = {}
    for text in args.one_vs_rest:
        behaviour, l2 = text.split(":")
        extra, extra_arrays = one_vs_rest(args, behaviour, float(l2), cfg.features, det_columns)
        summary["one_vs_rest"][behaviour] = extra
        summary["classes"].append(behaviour)
        summary["per_class"][behaviour] = extra["train_persons"]
        thresholds[behaviour] = extra["threshold"]
        arrays.update(extra_arrays)
    arrays["classes"] = np.asarray(summary["classes"])
    np.savez(head_path, **arrays)
    (args.run / "summary.json").write_text(json.dumps(summary, indent=2))
    with log.open("a") as f:
        f.write(json.dumps(summary) + "\n")
    print(json.dumps(summary, indent=2))
    return 0


def one_vs_rest(args: argparse.Namespace, behaviour: str, l2: float, features: str, det_columns: int
                ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A behaviour's own two-class head ([rest, behaviour], LR, balanced) on ``--ovr-sets``' train splits,
    over the main head's feature subset; threshold from grouped 5-fold CV at the behaviour's target
    precision, then refitted on all of them. Lets a behaviour that only other sets label (dozing in the
    photo sets) join without the main head's phone_use decision being refitted on those photos."""
    data = load(args.cache, args.ovr_sets, "train", args.variant)
    yb = (data["y"] == BEHAVIOURS.index(behaviour)).astype(np.int64)
    cfg = Config(features, "lr", l2, flip=False)
    oof, cv = cross_validate(cfg, data, yb, ["none", behaviour], folds_of(data["image"]), args.cue_scale,
                             flip=False, det_columns=det_columns)
    x_raw = design(data, features, det_columns=det_columns)
    mean, std = standardiser(x_raw, scaled_columns(cfg, data, det_columns), args.cue_scale)
    w, b = fit((x_raw - mean) / std, yb, 2, l2)
    result = cast(dict[str, Any], cv[behaviour])  # cross_validate's per-behaviour figures
    sets, above = data["set"], oof[:, 1] >= result["threshold"]
    summary = {
        "sets": args.ovr_sets, "l2": l2, "features": features, "train_persons": int(yb.sum()),
        "rest_persons": int((yb == 0).sum()), **result,
        "cv_false_positives_per_set": {str(s): int((above & (yb == 0) & (sets == s)).sum()) for s in args.ovr_sets},
    }
    prefix = f"ovr_{behaviour}_"
    return summary, {f"{prefix}mean": mean, f"{prefix}std": std, f"{prefix}w": w, f"{prefix}b": b}


def parse_variant(variant: str) -> tuple[int, float, tuple[int, int], bool]:
    """``s160m10g3x2d`` -> (160, 0.1, (3, 2), True) (models.behaviour_data.variant_name; a trailing ``y``,
    luma crops, is :func:`gray_variant`)."""
    m = re.fullmatch(r"s(\d+)m(\d+)g(\d+)x(\d+)(d?)(y?)", variant)
    if m is None:
        raise ValueError(f"not a feature variant: {variant}")
    return int(m.group(1)), int(m.group(2)) / 100, (int(m.group(3)), int(m.group(4))), m.group(5) == "d"


def gray_variant(variant: str) -> bool:
    return variant.endswith("y")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cache", type=Path, default=Path("/work/data/behave/features"))
    p.add_argument("--variant", default="s160m10g3x2", help="feature recipe (models.behaviour_data variant_name)")
    p.add_argument("--run", type=Path, default=Path("var/behaviour/runs/bh-v2"))
    p.add_argument("--sets", nargs="+", default=["suspisense-phone", "phone-usage-bwssytems", "clerk-clips"])
    p.add_argument("--configs", nargs="+", default=list(DEFAULT_CONFIGS), metavar="FEATURES:HEAD:L2")
    p.add_argument("--cue-scale", type=float, default=10.0, help="weight of the detector cues vs the features")
    p.add_argument("--no-flip", action="store_true", help="do not add the mirrored crops as training rows")
    p.add_argument("--one-vs-rest", nargs="*", default=[], metavar="BEHAVIOUR:L2",
                   help="add a column for BEHAVIOUR from its own two-class head trained on --ovr-sets")
    p.add_argument("--ovr-sets", nargs="*", default=[], help="the sets the one-vs-rest heads train on")
    return p


if __name__ == "__main__":
    raise SystemExit(main(parser().parse_args()))
