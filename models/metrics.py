"""Detection metrics in numpy: greedy IoU matching, per-class precision/recall and AP50.

AP is the area under the all-point interpolated precision/recall curve (VOC 2010+ style): precision is
made monotonically non-increasing from the right and integrated over recall steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel

from vision.boxes import iou_matrix


def match(pred_boxes: npt.NDArray[np.float32], pred_scores: npt.NDArray[np.float32],
          gt_boxes: npt.NDArray[np.float32], iou_threshold: float = 0.5) -> npt.NDArray[np.bool_]:
    """True positives of one image and one class: each prediction, best score first, takes the unmatched
    ground-truth box it overlaps most (IoU >= threshold)."""
    tp = np.zeros(len(pred_boxes), dtype=bool)
    if len(pred_boxes) == 0 or len(gt_boxes) == 0:
        return tp
    ious = iou_matrix(pred_boxes, gt_boxes)
    taken = np.zeros(len(gt_boxes), dtype=bool)
    for i in np.argsort(-pred_scores, kind="stable"):
        candidates = np.where(~taken, ious[i], -1.0)
        j = int(candidates.argmax())
        if candidates[j] >= iou_threshold:
            taken[j] = True
            tp[i] = True
    return tp


def roc_auc(scores: npt.ArrayLike, positive: npt.ArrayLike) -> float:
    """Area under the ROC curve: the chance that a random positive outscores a random negative, ties
    counting half (Mann-Whitney U from average ranks). NaN when either side is empty."""
    s, y = np.asarray(scores, dtype=np.float64), np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="stable")
    ranks = np.empty(len(s))
    ranks[order] = np.arange(1, len(s) + 1)
    _, inverse = np.unique(s, return_inverse=True)
    ranks = (np.bincount(inverse, weights=ranks) / np.bincount(inverse))[inverse]  # ties share their mean rank
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_precision(recall: npt.NDArray[np.float64], precision: npt.NDArray[np.float64]) -> float:
    """All-point interpolated AP from a PR curve ordered by decreasing score."""
    if len(recall) == 0:
        return 0.0
    r = np.concatenate([[0.0], recall, [recall[-1]]])
    p = np.concatenate([[1.0], precision, [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    steps = np.where(r[1:] != r[:-1])[0]
    return float(np.sum((r[steps + 1] - r[steps]) * p[steps + 1]))


class ClassMetrics(BaseModel):
    gt: int  # ground-truth boxes
    images: int  # images containing the class
    predictions: int  # predictions at the operating threshold
    precision: float
    recall: float
    ap50: float
    recall_at_p95: float  # best recall among thresholds whose precision is >= 0.95


class GroupRecall(BaseModel):
    """Recall of one group of ground-truth boxes at the operating threshold (models/signverify_groups.py)."""

    gt: int
    found: int
    recall: float


@dataclass
class ClassAccumulator:
    scores: list[npt.NDArray[np.float32]] = field(default_factory=list)
    tps: list[npt.NDArray[np.bool_]] = field(default_factory=list)
    gt: int = 0
    images: int = 0

    def add(self, pred_boxes: npt.NDArray[np.float32], pred_scores: npt.NDArray[np.float32],
            gt_boxes: npt.NDArray[np.float32], iou_threshold: float = 0.5) -> None:
        self.scores.append(pred_scores.astype(np.float32))
        self.tps.append(match(pred_boxes, pred_scores, gt_boxes, iou_threshold))
        self.gt += len(gt_boxes)
        self.images += int(len(gt_boxes) > 0)

    def result(self, conf: float) -> ClassMetrics:
        scores = np.concatenate(self.scores) if self.scores else np.zeros(0, np.float32)
        tps = np.concatenate(self.tps) if self.tps else np.zeros(0, bool)
        order = np.argsort(-scores, kind="stable")
        scores, tps = scores[order], tps[order]
        ctp = np.cumsum(tps)
        cfp = np.cumsum(~tps)
        recall = ctp / max(self.gt, 1)
        precision = ctp / np.maximum(ctp + cfp, 1)
        at = scores >= conf
        n_at = int(at.sum())
        tp_at = int(tps[at].sum())
        good = precision >= 0.95
        return ClassMetrics(
            gt=self.gt,
            images=self.images,
            predictions=n_at,
            precision=round(tp_at / n_at, 4) if n_at else 0.0,
            recall=round(tp_at / self.gt, 4) if self.gt else 0.0,
            ap50=round(average_precision(recall, precision), 4) if self.gt else 0.0,
            recall_at_p95=round(float(recall[good].max()), 4) if self.gt and good.any() else 0.0,
        )
