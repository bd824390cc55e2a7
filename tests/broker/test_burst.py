"""A 10,000-event burst from one device reaches a persistent-session QoS 1 subscriber complete, on both
engines: half of it while the subscriber is offline (queued by the broker), half live."""

from __future__ import annotations

import json
import threading
import time

import paho.mqtt.client as mqtt
import pytest

from broker.codec import decode, encode
from broker.payloads import EventMessage
from broker.topics import Topic, TopicKind
from tests.broker.conftest import Engine, close
from tests.broker.samples import event
from tests.support.mqtt import connect

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BURST = 10_000


class Inbox:
    """Every event message a client receives (redeliveries included)."""

    def __init__(self) -> None:
        self.event_ids: list[str] = []
        self.lock = threading.Lock()

    def on_message(self, _c, _u, msg):
        _, message = decode(msg.topic, msg.payload)
        assert isinstance(message, EventMessage)
        with self.lock:
            self.event_ids.append(message.event_id)

    def wait_for(self, count: int, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.event_ids) >= count:
                    break
            time.sleep(0.05)
        time.sleep(0.5)  # let stragglers (duplicates) arrive before counting
        with self.lock:
            return len(self.event_ids)


def publish_all(client: mqtt.Client, payloads: list[bytes], topic: str) -> None:
    infos = [client.publish(topic, p, qos=1) for p in payloads]
    for info in infos:
        info.wait_for_publish(timeout=120)  # PUBACK from the broker: it owns the message now
        assert info.is_published()


def test_burst_arrives_complete_at_persistent_qos1_subscriber(engine: Engine) -> None:
    topic = str(Topic(TopicKind.EVENT, "hall1", "edge-a", "cam1", "w01"))
    payloads = [encode(event(i)) for i in range(BURST)]
    half = BURST // 2
    sub_id = f"dashboard-ingest-{engine.name}"
    inbox = Inbox()

    # The dashboard's persistent session exists, then goes away (clean DISCONNECT, session kept).
    sub = engine.connected("dashboard", client_id=sub_id, clean=False)
    subscribed = threading.Event()
    sub.on_subscribe = lambda *_a: subscribed.set()
    sub.subscribe("cw/v1/+/+/+/+/event", qos=1)
    assert subscribed.wait(5)
    close(sub)

    pub = engine.client("edge-a")
    pub.max_inflight_messages_set(100)
    assert not connect(pub, engine.handle.host, engine.handle.port).is_failure
    started = time.monotonic()
    publish_all(pub, payloads[:half], topic)  # queued for the offline session

    sub = engine.client("dashboard", client_id=sub_id, clean=False)
    sub.on_message = inbox.on_message
    assert not connect(sub, engine.handle.host, engine.handle.port).is_failure
    publish_all(pub, payloads[half:], topic)  # live
    received = inbox.wait_for(BURST, timeout=180)
    elapsed = time.monotonic() - started
    close(pub, sub)

    unique = set(inbox.event_ids)
    duplicates = received - len(unique)
    print(json.dumps({"engine": engine.name, "sent": BURST, "received": received, "unique": len(unique),
                      "duplicates": duplicates, "seconds": round(elapsed, 2)}))
    assert unique == {f"evt-{i:08d}" for i in range(BURST)}, f"{BURST - len(unique)} event(s) lost"
