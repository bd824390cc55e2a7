"""``counterwatch bench broker``: QoS 1 messages per second through a real Mosquitto.

Starts a private Mosquitto with the project's own configuration (auth, ACL, persistence) on a free
loopback port, connects ``--publishers`` edge identities and ``--subscribers`` dashboard sessions (more
than one: an MQTT v5 shared subscription, like scaled-out ingest workers), publishes ``--messages``
contract-valid event messages at QoS 1 and prints JSON: publish rate (PUBACKed by the broker) and
end-to-end rate (delivered to the subscribers). Python paho clients on both ends are part of what is
measured, so the figure is a floor for the broker, not its ceiling.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from broker.codec import encode
from broker.credentials import Registry, Role
from broker.mosquitto import BrokerConfig, MosquittoProcess, free_port, write_files
from broker.payloads import EventMessage, EventPhase, Rule, Severity
from broker.topics import Topic, TopicKind

SITE = "bench"
EVENTS = "cw/v1/+/+/+/+/event"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--messages", type=int, default=20_000, help="messages in all (split over publishers)")
    parser.add_argument("--publishers", type=int, default=1, help="edge connections publishing concurrently")
    parser.add_argument("--subscribers", type=int, default=1,
                        help="dashboard sessions; more than one share one MQTT v5 shared subscription")
    parser.add_argument("--inflight", type=int, default=100, help="QoS 1 messages in flight per connection")
    parser.add_argument("--timeout", type=float, default=300.0)


def event(device: str, n: int) -> tuple[str, bytes]:
    now = datetime.now(UTC)
    message = EventMessage(
        site=SITE, device=device, event_id=f"bench-{n:010d}", seq=0, phase=EventPhase.START,
        rule=Rule.UNATTENDED_NO_SIGN, severity=Severity.MEDIUM, camera="cam1", window="w01",
        started_at=now, sent_at=now, confidence=0.9,
    )
    return str(Topic(TopicKind.EVENT, SITE, device, camera="cam1", window="w01")), encode(message)


class _Counter:
    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.count = 0
        self.lock = threading.Lock()
        self.done = threading.Event()

    def on_message(self, _c: mqtt.Client, _u: object, _msg: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.count += 1
            if self.count >= self.expected:
                self.done.set()


def _connect(client: mqtt.Client, port: int) -> None:
    ready = threading.Event()
    client.on_connect = lambda *_a: ready.set()
    client.connect("127.0.0.1", port, keepalive=60)
    client.loop_start()
    if not ready.wait(10):
        raise RuntimeError("no CONNACK from the bench broker")


def _subscriber(index: int, password: str, port: int, counter: _Counter, shared: bool, inflight: int
                ) -> mqtt.Client:
    protocol = mqtt.MQTTv5 if shared else mqtt.MQTTv311
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-ingest-{index}", protocol=protocol)
    client.username_pw_set("dashboard", password)
    client.max_inflight_messages_set(inflight)
    client.on_message = counter.on_message
    _connect(client, port)
    subscribed = threading.Event()
    client.on_subscribe = lambda *_a: subscribed.set()
    client.subscribe(f"$share/ingest/{EVENTS}" if shared else EVENTS, qos=1)
    if not subscribed.wait(10):
        raise RuntimeError("no SUBACK from the bench broker")
    return client


def _publish(client: mqtt.Client, batch: list[tuple[str, bytes]], timeout: float) -> None:
    infos = [client.publish(topic, payload, qos=1) for topic, payload in batch]
    for info in infos:
        info.wait_for_publish(timeout)


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(messages: int, publishers: int, subscribers: int, inflight: int, timeout: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="cw-bench-broker-") as tmp:
        registry = Registry()
        passwords = {"dashboard": registry.add("dashboard", Role.DASHBOARD)}
        devices = [f"edge-{i}" for i in range(publishers)]
        passwords |= {d: registry.add(d, Role.DEVICE, site=SITE) for d in devices}
        cfg = BrokerConfig(data_dir=Path(tmp), port=free_port(), max_inflight_messages=inflight)
        write_files(cfg, registry)
        # The broker is our only child process: its CPU time shows how much of the work is the broker's.
        children_before = _children_cpu_s()
        with MosquittoProcess(cfg):
            counter = _Counter(messages)
            subs = [_subscriber(i, passwords["dashboard"], cfg.port, counter, subscribers > 1, inflight)
                    for i in range(subscribers)]
            pubs = []
            for device in devices:
                client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-{device}")
                client.username_pw_set(device, passwords[device])
                client.max_inflight_messages_set(inflight)
                _connect(client, cfg.port)
                pubs.append(client)
            # Messages are encoded before the clock starts: this measures the broker path, not pydantic.
            share = -(-messages // publishers)
            batches = [[event(device, n) for n in range(i * share, min(messages, (i + 1) * share))]
                       for i, device in enumerate(devices)]
            threads = [threading.Thread(target=_publish, args=(client, batch, timeout))
                       for client, batch in zip(pubs, batches, strict=True)]
            payload_bytes = len(batches[0][0][1])
            start = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            published_s = time.perf_counter() - start
            counter.done.wait(timeout)
            delivered_s = time.perf_counter() - start
            for client in [*pubs, *subs]:
                client.loop_stop()
                client.disconnect()
        broker_cpu_s = _children_cpu_s() - children_before
    return {
        "bench": "broker",
        "broker": "mosquitto",
        "qos": 1,
        "messages": messages,
        "delivered": counter.count,
        "publishers": publishers,
        "subscribers": subscribers,
        "shared_subscription": subscribers > 1,
        "payload_bytes": payload_bytes,
        "publish_s": round(published_s, 3),
        "deliver_s": round(delivered_s, 3),
        "published_per_s": round(messages / published_s, 1),
        "delivered_per_s": round(counter.count / delivered_s, 1),
        "broker_cpu_s": round(broker_cpu_s, 3),
        "broker_cpu_share": round(broker_cpu_s / delivered_s, 3),  # 1.0 = one core busy throughout
        "host": {"machine": platform.machine(), "cpus": os.cpu_count(), "load_1m": round(os.getloadavg()[0], 2),
                 "python": platform.python_version()},
    }


def run(args: argparse.Namespace) -> int:
    if min(args.messages, args.publishers, args.subscribers, args.inflight) < 1:
        raise SystemExit("--messages, --publishers, --subscribers and --inflight must be at least 1")
    result = measure(args.messages, args.publishers, args.subscribers, args.inflight, args.timeout)
    print(json.dumps(result))
    return 0 if result["delivered"] == args.messages else 1
