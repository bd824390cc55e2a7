"""Brokers of the scale-out tests' own: TLS listeners, hall and central brokers bridged together.

Like ``tests/conftest.py``'s fixtures these run the real Mosquitto with the project's rendered config
(auth, ACL, persistence); they only add the listener and bridge options these tests are about."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from broker.codec import decode, encode
from broker.credentials import Registry, Role
from broker.mosquitto import BrokerConfig, MosquittoProcess, mosquitto_binary, write_files
from broker.payloads import EventMessage, EventPhase, Rule, Severity
from broker.topics import Topic, TopicKind


def start_broker(data_dir: Path, identities: dict[str, tuple[Role, str | None]], **config: Any) -> tuple[
    MosquittoProcess, dict[str, str]
]:
    """A Mosquitto with these identities; ``config`` goes to :class:`BrokerConfig`. Returns passwords."""
    if mosquitto_binary() is None:
        pytest.fail("mosquitto is not installed: ./cw setup installs it")
    registry = Registry()
    passwords = {name: registry.add(name, role, site=site) for name, (role, site) in identities.items()}
    registry.save(data_dir / "identities.yaml")
    cfg = BrokerConfig(data_dir=data_dir, **config)
    write_files(cfg, registry)
    return MosquittoProcess(cfg).start(), passwords


@contextmanager
def running(proc: MosquittoProcess) -> Iterator[MosquittoProcess]:
    try:
        yield proc
    finally:
        proc.stop()


def new_client(username: str, password: str, client_id: str | None = None, *, clean: bool = True,
               protocol: mqtt.MQTTProtocolVersion = mqtt.MQTTv311) -> mqtt.Client:
    client_id = client_id or f"{username}-{time.monotonic_ns()}"
    if protocol == mqtt.MQTTv5:
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol)
    else:
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean, protocol=protocol)
    c.username_pw_set(username, password)
    return c


def try_connect(client: mqtt.Client, host: str, port: int, timeout: float = 5.0, **connect_args: Any) -> bool:
    """True when the broker accepted the session (CONNACK success); False for a refused TLS handshake,
    a dropped connection or a refused CONNECT. The client is left running only on success."""
    done = threading.Event()
    accepted: list[bool] = []

    def on_connect(_c: mqtt.Client, _u: object, _f: object, reason_code: ReasonCode, _p: object) -> None:
        accepted.append(not reason_code.is_failure)
        done.set()

    def on_disconnect(_c: mqtt.Client, _u: object, _f: object, _rc: ReasonCode, _p: object) -> None:
        done.set()

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    try:
        client.connect(host, port, keepalive=30, **connect_args)
    except OSError:  # ssl.SSLError included: the handshake failed on our side
        return False
    client.loop_start()
    done.wait(timeout)
    if accepted and accepted[0]:
        return True
    client.loop_stop()
    client.disconnect()
    return False


def event_payload(site: str, device: str, n: int, window: str = "w01") -> tuple[str, bytes]:
    """A contract-valid event message (topic, payload) whose ``event_id`` carries ``n``."""
    now = datetime.now(UTC)
    message = EventMessage(
        site=site, device=device, event_id=f"evt-{n:08d}", seq=0, phase=EventPhase.START,
        rule=Rule.UNATTENDED_NO_SIGN, severity=Severity.MEDIUM, camera="cam1", window=window,
        started_at=now, sent_at=now, confidence=0.9,
    )
    return str(Topic(TopicKind.EVENT, site, device, camera="cam1", window=window)), encode(message)


def event_number(topic: str, payload: bytes) -> int:
    """Decode with the contract's codec (so what arrived is a valid message) and return its ``n``."""
    _topic, message = decode(topic, payload)
    assert isinstance(message, EventMessage)
    return int(message.event_id.removeprefix("evt-"))
