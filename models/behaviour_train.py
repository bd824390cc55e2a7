"""Train the behaviour head on cached crop features (numpy + scipy; 2 CPU cores; seconds).

    python -m models.behaviour_train --cache var/behaviour/features --run var/behaviour/runs/bh-v1 \
        --sets suspisense-phone phone-usage-bwssytems clerk-clips

Only the ``train`` split of each set is read. The head is a multinomial logistic regression (L2, balanced
class weights) on standardised [features, cues] (the cues weighted up by --cue-scale); the classes are those
with training examples (a behaviour without data gets no column, so it can never fire). The phone-use
operating threshold is chosen by grouped 5-fold cross-validation inside train (groups: source video / photo
stem, so frames of one video never sit on both sides of a fold): the lowest P(phone_use) whose out-of-fold
precision is >= the target, at the most recall there. The val splits stay untouched for
:mod:`models.behaviour_release`. Resumable: an existing ``head.npz`` in the run folder is kept; the log is
``train.log`` beside it.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from models.behaviour import BEHAVIOURS

_VIDEO = re.compile(r"^(?P<g>.+?)(?:_f\d{6}.*|_t\d+\.\d|_jpg\.rf\..*)")


def group_of(image_name: str) -> str:
    stem = Path(image_name).stem
    m = _VIDEO.match(stem)
    return m.group("g") if m else stem


def load(cache: Path, sets: list[str], split: str, size: int) -> dict[str, np.ndarray]:
    parts = [np.load(cache / f"{s}-{split}-s{size}.npz") for s in sets]
    out = {k: np.concatenate([p[k] for p in parts]) for k in ("X", "C", "y", "image")}
    out["set"] = np.concatenate([np.full(len(p["y"]), s) for s, p in zip(sets, parts, strict=True)])
    return out


def fit(x: np.ndarray, y: np.ndarray, k: int, l2: float) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial LR by L-BFGS; balanced class weights. x is already standardised."""
    n, d = x.shape
    counts = np.bincount(y, minlength=k).astype(np.float64)
    sw = (n / (k * np.maximum(counts, 1)))[y]
    onehot = np.eye(k)[y]

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[: d * k].reshape(d, k), theta[d * k:]
        z = x @ w + b
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        nll = -(sw * np.log(np.maximum((p * onehot).sum(axis=1), 1e-12))).sum() / n
        g = (sw[:, None] * (p - onehot)) / n
        gw = x.T @ g + l2 * w
        return nll + 0.5 * l2 * float((w * w).sum()), np.concatenate([gw.ravel(), g.sum(axis=0)])

    res = minimize(loss, np.zeros(d * k + k), jac=True, method="L-BFGS-B", options={"maxiter": 400})
    return res.x[: d * k].reshape(d, k), res.x[d * k:]


def predict(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    z = x @ w + b
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(axis=1, keepdims=True)


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


def main(args: argparse.Namespace) -> int:
    args.run.mkdir(parents=True, exist_ok=True)
    log = (args.run / "train.log").open("a")
    head = args.run / "head.npz"
    if head.exists():
        print(f"{head} exists (resume: nothing to do)")
        return 0
    data = load(args.cache, args.sets, "train", args.size)
    x_raw = np.concatenate([data["X"], data["C"]], axis=1).astype(np.float64)
    present = sorted(set(int(v) for v in data["y"]))
    classes = [BEHAVIOURS[i] for i in present]
    y = np.searchsorted(present, data["y"])
    mean, std = x_raw.mean(axis=0), x_raw.std(axis=0) + 1e-6
    # The detector cues are 3 columns among ~900 pooled features: shrinking their std (folded into the
    # shipped standardisation) lets the shared L2 penalty bind them less. Chosen by the CV below, not on val.
    std[-data["C"].shape[1]:] /= args.cue_scale
    x = (x_raw - mean) / std
    groups = np.array([group_of(str(n)) for n in data["image"]])
    uniq = np.array(sorted(set(groups)))
    rng = np.random.default_rng(0)
    fold_of_group = dict(zip(uniq, rng.permutation(len(uniq)) % 5, strict=True))
    fold = np.array([fold_of_group[g] for g in groups])
    phone = classes.index("phone_use")
    t0 = time.time()
    oof = np.zeros((len(y), len(classes)))
    for f in range(5):
        tr, te = fold != f, fold == f
        w, b = fit(x[tr], y[tr], len(classes), args.l2)
        oof[te] = predict(x[te], w, b)
    thr, p_cv, r_cv = threshold_at_precision(oof[:, phone], y == phone, args.precision)
    w, b = fit(x, y, len(classes), args.l2)
    summary = {
        "sets": args.sets, "size": args.size, "l2": args.l2, "cue_scale": args.cue_scale, "classes": classes,
        "persons": len(y),
        "per_class": {c: int((y == i).sum()) for i, c in enumerate(classes)},
        "per_set": {s: int((data["set"] == s).sum()) for s in args.sets},
        "groups": len(uniq), "cv_target_precision": args.precision,
        "phone_threshold": round(thr, 4), "cv_precision": round(p_cv, 4), "cv_recall": round(r_cv, 4),
        "seconds": round(time.time() - t0, 1),
    }
    np.savez(head, mean=mean, std=std, w=w, b=b, classes=np.asarray(classes))
    (args.run / "summary.json").write_text(json.dumps(summary, indent=2))
    log.write(json.dumps(summary) + "\n")
    print(json.dumps(summary, indent=2))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cache", type=Path, default=Path("var/behaviour/features"))
    p.add_argument("--run", type=Path, default=Path("var/behaviour/runs/bh-v1"))
    p.add_argument("--sets", nargs="+", default=["suspisense-phone", "phone-usage-bwssytems", "clerk-clips"])
    p.add_argument("--size", type=int, default=160)
    p.add_argument("--l2", type=float, default=0.3)
    p.add_argument("--cue-scale", type=float, default=10.0, help="weight of the detector cues vs the features")
    p.add_argument("--precision", type=float, default=0.85, help="phone-use precision target for the threshold")
    return p


if __name__ == "__main__":
    raise SystemExit(main(parser().parse_args()))
