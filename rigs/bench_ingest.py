"""``counterwatch bench ingest``: MQTT -> database ingest rate and publish-to-committed latency.

Starts its own Mosquitto (the project's config: auth, ACL, persistence) and its own database (a SQLite
file, or a temporary database on the PostgreSQL at 127.0.0.1:5432), registers one device, publishes N
event messages at QoS 1 as fast as the broker takes them, and prints JSON."""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from broker.codec import encode
from broker.credentials import Registry, Role
from broker.mosquitto import BrokerConfig, MosquittoProcess, free_port, write_files
from broker.payloads import EventMessage, EventPhase, Rule, Severity
from broker.topics import Topic, TopicKind
from dashboard.db.engine import Database
from dashboard.db.migrate import upgrade
from dashboard.db.scratch import scratch_database
from dashboard.ingest.apply import BatchResult, RawMessage
from dashboard.ingest.consumer import IngestConsumer
from dashboard.registry import CameraSpec, register_device
from dashboard.settings import IngestSettings, MqttSettings

SITE, DEVICE, CAMERA, WINDOW = "hall1", "bench-edge", "cam1", "w01"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=10_000, help="messages to publish (default 10000)")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432",
                        help="server for --database postgresql (a temporary database is created on it)")
    parser.add_argument("--max-batch", type=int, default=IngestSettings().max_batch)
    parser.add_argument("--max-delay-ms", type=int, default=IngestSettings().max_delay_ms)
    parser.add_argument("--rate", type=float, default=0.0,
                        help="publish at this many events/s (default 0: as fast as the broker takes them, a burst)")
    parser.add_argument("--timeout", type=float, default=600.0)


def _messages(n: int) -> list[tuple[str, bytes, str]]:
    topic = str(Topic(TopicKind.EVENT, SITE, DEVICE, CAMERA, WINDOW))
    t0 = datetime.now(UTC)
    out = []
    for i in range(n):
        msg = EventMessage(
            site=SITE, device=DEVICE, event_id=f"bench-{i:08d}", seq=0, phase=EventPhase.START,
            rule=Rule.PHONE_USE, severity=Severity.MEDIUM, camera=CAMERA, window=WINDOW,
            started_at=t0 + timedelta(milliseconds=i), sent_at=t0 + timedelta(milliseconds=i), confidence=0.8,
        )
        out.append((topic, encode(msg), msg.event_id))
    return out


def _database(args: argparse.Namespace, workdir: Path) -> contextlib.AbstractContextManager[str]:
    if args.database == "sqlite":
        return contextlib.nullcontext(f"sqlite:///{workdir / 'bench.db'}")
    return scratch_database(args.postgres_url, "cw_bench")


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="cw-bench-ingest-") as tmp:
        workdir = Path(tmp)
        registry = Registry()
        passwords = {"dashboard": registry.add("dashboard", Role.DASHBOARD),
                     DEVICE: registry.add(DEVICE, Role.DEVICE, site=SITE)}
        cfg = BrokerConfig(data_dir=workdir / "broker", port=free_port())
        write_files(cfg, registry)
        with _database(args, workdir) as url, MosquittoProcess(cfg):
            result = _measure(args, url, cfg, passwords)
    print(json.dumps(result, indent=2))
    return 0 if result["complete"] else 1


def _measure(args: argparse.Namespace, url: str, cfg: BrokerConfig, passwords: dict[str, str]) -> dict[str, object]:
    upgrade(url)
    db = Database(url)
    with db.session() as s:
        register_device(s, SITE, DEVICE, [CameraSpec(CAMERA, (WINDOW,))])
    messages = _messages(args.events)
    published: dict[str, float] = {}
    latencies: list[float] = []
    lock = threading.Lock()
    done = threading.Event()
    last_commit = [0.0]

    def on_batch(raws: list[RawMessage], _result: BatchResult) -> None:
        now = time.perf_counter()
        with lock:
            for raw in raws:
                event_id = json.loads(raw.payload)["event_id"]
                latencies.append(now - published[event_id])
            last_commit[0] = now
            if len(latencies) >= len(messages):
                done.set()

    consumer = IngestConsumer(
        MqttSettings(host=cfg.host, port=cfg.port, username="dashboard", password=passwords["dashboard"],
                     client_id="cw-bench-dashboard"),
        IngestSettings(max_batch=args.max_batch, max_delay_ms=args.max_delay_ms), db, on_batch=on_batch,
    ).start()
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="cw-bench-edge", protocol=mqtt.MQTTv311)
    publisher.username_pw_set(DEVICE, passwords[DEVICE])
    publisher.max_inflight_messages_set(100)
    connected = threading.Event()
    publisher.on_connect = lambda *_a: connected.set()
    publisher.connect(cfg.host, cfg.port)
    publisher.loop_start()
    connected.wait(10)
    start = time.perf_counter()
    infos = []
    interval = 1.0 / args.rate if args.rate > 0 else 0.0
    for i, (topic, payload, event_id) in enumerate(messages):
        if interval:
            time.sleep(max(0.0, start + i * interval - time.perf_counter()))
        with lock:
            published[event_id] = time.perf_counter()
        infos.append(publisher.publish(topic, payload, qos=1))
    for info in infos:
        info.wait_for_publish(timeout=args.timeout)
    publish_s = time.perf_counter() - start
    complete = done.wait(args.timeout)
    publisher.disconnect()
    publisher.loop_stop()
    consumer.stop()
    db.dispose()
    elapsed = (last_commit[0] or time.perf_counter()) - start
    ordered = sorted(latencies)

    def pct(p: float) -> float | None:
        return round(ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000, 1) if ordered else None

    return {
        "bench": "ingest",
        "database": args.database,
        "events": len(messages),
        "publish_rate": args.rate or "burst",
        "committed": len(latencies),
        "complete": complete,
        "events_per_s": round(len(latencies) / elapsed, 1) if elapsed > 0 else None,
        "publish_s": round(publish_s, 3),
        "total_s": round(elapsed, 3),
        "latency_ms": {"p50": pct(0.50), "p99": pct(0.99), "max": pct(1.0),
                       "mean": round(statistics.fmean(ordered) * 1000, 1) if ordered else None},
        "batches": consumer.stats.batches,
        "max_batch": args.max_batch,
        "max_delay_ms": args.max_delay_ms,
    }
