"""Model rollout end to end: a real Mosquitto (project config), the dashboard (uvicorn on a free port, real
database, ingest consumer publishing the commands) and a running edge node with a tiny real ONNX detector.

The admin uploads model files to the dashboard and rolls them out; the edge fetches the file from the
dashboard with its device token, checks the sha256, swaps the detector while it keeps running, and reports
the outcome in its heartbeats, which the dashboard ingests."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from broker.evidence import SHA256_HEADER
from dashboard.app import create_app
from dashboard.db.engine import Database
from dashboard.ingest.consumer import IngestConsumer
from dashboard.settings import DashboardSettings
from dashboard.settings import MqttSettings as DashboardMqtt
from edge.detect import Detector
from edge.node import EdgeNode
from edge.settings import DashboardSettings as EdgeDashboard
from edge.settings import EdgeSettings, EvidenceSettings, MqttSettings, OutboxSettings
from tests.dashboard.conftest import db_url, postgres_database, postgres_server  # noqa: F401  (fixtures)
from tests.dashboard.helpers import register
from tests.edge.onnx_fixtures import constant_detector, prediction
from tests.support.http import serve_app
from tests.support.mqtt import BrokerHandle

pytestmark = [pytest.mark.db, pytest.mark.integration]

ADMIN_PASSWORD = "admin-password-1"
NAMES = {0: "person", 1: "cell phone", 2: "cup"}
FRAME = np.full((64, 64, 3), 90, np.uint8)


def wait(predicate: Callable[[], object], timeout: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Hall:
    base_url: str
    admin: httpx.Client
    node: EdgeNode
    models_dir: Path

    def device(self) -> dict[str, Any]:
        (device,) = [d for d in self.admin.get("/api/v1/devices").json() if d["id"] == "edge-a"]
        return dict(device)

    def upload(self, version: str, path: Path) -> str:
        body = path.read_bytes()
        sha = hashlib.sha256(body).hexdigest()
        r = self.admin.put(f"/api/v1/models/{version}/file", content=body, headers={SHA256_HEADER: sha})
        assert r.status_code == 201, r.text
        assert r.json()["sha256"] == sha and r.json()["url"] == f"/api/v1/models/{version}/file"
        return sha

    def rollout(self, version: str) -> None:
        r = self.admin.post(f"/api/v1/models/{version}/rollout", json={"devices": ["edge-a"]})
        assert r.status_code == 200, r.text

    def reported(self, version: str, status: str) -> dict[str, Any]:
        """The heartbeat the dashboard stored, once it carries this rollout outcome."""
        def seen() -> dict[str, Any] | None:
            beat = self.device()["heartbeat"] or {}
            report = beat.get("model_rollout") or {}
            return beat if (report.get("version"), report.get("status")) == (version, status) else None
        beat: dict[str, Any] = wait(seen, what=f"dashboard to see rollout {version} {status}")
        return beat


@pytest.fixture
def hall(fresh_mosquitto: BrokerHandle, db_url: str, tmp_path: Path) -> Iterator[Hall]:  # noqa: F811
    settings = DashboardSettings(
        database_url=db_url, evidence_dir=tmp_path / "evidence", state_dir=tmp_path / "state",
        session_secret="rollout-test-" + "x" * 32, admin_password=ADMIN_PASSWORD,
        mqtt=DashboardMqtt(host=fresh_mosquitto.host, port=fresh_mosquitto.port, username="dashboard",
                           password=fresh_mosquitto.passwords["dashboard"],
                           client_id=f"dashboard-rollout-{time.monotonic_ns()}"),
    )
    db = Database(db_url)
    consumer = IngestConsumer.from_settings(settings, db)
    app = create_app(settings, db=db, publisher=consumer.publish)
    upload_token = register(db)
    consumer.start()
    try:
        with serve_app(app, "uvicorn-rollout-test") as base:
            v1 = constant_detector(tmp_path / "v1.onnx", NAMES, prediction(NAMES, [(32, 32, 20, 30, "person", 0.9)]))
            edge = EdgeSettings(
                site="hall1", device="edge-a",
                mqtt=MqttSettings(host=fresh_mosquitto.host, port=fresh_mosquitto.port, username="edge-a",
                                  password=fresh_mosquitto.passwords["edge-a"], keepalive=5),
                dashboard=EdgeDashboard(url=base, token=upload_token),
                outbox=OutboxSettings(path=tmp_path / "edge" / "outbox.sqlite"),
                evidence=EvidenceSettings(dir=tmp_path / "edge" / "evidence"),
                heartbeat_s=0.3,
            )
            node = EdgeNode(edge, detector=Detector(v1, version="det-v1")).start()
            admin = httpx.Client(base_url=base, timeout=30)
            r = admin.post("/api/v1/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
            assert r.status_code == 200, r.text
            admin.headers["X-CSRF-Token"] = r.json()["csrf_token"]
            try:
                yield Hall(base, admin, node, tmp_path / "edge" / "models")
            finally:
                admin.close()
                node.stop()
    finally:
        consumer.stop()
        db.dispose()


def labels(node: EdgeNode) -> list[str]:
    return [d.label for d in node.detector.current.detect(FRAME)]


def test_rollout_swaps_refuses_a_wrong_hash_and_rolls_back(hall: Hall, tmp_path: Path) -> None:
    node = hall.node
    running = node.detector.current
    wait(lambda: (hall.device()["heartbeat"] or {}).get("model_version") == "det-v1", what="first heartbeat")
    assert labels(node) == ["person"]
    v2 = constant_detector(tmp_path / "v2.onnx", NAMES, prediction(
        NAMES, [(32, 32, 20, 30, "person", 0.9), (30, 40, 6, 8, "cell phone", 0.8)]))
    sha_v1 = hall.upload("det-v1", running.path)
    sha_v2 = hall.upload("det-v2", v2)

    # 1. Roll out v2: fetched from the dashboard, verified, swapped while the node keeps running.
    uptime_before = hall.device()["heartbeat"]["uptime_s"]
    hall.rollout("det-v2")
    beat = hall.reported("det-v2", "applied")
    assert node.detector.current.version == "det-v2" and node.detector.current.sha256 == sha_v2
    assert sorted(labels(node)) == ["person", "phone"]  # the new weights answer
    assert (hall.models_dir / f"{sha_v2}.onnx").exists()
    assert beat["model_version"] == "det-v2" and beat["uptime_s"] > uptime_before  # same process, no restart
    assert hall.device()["model_version"] == "det-v2"

    # 2. A version whose registered hash does not match its file: refused, v2 keeps running, reported.
    v3 = constant_detector(tmp_path / "v3.onnx", NAMES, prediction(NAMES, [(10, 10, 5, 5, "cup", 0.9)]))
    hall.upload("det-v3", v3)
    r = hall.admin.post("/api/v1/models", json={"version": "det-v3-tampered", "url": "/api/v1/models/det-v3/file",
                                                "sha256": "0" * 64})
    assert r.status_code == 201, r.text
    hall.rollout("det-v3-tampered")
    beat = hall.reported("det-v3-tampered", "refused")
    assert "sha256" in beat["model_rollout"]["detail"]
    assert beat["model_version"] == "det-v2" and node.detector.current.version == "det-v2"
    assert sorted(labels(node)) == ["person", "phone"]
    assert sorted(p.name for p in hall.models_dir.iterdir()) == [f"{sha_v2}.onnx"]  # nothing half-kept

    # 3. A file with the right hash that is no model: the dashboard refuses bytes that are not ONNX-shaped;
    # one that only looks like ONNX (ir_version, an empty graph, an empty opset) the edge refuses.
    assert hall.admin.put("/api/v1/models/det-junk0/file", content=b"not an onnx graph").status_code == 422
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x07\x3a\x00\x42\x00")
    hall.upload("det-junk", junk)
    hall.rollout("det-junk")
    assert hall.reported("det-junk", "refused")["model_version"] == "det-v2"
    assert node.detector.current.version == "det-v2"

    # 4. Roll back: rolling out v1 again switches to the kept previous detector without fetching it.
    hall.rollout("det-v1")
    beat = hall.reported("det-v1", "applied")
    assert "rolled back" in beat["model_rollout"]["detail"]
    assert node.detector.current is running and labels(node) == ["person"]
    assert beat["model_version"] == "det-v1" and hall.device()["model_version"] == "det-v1"
    assert not (hall.models_dir / f"{sha_v1}.onnx").exists()

    # 5. ... and forward again: v2 comes from the node's cache (the previous slot now holds v2 itself).
    hall.rollout("det-v2")
    assert hall.reported("det-v2", "applied")["model_version"] == "det-v2"
    assert node.detector.current.sha256 == sha_v2


def test_model_files_are_for_devices_and_admins_only(hall: Hall, tmp_path: Path) -> None:
    sha = hall.upload("det-v1", hall.node.detector.current.path)
    token = hall.node.settings.dashboard.token
    url = "/api/v1/models/det-v1/file"
    with httpx.Client(base_url=hall.base_url) as anon:
        assert anon.get(url).status_code == 401
        assert anon.get(url, headers={"Authorization": "Bearer cwd_wrong"}).status_code == 401
        got = anon.get(url, headers={"Authorization": f"Bearer {token}"})
        assert got.status_code == 200 and hashlib.sha256(got.content).hexdigest() == sha
        assert anon.get("/api/v1/models/nope/file", headers={"Authorization": f"Bearer {token}"}).status_code == 404
    assert hall.admin.get(url).status_code == 200
    # Upload refusals: an existing version, a body that does not match its claimed hash, an empty body.
    assert hall.admin.put(url, content=b"x").status_code == 409
    bad = hall.admin.put("/api/v1/models/det-x/file", content=b"abc", headers={SHA256_HEADER: "1" * 64})
    assert bad.status_code == 422 and "sha256" in bad.text
    assert hall.admin.put("/api/v1/models/det-y/file", content=b"").status_code == 422
    assert [m["version"] for m in hall.admin.get("/api/v1/models").json()] == ["det-v1"]
