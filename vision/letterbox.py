"""Letterbox: resize keeping aspect, pad with gray 114 (as Ultralytics does), into a float RGB CHW input.

The output array is the *caller's* (:func:`letterbox_into`), so concurrent callers never share one; the
:class:`Letterbox` it returns maps network-input boxes back to image pixels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
# An OpenCV BGR uint8 image. OpenCV's stubs type results as "integer | floating" arrays, so images stay Any.
Image = npt.NDArray[Any]
PAD_VALUE = 114


@dataclass(frozen=True, slots=True)
class Letterbox:
    """How an image was resized and padded into the network input, to map boxes back."""

    scale: float
    pad_x: int
    pad_y: int

    def to_image(self, boxes: FloatArray) -> FloatArray:
        """(N, 4) xyxy in network-input pixels -> image pixels (not clipped)."""
        out = np.asarray(boxes, dtype=np.float32).copy()
        out[:, [0, 2]] = (out[:, [0, 2]] - self.pad_x) / self.scale
        out[:, [1, 3]] = (out[:, [1, 3]] - self.pad_y) / self.scale
        return out


def letterbox_into(image_bgr: Image, out: FloatArray) -> Letterbox:
    """Write ``image_bgr`` (H, W, 3 BGR uint8) letterboxed into ``out`` (3, th, tw) as RGB float in [0, 1]."""
    h, w = image_bgr.shape[:2]
    th, tw = out.shape[1:]
    scale = min(tw / w, th / h)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    px, py = (tw - nw) // 2, (th - nh) // 2  # = Ultralytics' round(pad - 0.1)
    resized = image_bgr if (nw, nh) == (w, h) else cv2.resize(image_bgr, (nw, nh), interpolation=cv2.INTER_LINEAR)
    out.fill(PAD_VALUE / 255)
    # BGR uint8 HWC -> RGB float CHW, written in place.
    out[:, py:py + nh, px:px + nw] = resized[:, :, ::-1].transpose(2, 0, 1) * np.float32(1 / 255)
    return Letterbox(scale=scale, pad_x=px, pad_y=py)


def letterbox(image_bgr: Image, size: int | tuple[int, int]) -> tuple[FloatArray, Letterbox]:
    """A fresh (3, H, W) network input for one image and its :class:`Letterbox`."""
    th, tw = (size, size) if isinstance(size, int) else size
    out = np.empty((3, th, tw), dtype=np.float32)
    return out, letterbox_into(image_bgr, out)
