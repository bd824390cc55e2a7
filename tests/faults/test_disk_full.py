"""Disk full on the clip store: a real 1 MiB tmpfs as the evidence directory. The upload is refused with
507, nothing is stored half-way, and the same upload succeeds once space is back."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from broker.evidence import DEVICE_HEADER, SHA256_HEADER, evidence_path
from dashboard.app import create_app
from dashboard.db.models import Evidence
from dashboard.settings import DashboardSettings
from tests.dashboard.helpers import register


@pytest.fixture
def tiny_store(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    root = tmp_path / "evidence"
    root.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(root)], check=True)
    try:
        yield root
    finally:
        subprocess.run(["umount", "-l", str(root)], check=False)


@pytest.mark.integration
@pytest.mark.db
def test_full_clip_store_refuses_then_recovers(settings: DashboardSettings, tiny_store: Path) -> None:
    app: FastAPI = create_app(settings.model_copy(update={"evidence_dir": tiny_store}))
    token = register(app.state.ctx.db)
    body = b"\x00\x00\x00\x18ftypisom" + os.urandom(900 * 1024)  # an MP4's first box, then anything
    filler = tiny_store / "filler.bin"
    filler.write_bytes(os.urandom(600 * 1024))  # the store's volume is now too full for the clip

    def put() -> int:
        with TestClient(app) as client:
            return client.put(evidence_path("clip-diskfull1"), content=body, headers={
                "Authorization": f"Bearer {token}", "Content-Type": "video/mp4",
                SHA256_HEADER: hashlib.sha256(body).hexdigest(), DEVICE_HEADER: "edge-a"}).status_code

    def stored() -> tuple[int, list[Path]]:
        with app.state.ctx.db.session() as s:
            rows = s.scalar(select(func.count()).select_from(Evidence)) or 0
        return rows, [p for p in tiny_store.rglob("*") if p.is_file() and p != filler]

    try:
        assert put() == 507
        assert stored() == (0, [])  # no row, no partial file
        filler.unlink()  # space is back: the device's retry goes through
        assert put() == 201
        rows, files = stored()
        assert rows == 1 and len(files) == 1 and files[0].read_bytes() == body
    finally:
        app.state.ctx.db.dispose()
