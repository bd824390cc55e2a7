"""Person presence per window per sampled frame on real clips, detector alone vs detector + presence verifier.

    python -m models.presence_eval --head /work/data/presence/runs/pv-v1/head.json \
        --json /work/data/presence/eval/test.json

For each window of :data:`models.presence_clips.TEST` (never trained or tuned on), every 0.5 s of its clip:
the window's clerk candidates exactly as the edge finds them (detector on the window crop, person boxes
with >= 30 % of their area in the staff zone), then "present" = any candidate at or above the detector
confidence (and, with the verifier, P(person) >= threshold). Truth: the clip card's timeline. Reported per
window and overall at each config's detector confidence: precision / recall of "present", and how many
empty-desk samples read present (false presence: what hides an absence). No hysteresis: a per-frame figure,
the edge's PresenceFilter then smooths it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from models.presence_clips import OFFICE_CCTV_CHECK, TEST, ClipWindow
from models.presence_data import DETECTOR, FLOOR, IOU, MARGIN, SIZE, TEACHER, labelled_windows, window_candidates
from vision.detector import Detector
from vision.presence import PresenceHead, TeacherCues

ROOT = Path(__file__).resolve().parents[1]
CONFIDENCES = (0.08, 0.3)  # config/office-cctv.yaml, and the edge default the scenario bench runs


def collect(detector: Detector, teacher: TeacherCues, shared: Path, windows: tuple[ClipWindow, ...]
            ) -> list[dict[str, object]]:
    """Per window and sample: truth and each candidate's cues (vision/presence.CUES), head-independent."""
    rows: list[dict[str, object]] = []
    for cw, t, image, truth in labelled_windows(shared, windows):
        cands = window_candidates(detector, image, cw, FLOOR)
        cues = teacher.cues(image, [d.box for d in cands], [d.score for d in cands])
        rows.append({"window": cw.name, "t": round(t, 2), "truth": truth,
                     "cues": [[round(float(v), 5) for v in c] for c in cues]})
    return rows


def detector_presence(detector: Detector, shared: Path, windows: tuple[ClipWindow, ...] = TEST
                      ) -> dict[str, object]:
    """The detector alone, overall at each of :data:`CONFIDENCES`: is the window's clerk there?"""
    rows = [{"window": cw.name, "truth": truth,
             "candidates": [[d.score, 1.0] for d in window_candidates(detector, image, cw, FLOOR)]}
            for cw, _, image, truth in labelled_windows(shared, windows)]
    return {f"confidence={conf}": _scores(rows, conf, None) for conf in CONFIDENCES}


def with_probs(rows: list[dict[str, object]], head: PresenceHead) -> list[dict[str, object]]:
    """Rows with ``candidates``: [detector score, P(person)] per candidate under ``head``."""
    out = []
    for r in rows:
        cues = np.asarray(r["cues"], np.float32).reshape(-1, 4)
        probs = head.probs(cues) if len(cues) else np.zeros(0, np.float32)
        out.append({**r, "candidates": [[float(c[0]), float(p)] for c, p in zip(cues, probs, strict=True)]})
    return out


def _scores(rows: list[dict[str, object]], conf: float, threshold: float | None) -> dict[str, object]:
    tp = fp = fn = tn = 0
    for r in rows:
        cands = r["candidates"]
        assert isinstance(cands, list)
        said = any(s >= conf and (threshold is None or p >= threshold) for s, p in cands)
        truth = r["truth"] == 1
        tp, fp, fn, tn = tp + (said and truth), fp + (said and not truth), fn + (truth and not said), \
            tn + (not said and not truth)
    return {"samples": len(rows), "present_truth": tp + fn, "empty_truth": fp + tn, "tp": tp, "fp": fp, "fn": fn,
            "tn": tn, "precision": round(tp / (tp + fp), 4) if tp + fp else None,
            "recall": round(tp / (tp + fn), 4) if tp + fn else None,
            "false_presence_rate": round(fp / (fp + tn), 4) if fp + tn else None}


def report(rows: list[dict[str, object]], threshold: float) -> dict[str, object]:
    out: dict[str, object] = {}
    names = sorted({str(r["window"]) for r in rows})
    for conf in CONFIDENCES:
        per: dict[str, object] = {}
        for label, thr in (("detector", None), ("verified", threshold)):
            per[label] = {"all": _scores(rows, conf, thr),
                          **{n: _scores([r for r in rows if r["window"] == n], conf, thr) for n in names}}
        out[f"confidence={conf}"] = per
    return out


def main(args: argparse.Namespace) -> int:
    head = PresenceHead(**json.loads(args.head.read_text()))
    cache = args.json.with_suffix(".cues.json")
    if cache.exists():  # the cues do not depend on the head: re-score a new head without re-running
        rows = json.loads(cache.read_text())
    else:
        detector = Detector(args.detector, confidence=FLOOR, threads=args.threads)
        windows = {"test": TEST, "office-cctv": OFFICE_CCTV_CHECK}[args.set]
        rows = collect(detector, TeacherCues(args.teacher, SIZE, MARGIN, IOU, args.threads), args.shared, windows)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(rows))
    scored = report(with_probs(rows, head), head.threshold)
    result = {"data": {"test": "models/presence_clips.TEST (clips no training or threshold choice read)",
                       "office-cctv": "models/presence_clips.OFFICE_CCTV_CHECK (burned-in boxes)"}[args.set],
              "head": str(args.head), "threshold": head.threshold, "step_s": 0.5, "report": scored}
    args.json.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: {m: v[m]["all"] for m in ("detector", "verified")}  # type: ignore[index]
                      for k, v in scored.items()}, indent=2))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--head", type=Path, required=True, help="head.json of models/presence_train.py")
    p.add_argument("--teacher", type=Path, default=TEACHER)
    p.add_argument("--set", choices=("test", "office-cctv"), default="test")
    p.add_argument("--json", type=Path, required=True)
    p.add_argument("--shared", type=Path, default=ROOT.parent / "shared/datasets")
    p.add_argument("--detector", type=Path, default=DETECTOR)
    p.add_argument("--threads", type=int, default=2)
    return p


if __name__ == "__main__":
    raise SystemExit(main(parser().parse_args()))
