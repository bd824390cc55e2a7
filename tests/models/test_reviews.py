"""dataset-from-reviews against a real HTTP server speaking the documented export contract."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from models.data.labels import read_yolo
from models.reviews import EXPORT_PATH, pull
from models.taxonomy import CLASS_ID

TOKEN = "s3cret"
SNAPSHOT = cv2.imencode(".jpg", np.full((100, 200, 3), 127, np.uint8))[1].tobytes()
REVIEWS = [
    {"snapshot_url": "/evidence/a.jpg", "verdict": "confirmed",
     "boxes": [{"cls": "phone", "x1": 10, "y1": 20, "x2": 30, "y2": 60},
               {"cls": "umbrella", "x1": 0, "y1": 0, "x2": 5, "y2": 5}]},
    {"snapshot_url": "/evidence/b.jpg", "verdict": "rejected", "boxes": []},
    {"snapshot_url": "/evidence/missing.jpg", "verdict": "confirmed", "boxes": []},
]


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self.send_response(401)
            self.end_headers()
            return
        if self.path.startswith(EXPORT_PATH):
            body, kind = json.dumps(REVIEWS).encode(), "application/json"
        elif self.path in ("/evidence/a.jpg", "/evidence/b.jpg"):
            body, kind = SNAPSHOT, "image/jpeg"
        else:
            self.send_response(404)
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


def test_reviews_become_yolo_labels(server: str, tmp_path: Path) -> None:
    with httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        summary = pull(client, server, tmp_path, since="2026-01-01T00:00:00Z")
    assert sum(summary.written.values()) == 2
    assert summary.skipped_unknown_class == {"umbrella": 1}
    assert summary.failed_downloads == 1
    labels = sorted(tmp_path.glob("labels/*/*.txt"))
    boxes = sorted((len(read_yolo(p, 200, 100)), p) for p in labels)
    assert boxes[0][0] == 0  # the rejected event is a negative image
    (phone,) = read_yolo(boxes[1][1], 200, 100)
    assert phone.cls == CLASS_ID["phone"]
    assert (round(phone.x1), round(phone.y1), round(phone.x2), round(phone.y2)) == (10, 20, 30, 60)


def test_bad_token_is_an_http_error(server: str, tmp_path: Path) -> None:
    with httpx.Client(headers={"Authorization": "Bearer wrong"}) as client, pytest.raises(httpx.HTTPStatusError):
        pull(client, server, tmp_path)
