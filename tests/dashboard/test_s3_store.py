"""Evidence on an S3-compatible store, over real HTTP to an S3 server process (moto's server: no MinIO
binary is installable from this machine's registries; production uses MinIO / Ceph RGW / a cloud bucket).

Checks the store itself (put, head, ranged reads, delete, prefix, unsafe keys) and the dashboard's upload
and streaming routes on top of it, including the store going away: uploads answer 503 and record nothing,
reads answer 503, and everything works again once the store is back."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from broker.evidence import DEVICE_HEADER, SHA256_HEADER, evidence_path
from broker.mosquitto import free_port
from dashboard.app import create_app
from dashboard.db.models import Evidence
from dashboard.enums import Role
from dashboard.settings import DashboardSettings, S3Settings
from dashboard.storage.evidence import StoreUnavailable, UnsafeKey
from dashboard.storage.s3 import S3EvidenceStore
from tests.dashboard.conftest import ADMIN_PASSWORD
from tests.dashboard.helpers import ApiUsers, register


class S3Server:
    """``moto_server`` as a child process on a free loopback port (stoppable, to simulate an outage)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> S3Server:
        exe = Path(sys.executable).with_name("moto_server")
        self.proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url, timeout=1)
                return self
            except httpx.TransportError:
                time.sleep(0.2)
        raise RuntimeError("moto_server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def s3_server() -> Iterator[S3Server]:
    server = S3Server().start()
    yield server
    server.stop()


def _settings(server: S3Server, **extra: object) -> S3Settings:
    return S3Settings(endpoint_url=server.url, bucket="evidence", access_key_id="test",
                      secret_access_key="test-secret", create_bucket=True, timeout_s=2, **extra)  # type: ignore[arg-type]


def _stage(store: S3EvidenceStore, body: bytes) -> Path:
    handle, staged = store.staging_file()
    with handle:
        handle.write(body)
    return staged


def test_store_puts_reads_ranges_and_deletes(s3_server: S3Server, tmp_path: Path) -> None:
    store = S3EvidenceStore(_settings(s3_server, prefix="city1/", multipart_threshold_mb=5), tmp_path / "staging")
    body = os.urandom(6 * 1024 * 1024 + 123)  # over the multipart threshold
    staged = _stage(store, body)
    store.commit(staged, "edge-a/clip-1.mp4")
    assert not staged.exists(), "the staged file is removed once the object is stored"
    assert store.exists("edge-a/clip-1.mp4") and not store.exists("edge-a/clip-2.mp4")
    assert store.size("edge-a/clip-1.mp4") == len(body)
    listed = store.client.list_objects_v2(Bucket="evidence")["Contents"]
    assert [o["Key"] for o in listed] == ["city1/edge-a/clip-1.mp4"]
    with store.open("edge-a/clip-1.mp4") as fh:
        fh.seek(5_000_000)
        assert fh.read(1000) == body[5_000_000:5_001_000]
        fh.seek(-10, os.SEEK_END)
        assert fh.read() == body[-10:]
    with store.open("edge-a/clip-1.mp4") as fh:
        assert hashlib.sha256(fh.read()).digest() == hashlib.sha256(body).digest()
    with pytest.raises(UnsafeKey):
        store.exists("../outside.mp4")
    store.delete("edge-a/clip-1.mp4")
    store.delete("edge-a/clip-1.mp4")  # idempotent
    assert not store.exists("edge-a/clip-1.mp4")


def test_store_outage_is_an_oserror(s3_server: S3Server, tmp_path: Path) -> None:
    store = S3EvidenceStore(_settings(s3_server), tmp_path / "staging")
    s3_server.stop()
    staged = _stage(store, b"clip")
    with pytest.raises(StoreUnavailable) as info:
        store.commit(staged, "edge-a/clip-1.mp4")
    assert isinstance(info.value, OSError) and "upload failed" in str(info.value)
    with pytest.raises(StoreUnavailable):
        store.exists("edge-a/clip-1.mp4")


@pytest.fixture
def s3_app(s3_server: S3Server, db_url: str, tmp_path: Path) -> Iterator[FastAPI]:
    settings = DashboardSettings(
        database_url=db_url, state_dir=tmp_path / "state", evidence_store="s3", s3=_settings(s3_server),
        session_secret="test-secret-" + "x" * 32, admin_password=ADMIN_PASSWORD,  # type: ignore[arg-type]
    )
    application = create_app(settings)
    yield application
    application.state.ctx.db.dispose()


def _put(client: TestClient, token: str, evidence_id: str, body: bytes) -> httpx.Response:
    return client.put(evidence_path(evidence_id), content=body, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "video/mp4",
        SHA256_HEADER: hashlib.sha256(body).hexdigest(), DEVICE_HEADER: "edge-a"})


def _rows(app: FastAPI) -> int:
    with app.state.ctx.db.session() as s:
        return s.scalar(select(func.count()).select_from(Evidence)) or 0


MP4_HEAD = b"\x00\x00\x00\x18ftypisom"  # the upload checks an MP4's first box


def test_dashboard_serves_evidence_from_s3_and_survives_an_outage(
    s3_app: FastAPI, s3_server: S3Server, tmp_path: Path
) -> None:
    token = register(s3_app.state.ctx.db)
    device = TestClient(s3_app)
    clip = MP4_HEAD + os.urandom(300_000)
    assert _put(device, token, "clip-0001", clip).status_code == 201
    sup = ApiUsers(s3_app).client(Role.SUPERVISOR)
    part = sup.get("/api/v1/evidence/clip-0001", headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.content == clip[1000:2000]
    assert sup.get("/api/v1/evidence/clip-0001").content == clip

    s3_server.stop()
    down = _put(device, token, "clip-0002", MP4_HEAD + os.urandom(1000))
    assert down.status_code == 503 and "evidence store" in down.text
    assert _rows(s3_app) == 1, "an upload the store did not take is not recorded"
    assert list((tmp_path / "state" / "evidence-staging").iterdir()) == [], "no staged file is left behind"
    read = sup.get("/api/v1/evidence/clip-0001")
    assert read.status_code == 503 and read.headers["retry-after"] == "30"

    s3_server.start()  # moto keeps nothing across restarts: the device's retry lands in a fresh bucket
    s3_app.state.ctx.evidence.client.create_bucket(Bucket="evidence")
    retry = MP4_HEAD + os.urandom(1000)
    assert _put(device, token, "clip-0002", retry).status_code == 201
    assert sup.get("/api/v1/evidence/clip-0002").content == retry
    assert _rows(s3_app) == 2
