"""Pause-sign recall per group of sign, so that a layout or a size the pipeline misses shows up by name
instead of hiding in the overall recall (issue #14: the two-line 暂停服务 / 请到其他窗口办理 placard and signs
narrower than 10% of the frame were each missed as a group).

Groups come from what the generator recorded for each pasted sign in ``sources.jsonl`` (``signs``: box,
layout, second line; models/data/build.py) and from the ground-truth box itself (its width). A ground-truth
sign is *found* when a pause_sign detection scoring at or above the operating threshold takes it in the
evaluator's greedy IoU >= 0.5 matching (:func:`models.metrics.match`, best score first).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from models.metrics import GroupRecall
from vision.boxes import iou_matrix

SMALL_WIDTH = 0.10  # a sign narrower than this share of the frame's width is "small"
SECOND_LINE = "请到其他窗口办理"
LAYOUT_GROUPS = {"project": "project_sign", "placard": "one_line_placard", "two_line": "two_line_placard"}
SMALL_GROUP = "narrower_than_10pct"
SECOND_LINE_GROUP = f"second_line_{SECOND_LINE}"
RECORD_IOU = 0.8  # a label box is the recorded paste it overlaps this much (labels are rounded to 6 digits)


def sign_records(dataset_root: Path) -> dict[str, list[list[float | str]]]:
    """image stem -> [[x1, y1, x2, y2, layout, second line], ...] from ``sources.jsonl`` (empty if absent)."""
    path = dataset_root / "sources.jsonl"
    if not path.is_file():
        return {}
    out: dict[str, list[list[float | str]]] = {}
    for line in path.read_text().splitlines():
        row = json.loads(line)
        if row.get("signs"):
            out[row["image"]] = row["signs"]
    return out


def groups_of(gt: npt.NDArray[np.float32], image_w: int, records: list[list[float | str]]) -> list[list[str]]:
    """The groups of each ground-truth sign box of one image."""
    out: list[list[str]] = [[SMALL_GROUP] if (b[2] - b[0]) < SMALL_WIDTH * image_w else [] for b in gt]
    if records and len(gt):
        boxes = np.array([[float(v) for v in r[:4]] for r in records], np.float32)
        ious = iou_matrix(gt, boxes)
        for i, row in enumerate(ious):
            j = int(row.argmax())
            if row[j] >= RECORD_IOU:
                layout, second = str(records[j][4]), str(records[j][5])
                out[i].append(LAYOUT_GROUPS.get(layout, layout))
                if second == SECOND_LINE:
                    out[i].append(SECOND_LINE_GROUP)
    return out


def found_gt(pred_boxes: npt.NDArray[np.float32], pred_scores: npt.NDArray[np.float32],
             gt: npt.NDArray[np.float32], conf: float, iou_threshold: float = 0.5) -> npt.NDArray[np.bool_]:
    """Which ground-truth boxes a detection at or above ``conf`` takes (greedy, best score first: the same
    pairs as :func:`models.metrics.match`, restricted to the detections the operating point keeps)."""
    taken = np.zeros(len(gt), dtype=bool)
    keep = pred_scores >= conf
    boxes, scores = pred_boxes[keep], pred_scores[keep]
    if not len(boxes) or not len(gt):
        return taken
    ious = iou_matrix(boxes, gt)
    for i in np.argsort(-scores, kind="stable"):
        candidates = np.where(~taken, ious[i], -1.0)
        j = int(candidates.argmax())
        if candidates[j] >= iou_threshold:
            taken[j] = True
    return taken


@dataclass
class GroupAccumulator:
    records: dict[str, list[list[float | str]]]
    gt: Counter[str] = field(default_factory=Counter)
    found: Counter[str] = field(default_factory=Counter)

    def add(self, image: str, image_w: int, pred_boxes: npt.NDArray[np.float32],
            pred_scores: npt.NDArray[np.float32], gt: npt.NDArray[np.float32], conf: float) -> None:
        hit = found_gt(pred_boxes, pred_scores, gt, conf)
        for groups, ok in zip(groups_of(gt, image_w, self.records.get(image, [])), hit, strict=True):
            for g in groups:
                self.gt[g] += 1
                self.found[g] += int(ok)

    def result(self) -> dict[str, GroupRecall]:
        return {g: GroupRecall(gt=n, found=self.found[g], recall=round(self.found[g] / n, 4))
                for g, n in sorted(self.gt.items())}
