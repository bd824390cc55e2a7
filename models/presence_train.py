"""Train the presence verifier's head on cached candidate cues (runtime venv; seconds).

    python -m models.presence_train --cache /work/data/presence/features --run /work/data/presence/runs/pv-v1

The head is L2 logistic regression (balanced class weights, models/behaviour_train.fit) on standardised
logit([detector person score, teacher person, teacher seat, teacher object]) (vision/presence.py). The
threshold is chosen by grouped 5-fold cross-validation inside the training sets only (groups: a COCO /
suspisense image, or a clip window, so one clip's frames never sit on both sides of a fold): the highest
P(person) that still keeps out-of-fold person recall >= ``--recall`` (a missed clerk is a false absence
alarm, so the verifier must almost never cost one). No test clip (models/presence_clips.TEST) is read here.
Writes ``head.json`` (a :class:`vision.presence.PresenceHead`) and ``summary.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from models.behaviour_train import fit, predict
from vision.presence import CUES, PresenceHead, logits


def load(cache: Path, sets: list[str]) -> dict[str, np.ndarray]:
    parts = [np.load(cache / f"{s}.npz") for s in sets]
    out = {k: np.concatenate([p[k] for p in parts]) for k in ("C", "y", "group")}
    out["set"] = np.concatenate([np.full(len(p["y"]), s) for s, p in zip(sets, parts, strict=True)])
    return out


def threshold_at_recall(p_person: np.ndarray, positive: np.ndarray, recall: float) -> float:
    """The highest threshold at which at least ``recall`` of the positives still score >= it."""
    pos = np.sort(p_person[positive])
    k = int(np.floor((1.0 - recall) * len(pos)))
    return float(pos[min(k, len(pos) - 1)])


def _binary_head(x: np.ndarray, y: np.ndarray, l2: float) -> tuple[np.ndarray, float]:
    w, b = fit(x, y, 2, l2)  # softmax over 2 classes == logistic on the difference
    return w[:, 1] - w[:, 0], float(b[1] - b[0])


def main(args: argparse.Namespace) -> int:
    args.run.mkdir(parents=True, exist_ok=True)
    data = load(args.cache, args.sets)
    # Candidates under every config's detector confidence never count as clerks: they do not set the head.
    counted = data["C"][:, 0] >= args.min_det
    data = {k: v[counted] for k, v in data.items()}
    x_raw = logits(data["C"]).astype(np.float64)
    y = data["y"].astype(np.int64)
    mean, std = x_raw.mean(axis=0), x_raw.std(axis=0) + 1e-6
    x = (x_raw - mean) / std
    groups = data["group"]
    uniq = np.array(sorted(set(groups.tolist())))
    fold_of = dict(zip(uniq, np.random.default_rng(0).permutation(len(uniq)) % 5, strict=True))
    fold = np.array([fold_of[g] for g in groups])
    t0 = time.time()
    oof = np.zeros(len(y))
    for f in range(5):
        tr, te = fold != f, fold == f
        w, b = fit(x[tr], y[tr], 2, args.l2)
        oof[te] = predict(x[te], w, b)[:, 1]
    thr = threshold_at_recall(oof, y == 1, args.recall)
    keep = oof >= thr
    per_set = {}
    for s in args.sets:
        m = data["set"] == s
        pos, neg = m & (y == 1), m & (y == 0)
        per_set[s] = {"person": int(pos.sum()), "not_person": int(neg.sum()),
                      "cv_person_recall": round(float(keep[pos].mean()), 4) if pos.any() else None,
                      "cv_not_person_rejected": round(float((~keep[neg]).mean()), 4) if neg.any() else None}
    weight, bias = _binary_head(x, y, args.l2)
    head = PresenceHead(tuple(round(float(v), 6) for v in mean), tuple(round(float(v), 6) for v in std),
                        tuple(round(float(v), 6) for v in weight), round(bias, 6), round(thr, 4))
    summary = {"sets": args.sets, "cues": list(CUES), "l2": args.l2, "min_det": args.min_det,
               "candidates": len(y), "groups": len(uniq),
               "cv_target_recall": args.recall, "threshold": head.threshold,
               "cv_person_recall": round(float(keep[y == 1].mean()), 4),
               "cv_not_person_rejected": round(float((~keep[y == 0]).mean()), 4), "per_set": per_set,
               "seconds": round(time.time() - t0, 1)}
    (args.run / "head.json").write_text(json.dumps(asdict(head), indent=2))
    (args.run / "summary.json").write_text(json.dumps(summary, indent=2))
    with (args.run / "train.log").open("a") as log:
        log.write(json.dumps(summary) + "\n")
    print(json.dumps(summary, indent=2))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cache", type=Path, required=True)
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--sets", nargs="+", default=["clips", "coco128", "suspisense"])
    p.add_argument("--l2", type=float, default=0.01)
    p.add_argument("--recall", type=float, default=0.98)
    p.add_argument("--min-det", type=float, default=0.08, help="lowest detector confidence a config runs at")
    return p


if __name__ == "__main__":
    raise SystemExit(main(parser().parse_args()))
