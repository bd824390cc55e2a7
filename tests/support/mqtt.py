"""Test helpers for talking to a real broker."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


@dataclass
class BrokerHandle:
    host: str
    port: int
    passwords: dict[str, str]
    site: str = "hall1"
    restart: Callable[[], None] = field(default=lambda: None)
    stop: Callable[[], None] = field(default=lambda: None)
    start: Callable[[], None] = field(default=lambda: None)

    def client(self, username: str, client_id: str | None = None, clean: bool = True) -> mqtt.Client:
        c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"{username}-{time.monotonic_ns()}",
            clean_session=clean,
            protocol=mqtt.MQTTv311,
        )
        c.username_pw_set(username, self.passwords.get(username, "wrong"))
        return c


def connect(client: mqtt.Client, host: str, port: int, timeout: float = 5.0) -> mqtt.ReasonCode:
    """Connect and wait for CONNACK; returns its reason code (success or the refusal)."""
    done = threading.Event()
    result: dict[str, mqtt.ReasonCode] = {}

    def on_connect(_c, _u, _f, reason_code, _p):
        result["rc"] = reason_code
        done.set()

    client.on_connect = on_connect
    client.connect(host, port, keepalive=30)
    client.loop_start()
    if not done.wait(timeout):
        client.loop_stop()
        raise TimeoutError("no CONNACK")
    return result["rc"]


class Collector:
    """Subscribes and collects (topic, payload) pairs."""

    def __init__(self, client: mqtt.Client, topics: list[str], qos: int = 1) -> None:
        self.client = client
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        client.on_message = self._on_message
        client.on_subscribe = lambda *_a: self._subscribed.set()
        client.subscribe([(t, qos) for t in topics])
        if not self._subscribed.wait(5):
            raise TimeoutError("no SUBACK")

    def _on_message(self, _c, _u, msg):
        with self._lock:
            self.messages.append((msg.topic, msg.payload))

    def wait_for(self, count: int, timeout: float = 30.0) -> list[tuple[str, bytes]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.02)
        with self._lock:
            return list(self.messages)
