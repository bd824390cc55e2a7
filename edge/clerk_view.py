"""A window's second, zoomed view of its staff zone, for a clerk the window's own crop shrinks too far.

A window's crop holds every zone the detector looks at (staff, customer, floor). Where the customers'
side is large next to the staff zone (a far desk on a fisheye, a counter seen across the hall), the clerk
is a few dozen pixels in a crop the network sees at 320 px, and is missed on half the frames: the window
then reads unattended while the clerk sits there, and a customer at the counter makes that an alert. The
staff zone's own crop, in the same batched detector call, shows the clerk several times larger.

The window's detections are then merged: its clerk candidates come from the zoomed view only (the view
made to see them), every other person from the window's crop (the customers), and objects from both,
the better-scored of two overlapping boxes kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from edge.detect import Detection
from vision.boxes import batched_nms
from vision.taxonomy import CLASS_ID

Rect = tuple[int, int, int, int]


def clerk_view(crop: Rect, staff_crop: Rect, min_zoom: float | None) -> Rect | None:
    """The staff zone's crop when it enlarges the clerk at least ``min_zoom`` times over ``crop``."""
    if min_zoom is None:
        return None
    side = max(crop[2] - crop[0], crop[3] - crop[1])
    staff_side = max(staff_crop[2] - staff_crop[0], staff_crop[3] - staff_crop[1])
    return staff_crop if staff_side > 0 and side / staff_side >= min_zoom else None


def merge_views(window: Sequence[Detection], zoomed: Sequence[Detection], is_clerk: Callable[[Detection], bool],
                iou: float) -> list[Detection]:
    """One window's detections from its crop and its staff zone's zoomed crop (see the module doc)."""
    people = [d for d in window if d.label == "person" and not is_clerk(d)]
    people += [d for d in zoomed if d.label == "person" and is_clerk(d)]
    things = [d for d in (*window, *zoomed) if d.label != "person"]
    if len(things) > 1:
        kept = batched_nms(np.array([d.box for d in things], np.float32), np.array([d.score for d in things],
                           np.float32), np.array([CLASS_ID[d.label] for d in things], np.int64), iou)
        things = [things[i] for i in kept]
    return people + things
