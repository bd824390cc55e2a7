"""Device-side attack rig: a real broker of either engine (Mosquitto, the embedded amqtt broker) with the
project's config, the dashboard's real MQTT ingest into a real database, and two devices at two sites.

The broker identities are made with ``counterwatch broker add-identity`` (the supported CLI), the dashboard
side with :func:`dashboard.registry.register_device` (what ``dashboard add-device`` runs). ``edge-a`` at
``hall1`` is the victim, ``edge-b`` at ``hall2`` the hostile (or stolen) device."""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import func, select

from broker.credentials import Registry, Role
from broker.embedded import EmbeddedBroker
from broker.mosquitto import BrokerConfig, MosquittoProcess, free_port, mosquitto_binary, write_files
from counterwatch.cli import main as cli_main
from dashboard.db.engine import Database
from dashboard.ingest.consumer import IngestConsumer
from dashboard.registry import CameraSpec, register_device
from dashboard.settings import IngestSettings, MqttSettings
from tests.dashboard.conftest import (  # noqa: F401  (pytest fixtures for every test in this folder)
    api,
    app,
    client,
    db,
    db_url,
    postgres_database,
    postgres_server,
    settings,
)
from tests.support.mqtt import connect

ENGINES = ["mosquitto", "embedded"]
VICTIM = ("hall1", "edge-a")
HOSTILE = ("hall2", "edge-b")
CAMERA, WINDOW = "cam1", "w01"


@dataclass
class Device:
    site: str
    device: str
    password: str  # MQTT
    upload_token: str  # evidence HTTP

    def topic(self, kind: str) -> str:
        base = f"cw/v1/{self.site}/{self.device}"
        return {"event": f"{base}/{CAMERA}/{WINDOW}/event", "state": f"{base}/{CAMERA}/{WINDOW}/state",
                "health": f"{base}/{CAMERA}/health"}.get(kind, f"{base}/{kind}")


@dataclass
class Rig:
    engine: str
    cfg: BrokerConfig
    server: MosquittoProcess | EmbeddedBroker
    passwords: dict[str, str]
    victim: Device
    hostile: Device

    def client(self, username: str, password: str | None = None) -> mqtt.Client:
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{username}-{time.monotonic_ns()}",
                        protocol=mqtt.MQTTv311)
        c.username_pw_set(username, password if password is not None else self.passwords[username])
        rc = connect(c, self.cfg.host, self.cfg.port)
        assert not rc.is_failure, f"{username} refused: {rc}"
        return c

    def publish(self, username: str, items: list[tuple[str, bytes]], retain: bool = False) -> None:
        c = self.client(username)
        try:
            for topic, payload in items:
                c.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)
        finally:
            c.disconnect()
            c.loop_stop()


def add_identity(data_dir: Path, username: str, role: str, site: str | None = None) -> str:
    """``counterwatch broker add-identity``; returns the generated password it prints."""
    argv = ["broker", "add-identity", username, "--role", role, "--data-dir", str(data_dir)]
    if site is not None:
        argv += ["--site", site]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli_main(argv) == 0
    return str(json.loads(out.getvalue().strip().splitlines()[-1])["password"])


def start_server(name: str, cfg: BrokerConfig) -> MosquittoProcess | EmbeddedBroker:
    write_files(cfg, Registry.load(cfg.registry_file))  # render for this port (add-identity used the default)
    if name == "mosquitto":
        if mosquitto_binary() is None:
            pytest.fail("mosquitto is not installed: ./cw setup installs it")
        return MosquittoProcess(cfg).start()
    return EmbeddedBroker(cfg).start()


@pytest.fixture(params=ENGINES)
def rig(request: pytest.FixtureRequest, tmp_path: Path, db: Database) -> Iterator[Rig]:  # noqa: F811
    data_dir = (tmp_path / f"broker-{request.param}").resolve()
    passwords = {"dashboard": add_identity(data_dir, "dashboard", Role.DASHBOARD.value),
                 "ops": add_identity(data_dir, "ops", Role.ADMIN.value)}
    devices = []
    for site, device in (VICTIM, HOSTILE):
        passwords[device] = add_identity(data_dir, device, Role.DEVICE.value, site)
        with db.session() as s:
            token = register_device(s, site, device, [CameraSpec(CAMERA, (WINDOW,))]).upload_token
        devices.append(Device(site, device, passwords[device], token))
    cfg = BrokerConfig(data_dir=data_dir, port=free_port())
    server = start_server(request.param, cfg)
    try:
        yield Rig(request.param, cfg, server, passwords, devices[0], devices[1])
    finally:
        server.stop()


@pytest.fixture
def ingest(rig: Rig, db: Database) -> Iterator[IngestConsumer]:  # noqa: F811
    """The dashboard's real MQTT ingest on the rig's broker."""
    mqtt_settings = MqttSettings(host=rig.cfg.host, port=rig.cfg.port, username="dashboard",
                                 password=rig.passwords["dashboard"],
                                 client_id=f"cw-dashboard-sec-{rig.engine}")
    consumer = IngestConsumer(mqtt_settings, IngestSettings(), db).start()
    assert consumer.stats.connected
    try:
        yield consumer
    finally:
        consumer.stop()


@pytest.fixture
def victim(db: Database) -> Device:  # noqa: F811
    """hall1/edge-a registered with the dashboard only (HTTP-side tests need no broker)."""
    with db.session() as s:
        token = register_device(s, VICTIM[0], VICTIM[1], [CameraSpec(CAMERA, (WINDOW,))]).upload_token
    return Device(VICTIM[0], VICTIM[1], "", token)


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def count(db: Database, model: type, *where: object) -> int:  # noqa: F811
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0  # type: ignore[arg-type]
