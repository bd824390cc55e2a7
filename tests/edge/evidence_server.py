"""A small real HTTP server implementing the evidence PUT contract (broker/evidence.py) for edge tests.

The dashboard's own endpoint is separate code; this one exists so the edge's uploader is exercised against
real HTTP, with the contract's status codes."""

from __future__ import annotations

import hashlib
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from broker.evidence import CONTENT_TYPES, DEVICE_HEADER, MAX_BYTES, SHA256_HEADER

PATH = re.compile(r"^/api/v1/evidence/([A-Za-z0-9_.-]{1,64})$")


class EvidenceServer:
    def __init__(self, token: str) -> None:
        self.token = token
        self.stored: dict[str, tuple[str, bytes, str]] = {}  # id -> (content type, body, device)
        self.requests: list[tuple[str, int]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass

            def do_PUT(self) -> None:
                status = server.handle(self)
                server.requests.append((self.path, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def handle(self, req: BaseHTTPRequestHandler) -> int:
        m = PATH.match(req.path)
        if not m:
            return 404
        if req.headers.get("Authorization") != f"Bearer {self.token}":
            return 401
        length = int(req.headers.get("Content-Length", "0"))
        body = req.rfile.read(length)
        ctype = req.headers.get("Content-Type", "")
        if ctype not in CONTENT_TYPES.values():
            return 415
        if length > MAX_BYTES[ctype]:
            return 413
        digest = hashlib.sha256(body).hexdigest()
        if req.headers.get(SHA256_HEADER) != digest:
            return 422
        known = self.stored.get(m.group(1))
        if known is not None:
            return 200 if hashlib.sha256(known[1]).hexdigest() == digest else 409
        self.stored[m.group(1)] = (ctype, body, req.headers.get(DEVICE_HEADER, ""))
        return 201

    def __enter__(self) -> EvidenceServer:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
