"""Synthetic pause signs ("暂停服务") for the ``pause_sign`` class.

Two kinds of sign are rendered:

* the project's own printable sign, in the layout the edge's ``counterwatch sign`` prints (portrait A4:
  暂停服务 / Service paused, a large DICT_4X4_50 ArUco marker with id = window % 50, the window number);
  the detector must find it even where the marker is too small or blurred to decode;
* generic placards (暂停服务 / 暂停办理 / 暂停受理) in several fonts, colours and stands.

Hard negatives (placards with other text: 欢迎光临, 请排队等候, 窗口 5 …) are rendered the same way and pasted
unlabelled, so the detector learns the words, not "a rectangle on a desk". Fonts are split into families
so a held-out split can use families never seen in training.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont

from models.infer import Image

RGBA = Image  # BGRA, OpenCV channel order
ARUCO_DICT = cv2.aruco.DICT_4X4_50

PAUSE_TEXTS = ("暂停服务", "暂停办理", "暂停受理")
PAUSE_SUBTITLES = ("Service paused", "Service Suspended", "Suspended", "请到其他窗口办理", "Closed", "")
DISTRACTOR_TEXTS = (
    "欢迎光临", "请排队等候", "综合窗口", "咨询服务", "办理中", "服务之星", "请出示证件", "收费窗口",
    "正在服务", "请稍候", "便民服务", "窗口 5", "Welcome", "Information", "请勿吸烟", "党员示范岗",
)


@dataclass(frozen=True)
class FontFace:
    family: str
    path: str
    index: int = 0


# family -> faces; Noto CJK .ttc index 2 is the Simplified Chinese face.
FONT_FAMILIES: dict[str, tuple[FontFace, ...]] = {
    "noto-sans": (FontFace("noto-sans", "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),
                  FontFace("noto-sans", "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", 2)),
    "noto-serif": (FontFace("noto-serif", "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", 2),
                   FontFace("noto-serif", "/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc", 2)),
    "arphic": (FontFace("arphic", "/usr/share/fonts/truetype/arphic/ukai.ttc"),
               FontFace("arphic", "/usr/share/fonts/truetype/arphic/uming.ttc")),
    "wqy": (FontFace("wqy", "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
            FontFace("wqy", "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")),
    "lxgw": (FontFace("lxgw", "/usr/share/fonts/truetype/lxgw-wenkai/LXGWWenKai-Regular.ttf"),
             FontFace("lxgw", "/usr/share/fonts/truetype/lxgw-wenkai/LXGWWenKai-Bold.ttf")),
}
TRAIN_FONT_FAMILIES = ("noto-sans", "noto-serif", "arphic")
HELDOUT_FONT_FAMILIES = ("wqy",)
# Never trained on and never looked at while designing the verifier: the last, untouched check
# (``counterwatch models sample --sign-fonts lxgw``).
FRESH_FONT_FAMILIES = ("lxgw",)

# (background, text) colour pairs seen on real counter placards.
PALETTES: tuple[tuple[tuple[int, int, int], tuple[int, int, int]], ...] = (
    ((255, 255, 255), (200, 20, 20)),
    ((200, 20, 25), (255, 255, 255)),
    ((200, 20, 25), (255, 230, 60)),
    ((20, 70, 160), (255, 255, 255)),
    ((250, 215, 40), (20, 20, 20)),
    ((30, 120, 60), (255, 255, 255)),
    ((20, 20, 20), (255, 60, 40)),
    ((240, 240, 235), (20, 20, 20)),
    ((170, 130, 60), (255, 250, 230)),
)


def available_faces(families: tuple[str, ...]) -> list[FontFace]:
    faces = [f for fam in families for f in FONT_FAMILIES[fam] if Path(f.path).exists()]
    if not faces:
        raise FileNotFoundError(f"no CJK font of families {families} installed (./cw setup train installs them)")
    return faces


@cache
def _font(face: FontFace, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(face.path, size, index=face.index)


def _fit_font(face: FontFace, text: str, max_w: float, max_h: float) -> ImageFont.FreeTypeFont:
    """The largest font size at which ``text`` fits the box (coarse steps keep it cheap)."""
    size = max(8, int(max_h))
    while size > 8:
        font = _font(face, size)
        left, top, right, bottom = font.getbbox(text)
        if right - left <= max_w and bottom - top <= max_h:
            return font
        size = int(size * 0.9)
    return _font(face, 8)


def _draw_centered(draw: ImageDraw.ImageDraw, box: tuple[float, float, float, float], text: str,
                   face: FontFace, fill: tuple[int, int, int]) -> None:
    if not text:
        return
    x1, y1, x2, y2 = box
    font = _fit_font(face, text, x2 - x1, y2 - y1)
    left, top, right, bottom = font.getbbox(text)
    origin = ((x1 + x2 - (right - left)) / 2 - left, (y1 + y2 - (bottom - top)) / 2 - top)
    draw.text(origin, text, font=font, fill=fill)


def aruco_marker(marker_id: int, side: int) -> Image:
    dictionary = cv2.aruco.getPredefinedDictionary(ARUCO_DICT)
    return cv2.aruco.generateImageMarker(dictionary, marker_id, side)


A4_ASPECT = 297 / 210


def render_project_sign(window: int, face: FontFace, width: int = 500) -> RGBA:
    """The printable sign, in the layout of ``counterwatch sign`` (edge/sign_cli.py): portrait A4, 暂停服务
    in dark red, 'Service paused', a large ArUco marker (DICT_4X4_50, id = window % 50) with a white quiet
    zone, '<N> 号窗口 · Window <N>' and '请稍候 / Please wait'. Positions are the same fractions of the page."""
    w, h = width, round(width * A4_ASPECT)
    page = PILImage.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(page)

    def centred(text: str, y: int, size: int, fill: str = "black") -> int:
        font = _font(face, max(8, size))
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        draw.text(((w - (right - left)) // 2 - left, y - top), text, font=font, fill=fill)
        return y + round(bottom - top)

    y = centred("暂停服务", round(h * 0.06), round(w * 0.19), fill="#b00000")
    y = centred("Service paused", y + round(h * 0.02), round(w * 0.08))
    side = round(w * 0.55)
    quiet = side // 6
    top = y + round(h * 0.05) + quiet
    rgb = np.asarray(page).copy()
    x0 = (w - side) // 2
    rgb[top : top + side, x0 : x0 + side] = aruco_marker(window % 50, side)[:, :, None]
    page = PILImage.fromarray(rgb)
    draw = ImageDraw.Draw(page)
    y = centred(f"{window} 号窗口 · Window {window}", top + side + quiet + round(h * 0.02), round(w * 0.07))
    centred("请稍候 / Please wait", y + round(h * 0.02), round(w * 0.05), fill="#444444")
    return _with_alpha(np.asarray(page).copy())


def render_placard(text: str, face: FontFace, rng: np.random.Generator, subtitle: str = "") -> RGBA:
    """A generic counter placard: coloured card, one big line, an optional small second line,
    sometimes vertical, sometimes with a border."""
    bg, fg = PALETTES[int(rng.integers(len(PALETTES)))]
    vertical = rng.random() < 0.15
    if vertical:
        w = int(rng.integers(120, 200))
        h = int(w * rng.uniform(2.6, 3.6))
    else:
        w = int(rng.integers(360, 720))
        h = int(w * rng.uniform(0.28, 0.6))
    img = PILImage.new("RGB", (w, h), bg)
    draw = ImageDraw.Draw(img)
    m = int(min(w, h) * 0.06)
    if rng.random() < 0.5:
        draw.rectangle((m // 2, m // 2, w - m // 2, h - m // 2), outline=fg, width=max(2, m // 3))
    if vertical:
        cell = (h - 2 * m) / len(text)
        for i, ch in enumerate(text):
            _draw_centered(draw, (m, m + i * cell, w - m, m + (i + 1) * cell), ch, face, fg)
    else:
        main_bottom = h * (0.66 if subtitle else 0.9)
        _draw_centered(draw, (m * 1.5, m, w - m * 1.5, main_bottom), text, face, fg)
        _draw_centered(draw, (m * 3, main_bottom, w - m * 3, h - m), subtitle, face, fg)
    return _with_alpha(np.asarray(img).copy())


def _with_alpha(rgb: Image) -> RGBA:
    """PIL draws RGB; everything downstream is OpenCV BGR(A)."""
    alpha = np.full((*rgb.shape[:2], 1), 255, dtype=np.uint8)
    return np.ascontiguousarray(np.concatenate([rgb[:, :, ::-1], alpha], axis=2))


def add_stand(card: RGBA, rng: np.random.Generator) -> tuple[RGBA, int]:
    """Put the card on a stand (acrylic foot or tent-card base). Returns the image and the card's height:
    the labelled box covers the card face, not the stand."""
    h, w = card.shape[:2]
    stand_h = int(h * rng.uniform(0.08, 0.2))
    out = np.zeros((h + stand_h, w, 4), dtype=np.uint8)
    out[:h] = card
    shade = int(rng.integers(40, 200))
    inset = int(w * rng.uniform(0.0, 0.2))
    pts = np.array([[inset // 2, h], [w - inset // 2, h], [w - inset, h + stand_h - 1], [inset, h + stand_h - 1]])
    cv2.fillConvexPoly(out, pts.astype(np.int32), (shade, shade, shade, 255))
    return out, h


def pause_sign(rng: np.random.Generator, faces: list[FontFace]) -> tuple[RGBA, int]:
    """A random positive: the project's sign (40%) or a placard; maybe on a stand.
    Returns (RGBA, labelled card height from the top)."""
    face = faces[int(rng.integers(len(faces)))]
    if rng.random() < 0.4:
        card = render_project_sign(int(rng.integers(1, 100)), face, width=int(rng.integers(300, 600)))
    else:
        text = PAUSE_TEXTS[int(rng.integers(len(PAUSE_TEXTS)))]
        subtitle = PAUSE_SUBTITLES[int(rng.integers(len(PAUSE_SUBTITLES)))] if rng.random() < 0.6 else ""
        card = render_placard(text, face, rng, subtitle)
    if rng.random() < 0.4:
        return add_stand(card, rng)
    return card, card.shape[0]


def distractor_sign(rng: np.random.Generator, faces: list[FontFace]) -> RGBA:
    face = faces[int(rng.integers(len(faces)))]
    card = render_placard(DISTRACTOR_TEXTS[int(rng.integers(len(DISTRACTOR_TEXTS)))], face, rng)
    return add_stand(card, rng)[0] if rng.random() < 0.4 else card
