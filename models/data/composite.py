"""Paste RGBA objects into real background photos with perspective, lighting, blur and occlusion, and
return the pasted object's box. Also the photometric helpers shared by all synthetic data."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from models.infer import Image


@dataclass(frozen=True)
class Pasted:
    box: tuple[float, float, float, float]  # xyxy of the labelled, visible part
    mask: npt.NDArray[np.bool_]  # where the object now covers the background


def to_gray3(image: Image) -> Image:
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)


def tint(image: Image, rng: np.random.Generator) -> Image:
    """Give a grayscale photo a plausible colour cast (warm/cool light, coloured walls) so that colour
    alone never tells the model which source an image came from."""
    gains = rng.uniform(0.75, 1.2, size=3)
    out = image.astype(np.float32) * gains[None, None, :]
    if rng.random() < 0.5:  # a soft coloured gradient (window light, a painted wall)
        h, w = image.shape[:2]
        ramp = np.linspace(0, 1, w if rng.random() < 0.5 else h, dtype=np.float32)
        ramp = ramp[None, :, None] if len(ramp) == w else ramp[:, None, None]
        out += ramp * rng.uniform(-25, 25, size=3)[None, None, :]
    return np.clip(out, 0, 255).astype(np.uint8)


def photometric(image: Image, rng: np.random.Generator, gray_p: float = 0.3) -> Image:
    """Whole-frame CCTV-ish degradation: exposure, noise, blur, sometimes grayscale (IR/night mode)."""
    out = image.astype(np.float32) * rng.uniform(0.55, 1.15) + rng.uniform(-15, 15)
    if rng.random() < 0.5:
        out += rng.normal(0, rng.uniform(2, 8), size=out.shape)
    out_u8 = np.clip(out, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        out_u8 = cv2.GaussianBlur(out_u8, (0, 0), rng.uniform(0.5, 1.3))
    if rng.random() < gray_p:
        out_u8 = to_gray3(out_u8)
    return out_u8


def jpeg(image: Image, rng: np.random.Generator) -> Image:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(35, 95))])
    decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else None
    return image if decoded is None else decoded


def paste(
    bg: Image,
    obj: Image,
    rng: np.random.Generator,
    *,
    width_frac: tuple[float, float],
    cy_frac: tuple[float, float],
    label_h: int | None = None,
    max_rotate: float = 10.0,
    perspective: float = 0.12,
    gain: tuple[float, float] = (0.6, 1.15),
    occlude_p: float = 0.0,
    tight_from_alpha: bool = False,
) -> Pasted | None:
    """Warp ``obj`` (RGBA) into ``bg`` in place. The labelled region is the top ``label_h`` rows of
    ``obj`` (all of it by default); with ``tight_from_alpha`` the box is the warped alpha's extent
    (for irregular shapes such as shoes). Returns None if the object fell mostly outside the frame."""
    H, W = bg.shape[:2]
    h, w = obj.shape[:2]
    label_h = label_h or h
    target_w = W * rng.uniform(*width_frac)
    s = target_w / w
    cx = rng.uniform(0.05, 0.95) * W
    cy = rng.uniform(*cy_frac) * H
    half = np.array([w * s / 2, h * s / 2])
    rect = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64) * half
    rect[:2, 0] *= rng.uniform(1 - perspective, 1.0)  # top edge further away: a tilted card
    rect += rng.uniform(-perspective, perspective, size=(4, 2)) * half
    a = np.deg2rad(rng.uniform(-max_rotate, max_rotate))
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    dst = (rect @ rot.T + [cx, cy]).astype(np.float32)
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    m = cv2.getPerspectiveTransform(src, dst)

    rgba = obj.astype(np.float32)
    rgba[:, :, :3] = np.clip(rgba[:, :, :3] * rng.uniform(*gain) * rng.uniform(0.9, 1.1, size=3), 0, 255)
    layer = cv2.warpPerspective(rgba, m, (W, H), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_CONSTANT,
                                borderValue=(0, 0, 0, 0))
    if rng.random() < 0.5:  # match the softness of a CCTV frame
        layer = cv2.GaussianBlur(layer, (0, 0), rng.uniform(0.4, 1.4))
    alpha = layer[:, :, 3:] / 255.0
    covered = alpha[:, :, 0] > 0.5
    if tight_from_alpha:
        ys, xs = np.nonzero(covered)
        if len(xs) == 0:
            return None
        box = [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]
    else:
        card = cv2.perspectiveTransform(np.array([[[0, 0], [w, 0], [w, label_h], [0, label_h]]], np.float32), m)[0]
        box = [float(card[:, 0].min()), float(card[:, 1].min()), float(card[:, 0].max()), float(card[:, 1].max())]
    full_area = (box[2] - box[0]) * (box[3] - box[1])
    clipped = [max(box[0], 0), max(box[1], 0), min(box[2], W), min(box[3], H)]
    if full_area <= 0 or (clipped[2] - clipped[0]) * (clipped[3] - clipped[1]) < 0.7 * full_area:
        return None
    bg[:] = np.clip(layer[:, :, :3] * alpha + bg.astype(np.float32) * (1 - alpha), 0, 255).astype(np.uint8)

    if occlude_p and rng.random() < occlude_p:
        # Something on the desk in front (monitor, folder, a hand): a band cut from elsewhere in the
        # frame covers the lower part; the label keeps only what is visible.
        x1, y1, x2, y2 = (int(v) for v in clipped)
        band = int((y2 - y1) * rng.uniform(0.1, 0.4))
        if band > 0 and y2 - band > y1:
            pad = int((x2 - x1) * 0.1)
            ox1, ox2 = max(0, x1 - pad), min(W, x2 + pad)
            sy = int(rng.integers(0, max(1, H - band)))
            sx = int(rng.integers(0, max(1, W - (ox2 - ox1))))
            bg[y2 - band : y2, ox1:ox2] = bg[sy : sy + band, sx : sx + (ox2 - ox1)]
            covered[y2 - band : y2, ox1:ox2] = False
            clipped[3] = y2 - band
    return Pasted(box=(clipped[0], clipped[1], clipped[2], clipped[3]), mask=covered)
