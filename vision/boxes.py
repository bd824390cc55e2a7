"""Box arithmetic in numpy: pairwise IoU and greedy (class-wise) non-maximum suppression."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
Box = Sequence[float]  # x1, y1, x2, y2 in pixels


def iou_matrix(a: FloatArray, b: FloatArray) -> FloatArray:
    """Pairwise IoU of xyxy boxes, shape (len(a), len(b))."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), dtype=np.float32)
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(br - tl, 0, None), axis=2)
    area_a = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    area_b = np.prod(np.clip(b[:, 2:] - b[:, :2], 0, None), axis=1)
    return (inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)).astype(np.float32)


def nms(boxes: FloatArray, scores: FloatArray, iou_threshold: float) -> IntArray:
    """Greedy non-maximum suppression of (N, 4) xyxy boxes; kept indices, best score first (ties: lower index).

    A box's fate depends only on the better-scored boxes kept before it, so the boxes kept above any score
    are the same whatever lower-scored candidates were also fed in: evaluating at a low floor and then
    thresholding equals running at that threshold."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        best = int(order[0])
        keep.append(best)
        if order.size == 1:
            break
        rest = order[1:]
        ious = iou_matrix(boxes[best : best + 1], boxes[rest])[0]
        order = rest[ious <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def batched_nms(boxes: FloatArray, scores: FloatArray, classes: IntArray, iou_threshold: float) -> IntArray:
    """Class-wise NMS via the coordinate-offset trick: boxes of different classes never overlap."""
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    offset = classes.astype(np.float32)[:, None] * (float(boxes.max()) - min(float(boxes.min()), 0.0) + 1.0)
    return nms(boxes + offset, scores, iou_threshold)
