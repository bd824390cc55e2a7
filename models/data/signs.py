"""Synthetic pause signs ("暂停服务") for the ``pause_sign`` class.

Two kinds of sign are rendered:

* the project's own printable sign, in the layout the edge's ``counterwatch sign`` prints (portrait A4:
  暂停服务 / Service paused, a large DICT_4X4_50 ArUco marker with id = window % 50, the window number);
  the detector must find it even where the marker is too small or blurred to decode;
* generic placards (暂停服务 / 暂停办理 / 暂停受理) in several fonts, colours and stands;
* the common two-line placard: 暂停服务 over a second line of similar weight (请到其他窗口办理 …), landscape
  or portrait (the long line wrapped), sometimes with the first line on a coloured header band.

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
# Second lines of the two-line placard (暂停服务 / 请到其他窗口办理 is the one seen at most counters).
TWO_LINE_SECONDS = ("请到其他窗口办理", "请到其他窗口办理", "请到其他窗口办理", "请到临近窗口办理", "请您谅解",
                    "给您带来不便敬请谅解", "Please use another window")
# Two-line look-alikes: the same layout with other words, pasted unlabelled.
DISTRACTOR_TWO_LINES = (("综合窗口", "请排队等候"), ("正在服务", "请稍候"), ("欢迎光临", "Welcome"),
                        ("咨询服务", "请出示证件"), ("便民服务", "请排队等候"), ("收费窗口", "请出示证件"),
                        ("服务之星", "欢迎监督"), ("请勿吸烟", "No smoking"))
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
        raise FileNotFoundError(f"no CJK font of families {families} installed "
                                "(./cw setup test and ./cw setup train install them)")
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


def _wrap(text: str) -> list[str]:
    """A long Chinese line broken in two where a printer would (请到其他 / 窗口办理); Latin text stays whole."""
    if len(text) < 6 or text.isascii():
        return [text]
    cut = len(text) // 2
    return [text[:cut], text[cut:]]


def render_two_line(text: str, second: str, face: FontFace, rng: np.random.Generator) -> RGBA:
    """The two-line counter placard: ``text`` (暂停服务) over ``second`` (请到其他窗口办理) of similar weight,
    unlike :func:`render_placard`'s small subtitle. Landscape (lines stacked) or portrait (the long line
    wrapped); sometimes the first line sits on a coloured header band above a light body."""
    bg, fg = PALETTES[int(rng.integers(len(PALETTES)))]
    portrait = rng.random() < 0.3
    if portrait:
        w = int(rng.integers(240, 420))
        h = int(w * rng.uniform(1.1, 1.5))
        seconds = _wrap(second)
    else:
        w = int(rng.integers(360, 720))
        h = int(w * rng.uniform(0.38, 0.75))
        seconds = [second]
    img = PILImage.new("RGB", (w, h), bg)
    draw = ImageDraw.Draw(img)
    m = int(min(w, h) * 0.06)
    first_share = rng.uniform(0.4, 0.6) if len(seconds) == 1 else rng.uniform(0.3, 0.45)
    split_y = m + (h - 2 * m) * first_share
    second_fg = fg
    if rng.random() < 0.35:  # header band: first line on the colour, the rest dark on white / light
        light = min(bg) > 200
        band, fg = ((200, 20, 25), (255, 255, 255)) if light else (bg, fg)
        draw.rectangle((0, 0, w, split_y + m / 2), fill=band)
        draw.rectangle((0, split_y + m / 2, w, h), fill=(250, 250, 245))
        second_fg = (20, 20, 20)
    elif rng.random() < 0.5:
        draw.rectangle((m // 2, m // 2, w - m // 2, h - m // 2), outline=fg, width=max(2, m // 3))
    _draw_centered(draw, (m * 1.5, m, w - m * 1.5, split_y), text, face, fg)
    row = (h - m - split_y - m / 2) / len(seconds)
    for i, line in enumerate(seconds):
        top = split_y + m / 2 + i * row
        _draw_centered(draw, (m * 2, top, w - m * 2, top + row * 0.92), line, face, second_fg)
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


@dataclass(frozen=True)
class Sign:
    """A rendered positive: BGRA image, the labelled card height from the top (the stand is not labelled),
    its layout (``project``, ``placard``, ``two_line``) and its second line ("" if none), which the
    evaluation's per-group recall reads back from sources.jsonl."""

    rgba: RGBA
    label_h: int
    layout: str
    second: str = ""


TWO_LINE_P = 0.25  # share of two-line placards among positives and look-alikes (dataset builds)


def pause_sign(rng: np.random.Generator, faces: list[FontFace], two_line_p: float = TWO_LINE_P) -> Sign:
    """A random positive: the two-line placard (``two_line_p``), else the project's sign (40%) or a one-line
    placard with an optional small subtitle; maybe on a stand. With ``two_line_p=0`` the draws from ``rng``
    are those of the generator before the two-line layout existed (the CI sample stays bit-identical)."""
    face = faces[int(rng.integers(len(faces)))]
    if two_line_p and rng.random() < two_line_p:
        layout = "two_line"
        text = PAUSE_TEXTS[int(rng.integers(len(PAUSE_TEXTS)))]
        second = TWO_LINE_SECONDS[int(rng.integers(len(TWO_LINE_SECONDS)))]
        card = render_two_line(text, second, face, rng)
    elif rng.random() < 0.4:
        layout, second = "project", ""
        card = render_project_sign(int(rng.integers(1, 100)), face, width=int(rng.integers(300, 600)))
    else:
        layout = "placard"
        text = PAUSE_TEXTS[int(rng.integers(len(PAUSE_TEXTS)))]
        second = PAUSE_SUBTITLES[int(rng.integers(len(PAUSE_SUBTITLES)))] if rng.random() < 0.6 else ""
        card = render_placard(text, face, rng, second)
    if rng.random() < 0.4:
        card, label_h = add_stand(card, rng)
        return Sign(card, label_h, layout, second)
    return Sign(card, card.shape[0], layout, second)


def distractor_sign(rng: np.random.Generator, faces: list[FontFace], two_line_p: float = TWO_LINE_P) -> RGBA:
    """A look-alike placard: one line, or (``two_line_p``) the two-line layout with other words."""
    face = faces[int(rng.integers(len(faces)))]
    if two_line_p and rng.random() < two_line_p:
        first, second = DISTRACTOR_TWO_LINES[int(rng.integers(len(DISTRACTOR_TWO_LINES)))]
        card = render_two_line(first, second, face, rng)
    else:
        card = render_placard(DISTRACTOR_TEXTS[int(rng.integers(len(DISTRACTOR_TEXTS)))], face, rng)
    return add_stand(card, rng)[0] if rng.random() < 0.4 else card
