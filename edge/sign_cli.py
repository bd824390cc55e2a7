"""``counterwatch sign --window 12 --out sign.pdf``: a printable A4 pause sign with its ArUco marker.

The marker (DICT_4X4_50, id = window number % 50) lets the edge recognise the sign cheaply and reliably
from a ceiling camera; the large text is for people (and for the OCR cue).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
from PIL import Image, ImageDraw, ImageFont

from edge.sign import ARUCO_DICT, marker_id

FONT_CANDIDATES = [
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"),
    Path("/usr/share/fonts/truetype/arphic/uming.ttc"),
]
A4_MM = (210, 297)


class SignError(RuntimeError):
    pass


def find_cjk_font() -> Path:
    for path in FONT_CANDIDATES:
        if path.exists():
            return path
    raise SignError("no CJK font found (install fonts-wqy-microhei or fonts-noto-cjk); looked in: "
                    + ", ".join(str(p) for p in FONT_CANDIDATES))


def render_sign(window: int, dpi: int = 150, font_path: Path | None = None) -> Image.Image:
    font_file = str(font_path or find_cjk_font())
    w, h = (round(mm / 25.4 * dpi) for mm in A4_MM)
    page = Image.new("RGB", (w, h), "white")
    draw = ImageDraw.Draw(page)

    def centred(text: str, y: int, size: int, fill: str = "black") -> int:
        font = ImageFont.truetype(font_file, size)
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        draw.text(((w - (right - left)) // 2 - left, y - top), text, font=font, fill=fill)
        return y + round(bottom - top)

    y = centred("暂停服务", round(h * 0.06), round(w * 0.19), fill="#b00000")
    y = centred("Service paused", y + round(h * 0.02), round(w * 0.08))
    side = round(w * 0.55)
    quiet = side // 6  # white margin around the marker: detectors need it
    marker = cv2.aruco.generateImageMarker(cv2.aruco.getPredefinedDictionary(ARUCO_DICT), marker_id(window), side)
    top = y + round(h * 0.05) + quiet
    page.paste(Image.fromarray(marker).convert("RGB"), ((w - side) // 2, top))
    y = centred(f"{window} 号窗口 · Window {window}", top + side + quiet + round(h * 0.02), round(w * 0.07))
    centred("请稍候 / Please wait", y + round(h * 0.02), round(w * 0.05), fill="#444444")
    return page


def write_sign(window: int, out: Path, dpi: int = 150) -> Path:
    page = render_sign(window, dpi)
    if out.suffix.lower() == ".pdf":
        page.save(out, "PDF", resolution=dpi)
    elif out.suffix.lower() in (".png", ".jpg", ".jpeg"):
        page.save(out)
    else:
        raise SignError(f"{out}: use a .pdf or .png file name")
    return out


def _handler(args: argparse.Namespace) -> int:
    try:
        path = write_sign(args.window, Path(args.out), args.dpi)
    except SignError as exc:
        print(f"counterwatch sign: {exc}", file=sys.stderr)
        return 2
    print(f"{path}: window {args.window}, ArUco DICT_4X4_50 id {marker_id(args.window)}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sign", help="print a pause sign (PDF/PNG) with its ArUco marker")
    p.add_argument("--window", type=int, required=True, help="window number printed on the sign")
    p.add_argument("--out", required=True, help="output file, .pdf or .png")
    p.add_argument("--dpi", type=int, default=150)
    p.set_defaults(handler=_handler)
