"""Person-level behaviour metrics: per clerk box, did the system say the right behaviour?

Pure logic (no I/O). Ground-truth persons are matched one-to-one to the system's person boxes (IoU >= 0.5,
greedy by IoU); a ground-truth person the detector missed is predicted ``missed`` (it counts against the
recall of its behaviour and against presence recall); a system person matching no ground truth is a
``none`` person as far as the truth goes (any behaviour it is given is a false positive).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, Field

from models.infer import iou_matrix

MISSED = "missed"


class PersonClassMetrics(BaseModel):
    support: int  # ground-truth persons with this behaviour
    predicted: int  # system persons given this behaviour
    tp: int
    precision: float | None  # None when nothing was predicted
    recall: float | None  # None when there is no support


class PersonEvaluation(BaseModel):
    data: str
    split: str
    description: str = ""
    images: int
    persons: int  # ground-truth persons
    presence_recall: float | None  # matched ground-truth persons / ground-truth persons
    extra_persons: int  # system persons with no ground truth
    classes: dict[str, PersonClassMetrics]
    confusion: dict[str, dict[str, int]] = Field(default_factory=dict)  # truth -> predicted -> count
    ms_per_person_mean: float | None = None


class PersonAccumulator:
    def __init__(self, behaviours: Sequence[str]) -> None:
        self.behaviours = list(behaviours)
        self.confusion: dict[str, dict[str, int]] = {}
        self.images = 0
        self.extra = 0

    def _count(self, truth: str, pred: str) -> None:
        row = self.confusion.setdefault(truth, {})
        row[pred] = row.get(pred, 0) + 1

    def add(self, gt_boxes: np.ndarray, gt_labels: Sequence[str], boxes: np.ndarray, labels: Sequence[str],
            iou: float = 0.5) -> None:
        self.images += 1
        ious = iou_matrix(np.asarray(gt_boxes, np.float32).reshape(-1, 4), np.asarray(boxes, np.float32).reshape(-1, 4))
        gt_used, pred_used = set(), set()
        for flat in np.argsort(-ious, axis=None, kind="stable"):
            g, p = np.unravel_index(flat, ious.shape)
            if ious[g, p] < iou:
                break
            if g in gt_used or p in pred_used:
                continue
            gt_used.add(int(g))
            pred_used.add(int(p))
            self._count(gt_labels[int(g)], labels[int(p)])
        for g, truth in enumerate(gt_labels):
            if g not in gt_used:
                self._count(truth, MISSED)
        for p, pred in enumerate(labels):
            if p not in pred_used:
                self.extra += 1
                self._count("none", pred)

    def result(self, data: str, split: str, description: str = "", ms_per_person: float | None = None
               ) -> PersonEvaluation:
        conf = self.confusion
        persons = sum(sum(r.values()) for t, r in conf.items()) - self.extra
        missed = sum(r.get(MISSED, 0) for r in conf.values())
        classes = {}
        for b in self.behaviours:
            if b == "none":
                continue
            support = sum(conf.get(b, {}).values())
            predicted = sum(r.get(b, 0) for r in conf.values())
            tp = conf.get(b, {}).get(b, 0)
            classes[b] = PersonClassMetrics(
                support=support, predicted=predicted, tp=tp,
                precision=round(tp / predicted, 4) if predicted else None,
                recall=round(tp / support, 4) if support else None)
        return PersonEvaluation(
            data=data, split=split, description=description, images=self.images, persons=persons,
            presence_recall=round((persons - missed) / persons, 4) if persons else None, extra_persons=self.extra,
            classes=classes, confusion={t: dict(sorted(r.items())) for t, r in sorted(conf.items())},
            ms_per_person_mean=ms_per_person)
