"""YOLO label files and pixel boxes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Box:
    """A labelled box in image pixels (xyxy)."""

    cls: int
    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def area(self) -> float:
        return max(0.0, self.x2 - self.x1) * max(0.0, self.y2 - self.y1)

    def clipped(self, w: int, h: int) -> Box:
        return Box(self.cls, min(max(self.x1, 0), w), min(max(self.y1, 0), h),
                   min(max(self.x2, 0), w), min(max(self.y2, 0), h))

    def to_yolo(self, w: int, h: int) -> str:
        cx, cy = (self.x1 + self.x2) / 2 / w, (self.y1 + self.y2) / 2 / h
        bw, bh = (self.x2 - self.x1) / w, (self.y2 - self.y1) / h
        return f"{self.cls} {cx:.6f} {cy:.6f} {bw:.6f} {bh:.6f}"


def parse_yolo(text: str, w: int, h: int) -> list[Box]:
    boxes = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 5:
            continue
        c, cx, cy, bw, bh = int(parts[0]), *map(float, parts[1:])
        boxes.append(Box(c, (cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h))
    return boxes


def read_yolo(path: Path, w: int, h: int) -> list[Box]:
    return parse_yolo(path.read_text(), w, h) if path.exists() else []


def write_yolo(path: Path, boxes: list[Box], w: int, h: int, min_side: float = 2.0) -> list[Box]:
    """Write boxes (clipped; slivers dropped) and return what was written."""
    kept = [b for b in (b.clipped(w, h) for b in boxes) if b.x2 - b.x1 >= min_side and b.y2 - b.y1 >= min_side]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(b.to_yolo(w, h) + "\n" for b in kept))
    return kept


def box_iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
    iy = max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))
    inter = ix * iy
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0
