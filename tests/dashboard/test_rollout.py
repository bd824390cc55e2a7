"""Model rollout: a retained ModelRollout on each device's cmd/model topic, through the real broker."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from broker.codec import decode
from broker.payloads import ModelRollout
from broker.topics import model_command_topic
from dashboard.app import create_app
from dashboard.db.engine import Database
from dashboard.enums import Role
from dashboard.ingest.consumer import IngestConsumer
from dashboard.settings import DashboardSettings, IngestSettings, MqttSettings
from tests.dashboard.helpers import ApiUsers, register
from tests.support.mqtt import BrokerHandle, Collector, connect

pytestmark = [pytest.mark.db, pytest.mark.integration]


@pytest.fixture
def live_app(settings: DashboardSettings, fresh_mosquitto: BrokerHandle) -> Iterator[FastAPI]:
    db = Database(settings.database_url)
    mqtt = MqttSettings(host=fresh_mosquitto.host, port=fresh_mosquitto.port, username="dashboard",
                        password=fresh_mosquitto.passwords["dashboard"], client_id="cw-rollout-test")  # type: ignore[arg-type]
    from dashboard.db.migrate import upgrade

    upgrade(settings.database_url)
    consumer = IngestConsumer(mqtt, IngestSettings(), db).start()
    app = create_app(settings, db=db, publisher=consumer.publish)
    try:
        yield app
    finally:
        consumer.stop()
        db.dispose()


def test_rollout_is_published_retained_to_the_device(live_app: FastAPI, fresh_mosquitto: BrokerHandle) -> None:
    register(live_app.state.ctx.db)
    admin = ApiUsers(live_app).client(Role.ADMIN)
    sha = "ab" * 32
    r = admin.post("/api/v1/models", json={"version": "det-2026.11", "url": "https://models.example/det.onnx",
                                          "sha256": sha})
    assert r.status_code == 201, r.text
    assert admin.post("/api/v1/models/det-2026.11/rollout", json={"devices": ["edge-a"]}).json() == \
        {"version": "det-2026.11", "devices": ["edge-a"]}
    assert admin.post("/api/v1/models/det-2026.11/rollout", json={"devices": ["nope"]}).status_code == 404
    # The device connects afterwards and still gets it: the command is retained.
    device = fresh_mosquitto.client("edge-a")
    assert connect(device, fresh_mosquitto.host, fresh_mosquitto.port) == 0
    topic = model_command_topic("hall1", "edge-a")
    got = Collector(device, [topic]).wait_for(1, timeout=10)
    device.disconnect()
    device.loop_stop()
    assert len(got) == 1
    _, message = decode(got[0][0], got[0][1])
    assert isinstance(message, ModelRollout) and (message.version, message.sha256) == ("det-2026.11", sha)
    audit = admin.get("/api/v1/audit", params={"action": "rollout"}).json()
    assert audit["total"] == 1 and json.dumps(audit["items"][0]["detail"]) == '{"devices": ["edge-a"]}'


def test_rollout_without_a_broker_connection_is_refused(app: FastAPI) -> None:
    admin = ApiUsers(app).client(Role.ADMIN)
    admin.post("/api/v1/models", json={"version": "v1", "url": "file:///m.onnx", "sha256": "cd" * 32})
    r = admin.post("/api/v1/models/v1/rollout", json={})
    assert r.status_code == 503
    assert isinstance(TestClient(app).get("/healthz").json(), dict)
