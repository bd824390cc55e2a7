"""``counterwatch models dataset-from-reviews``: turn reviewed events into a YOLO folder for fine-tuning
(``counterwatch models train --from DIR``).

Talks to the dashboard over HTTP only (models never imports dashboard/). Expected endpoint:

    GET {dashboard}/api/v1/reviews/export?since=<ISO-8601 UTC>     Authorization: Bearer <token>
    -> 200, JSON list of {"snapshot_url": str, "verdict": "confirmed" | "rejected",
                          "boxes": [{"cls": "<taxonomy name>", "x1": px, "y1": px, "x2": px, "y2": px}]}

``snapshot_url`` may be absolute or relative to the dashboard. ``boxes`` are the reviewer's final boxes in
snapshot pixels: for a confirmed event they are its objects; a rejected event with no boxes becomes a
negative image (what the model wrongly saw is background). Boxes of unknown classes are skipped and
reported. Items are split train/val by a hash of the snapshot URL. The dashboard also sends ``event_id``,
``rule`` and ``reviewed_at`` per item (the newest ``reviewed_at`` is the ``--since`` of the next pull) and,
in the ``X-Export-Skipped`` header, how many reviewed events it left out and why (dashboard/api/reviews.py).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
from pathlib import Path
from typing import Literal
from urllib.parse import urljoin

import cv2
import httpx
import numpy as np
from pydantic import BaseModel, TypeAdapter

from models.data.labels import Box, write_yolo
from models.data.split import split_of
from models.taxonomy import CLASS_ID

log = logging.getLogger(__name__)
EXPORT_PATH = "/api/v1/reviews/export"
SKIPPED_HEADER = "X-Export-Skipped"


class ReviewBox(BaseModel):
    cls: str
    x1: float
    y1: float
    x2: float
    y2: float


class ReviewedSnapshot(BaseModel):
    snapshot_url: str
    verdict: Literal["confirmed", "rejected"]
    boxes: list[ReviewBox] = []
    reviewed_at: str | None = None


REVIEWS = TypeAdapter(list[ReviewedSnapshot])


class ReviewSummary(BaseModel):
    written: dict[str, int]
    skipped_unknown_class: dict[str, int]
    failed_downloads: int
    skipped_by_dashboard: dict[str, int] = {}
    last_reviewed_at: str | None = None


def to_boxes(item: ReviewedSnapshot, unknown: dict[str, int]) -> list[Box]:
    boxes = []
    for b in item.boxes:
        if b.cls not in CLASS_ID:
            unknown[b.cls] = unknown.get(b.cls, 0) + 1
            continue
        boxes.append(Box(CLASS_ID[b.cls], b.x1, b.y1, b.x2, b.y2))
    return boxes


def pull(client: httpx.Client, base: str, out: Path, since: str | None = None) -> ReviewSummary:
    response = client.get(urljoin(base, EXPORT_PATH), params={"since": since} if since else None)
    response.raise_for_status()
    items = REVIEWS.validate_python(response.json())
    try:
        skipped = {str(k): int(v) for k, v in json.loads(response.headers.get(SKIPPED_HEADER, "{}")).items()}
    except (ValueError, AttributeError):
        skipped = {}
    written = {"train": 0, "val": 0}
    unknown: dict[str, int] = {}
    failed = 0
    for item in items:
        url = urljoin(base, item.snapshot_url)
        try:
            image_response = client.get(url)
            image_response.raise_for_status()
        except httpx.HTTPError as e:
            log.warning("snapshot %s: %s", url, e)
            failed += 1
            continue
        image = cv2.imdecode(np.frombuffer(image_response.content, np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            log.warning("snapshot %s is not an image", url)
            failed += 1
            continue
        key = hashlib.sha1(item.snapshot_url.encode()).hexdigest()[:16]
        split = split_of(key)
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        # The bytes as stored (a JPEG the decoder just read): re-encoding would lose quality for nothing.
        (out / "images" / split / f"review_{key}.jpg").write_bytes(image_response.content)
        h, w = image.shape[:2]
        write_yolo(out / "labels" / split / f"review_{key}.txt", to_boxes(item, unknown), w, h)
        written[split] += 1
    stamps = [item.reviewed_at for item in items if item.reviewed_at]
    return ReviewSummary(written=written, skipped_unknown_class=unknown, failed_downloads=failed,
                         skipped_by_dashboard=skipped, last_reviewed_at=max(stamps) if stamps else None)


def main(args: argparse.Namespace) -> int:
    headers = {"Authorization": f"Bearer {args.token}"}
    base = args.dashboard.rstrip("/") + "/"
    with httpx.Client(headers=headers, timeout=30.0) as client:
        try:
            summary = pull(client, base, args.out, args.since)
        except httpx.HTTPStatusError as exc:  # 401/403/422: say what the dashboard said, no traceback
            print(f"dashboard refused the export: HTTP {exc.response.status_code} {exc.response.text[:300]}",
                  file=sys.stderr)
            return 2
        except httpx.HTTPError as exc:
            print(f"dashboard not reachable at {base}: {exc}", file=sys.stderr)
            return 2
    print(json.dumps(summary.model_dump(), indent=2))
    return 0
