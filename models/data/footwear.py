"""Footwear cut-outs from the footwear-sbs product photos (white background).

WEAK PROXY: catalogue shots of single shoes, side-on, cut out and pasted small under desks. They give the
detector a shape prior for slipper (sandal) vs shoe (shoe/boot); they are not feet under a desk seen by
a ceiling camera, and metrics on them overstate field accuracy.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from models.infer import Image
from models.taxonomy import FOOTWEAR_TO_OURS


def cutout(photo_bgr: Image, white: int = 235) -> Image | None:
    """RGBA of the product on its white background (largest non-white blob, holes filled), cropped."""
    fg = (photo_bgr.min(axis=2) < white).astype(np.uint8)
    fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    contours, _ = cv2.findContours(fg, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    biggest = max(contours, key=cv2.contourArea)
    if cv2.contourArea(biggest) < 0.05 * fg.size:
        return None
    mask = np.zeros_like(fg)
    cv2.drawContours(mask, [biggest], -1, 255, thickness=cv2.FILLED)
    mask = cv2.erode(mask, np.ones((2, 2), np.uint8))
    x, y, w, h = cv2.boundingRect(biggest)
    rgba = np.dstack([photo_bgr, mask])[y : y + h, x : x + w]
    return np.ascontiguousarray(rgba)


def footwear_photos(root: Path) -> list[tuple[Path, str]]:
    """(photo, our class) for every product photo, sorted for determinism."""
    out = []
    for sub, ours in FOOTWEAR_TO_OURS.items():
        out += [(p, ours) for p in sorted((root / sub).glob("*.jpg"))]
    return out


def rotate_rgba(rgba: Image, angle: float, flip: bool) -> Image:
    """Rotate with an expanded canvas (so nothing is cropped) and optionally mirror."""
    if flip:
        rgba = rgba[:, ::-1]
    h, w = rgba.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(h * sin + w * cos), int(h * cos + w * sin)
    m[0, 2] += nw / 2 - w / 2
    m[1, 2] += nh / 2 - h / 2
    return cv2.warpAffine(np.ascontiguousarray(rgba), m, (nw, nh), borderValue=(0, 0, 0, 0))
