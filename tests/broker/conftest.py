"""Both broker engines behind one fixture: every integration test here runs on Mosquitto and on amqtt."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from broker.credentials import Registry
from broker.embedded import EmbeddedBroker
from broker.mosquitto import BrokerConfig, MosquittoProcess, free_port, mosquitto_binary, write_files
from tests.conftest import DEFAULT_IDENTITIES, SITE
from tests.support.mqtt import BrokerHandle, Collector, connect

ENGINES = ["mosquitto", "embedded"]


@dataclass
class Engine:
    """A running broker of either kind, with the registry operations a test needs."""

    name: str
    cfg: BrokerConfig
    server: MosquittoProcess | EmbeddedBroker
    handle: BrokerHandle

    def registry(self) -> Registry:
        return Registry.load(self.cfg.registry_file)

    def save(self, registry: Registry) -> None:
        registry.save(self.cfg.registry_file)
        write_files(self.cfg, registry)
        self.server.reload()

    def rotate(self, username: str) -> tuple[str, str]:
        """(new login, new password); the old ones stay valid until finish_rotation."""
        registry = self.registry()
        login, password = registry.rotate(username)
        self.save(registry)
        return login, password

    def restart(self) -> None:
        self.server.stop()
        self.server.start()

    def client(self, username: str, password: str | None = None, client_id: str | None = None,
               clean: bool = True, login: str | None = None) -> mqtt.Client:
        c = self.handle.client(username, client_id=client_id, clean=clean)
        if password is not None:
            c.username_pw_set(login or username, password)
        return c

    def connected(self, username: str, **kwargs: object) -> mqtt.Client:
        """A client that is connected (asserting CONNACK success)."""
        c = self.client(username, **kwargs)  # type: ignore[arg-type]
        rc = connect(c, self.handle.host, self.handle.port)
        assert not rc.is_failure, f"{username} refused: {rc}"
        return c


def start_engine(name: str, data_dir: Path, **config: Any) -> Engine:
    registry = Registry()
    passwords = {u: registry.add(u, role, site=site) for u, (role, site) in DEFAULT_IDENTITIES.items()}
    cfg = BrokerConfig(data_dir=data_dir, port=free_port(), **config)
    registry.save(cfg.registry_file)
    write_files(cfg, registry)
    server: MosquittoProcess | EmbeddedBroker
    if name == "mosquitto":
        if mosquitto_binary() is None:
            pytest.fail("mosquitto is not installed: ./cw setup installs it")
        server = MosquittoProcess(cfg).start()
    else:
        server = EmbeddedBroker(cfg).start()
    handle = BrokerHandle(host=cfg.host, port=cfg.port, passwords=passwords, site=SITE, stop=server.stop)
    return Engine(name, cfg, server, handle)


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    eng = start_engine(request.param, tmp_path / request.param)
    try:
        yield eng
    finally:
        eng.server.stop()


class Listener(Collector):
    """A Collector that leaves subscribing to the test (a resumed session, or filters that may be refused)."""

    def __init__(self, client: mqtt.Client) -> None:  # no super(): it would subscribe
        self.client, self.messages, self._lock = client, [], threading.Lock()
        client.on_message = self._on_message


def drop(client: mqtt.Client) -> None:
    """Cut a client's TCP connection without an MQTT DISCONNECT, as a crash or a pulled cable would."""
    client.loop_stop()
    sock = client.socket()
    assert isinstance(sock, socket.socket)
    sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def close(*clients: mqtt.Client) -> None:
    for c in clients:
        c.disconnect()
        c.loop_stop()
