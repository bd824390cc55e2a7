"""The ingest end to end through a real Mosquitto (the project's config: auth, ACL, persistence)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from broker.codec import encode
from broker.payloads import EventPhase
from dashboard.db.engine import Database
from dashboard.db.models import DeadLetter, Event, IngestCounter
from dashboard.ingest.consumer import IngestConsumer
from dashboard.settings import IngestSettings, MqttSettings
from tests.dashboard import factories as f
from tests.dashboard.helpers import register
from tests.support.mqtt import BrokerHandle, connect

pytestmark = [pytest.mark.db, pytest.mark.integration]


def _consumer(broker: BrokerHandle, db: Database, client_id: str = "cw-dashboard-test") -> IngestConsumer:
    mqtt = MqttSettings(host=broker.host, port=broker.port, username="dashboard",
                        password=broker.passwords["dashboard"], client_id=client_id)  # type: ignore[arg-type]
    return IngestConsumer(mqtt, IngestSettings(), db)


@pytest.fixture
def ingest(fresh_mosquitto: BrokerHandle, db: Database) -> Iterator[IngestConsumer]:
    register(db)  # edge-a is a registered device; edge-b is a broker identity the dashboard does not know
    consumer = _consumer(fresh_mosquitto, db).start()
    assert consumer.stats.connected
    yield consumer
    consumer.stop()


def _wait(predicate: Callable[[], bool], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def _count(db: Database, model: type) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def _publish(broker: BrokerHandle, username: str, items: list[tuple[str, bytes]]) -> None:
    client = broker.client(username)
    client.max_inflight_messages_set(100)
    assert connect(client, broker.host, broker.port) == 0
    infos = [client.publish(topic, payload, qos=1) for topic, payload in items]
    for info in infos:
        info.wait_for_publish(timeout=60)
    client.disconnect()
    client.loop_stop()


def test_malformed_payload_is_dead_lettered_with_reason_and_counted(
    fresh_mosquitto: BrokerHandle, db: Database, ingest: IngestConsumer
) -> None:
    topic = "cw/v1/hall1/edge-a/cam1/w01/event"
    _publish(fresh_mosquitto, "edge-a", [(topic, b'{"v": 1, "event_id": "truncated'),
                                        (topic, encode(f.event("evt-good0001", 0, EventPhase.START)))])
    assert _wait(lambda: _count(db, DeadLetter) == 1 and _count(db, Event) == 1)
    with db.session() as s:
        letter = s.scalars(select(DeadLetter)).one()
        assert (letter.code, letter.topic) == ("malformed_json", topic)
        assert letter.payload == b'{"v": 1, "event_id": "truncated' and letter.reason
        counters = {c.name: c.value for c in s.scalars(select(IngestCounter))}
    assert counters["rejected.malformed_json"] == 1 and counters["accepted"] == 1
    assert ingest.stats.counts["rejected.malformed_json"] == 1


def test_message_from_an_unregistered_device_is_rejected(
    fresh_mosquitto: BrokerHandle, db: Database, ingest: IngestConsumer
) -> None:
    message = f.event("evt-edgeb001", 0, EventPhase.START, device="edge-b")
    _publish(fresh_mosquitto, "edge-b", [(f.topic_of(message), encode(message))])
    assert _wait(lambda: _count(db, DeadLetter) == 1)
    with db.session() as s:
        letter = s.scalars(select(DeadLetter)).one()
        assert letter.code == "unknown_device" and "edge-b" in letter.reason
    assert _count(db, Event) == 0


@pytest.mark.slow
def test_burst_of_10000_events_arrives_complete(
    fresh_mosquitto: BrokerHandle, db: Database, ingest: IngestConsumer
) -> None:
    n = 10_000
    messages = [f.event(f"burst-{i:06d}", 0, EventPhase.START, started_at=f.T0 + timedelta(seconds=i))
                for i in range(n)]
    _publish(fresh_mosquitto, "edge-a", [(f.topic_of(m), encode(m)) for m in messages])
    assert _wait(lambda: _count(db, Event) >= n, timeout=300), f"only {_count(db, Event)} of {n} arrived"
    assert _count(db, Event) == n
    assert _count(db, DeadLetter) == 0
    with db.session() as s:
        ids = set(s.scalars(select(Event.event_id)))
    assert ids == {m.event_id for m in messages}


def test_messages_sent_while_the_dashboard_is_down_arrive_after_restart(
    fresh_mosquitto: BrokerHandle, db: Database
) -> None:
    register(db)
    consumer = _consumer(fresh_mosquitto, db, client_id="cw-dashboard-persist").start()
    consumer.stop()  # the broker keeps the persistent session and queues for it
    batch = [f.event(f"away-{i:06d}", 0, EventPhase.START) for i in range(200)]
    _publish(fresh_mosquitto, "edge-a", [(f.topic_of(m), encode(m)) for m in batch])
    restarted = _consumer(fresh_mosquitto, db, client_id="cw-dashboard-persist").start()
    try:
        assert _wait(lambda: _count(db, Event) == len(batch))
    finally:
        restarted.stop()


@pytest.mark.slow
def test_ingest_killed_mid_burst_loses_nothing(fresh_mosquitto: BrokerHandle, db: Database, db_url: str,
                                               tmp_path: Path) -> None:
    """SIGKILL the real ``counterwatch dashboard ingest`` process mid-burst, start it again: every message
    ends up in the database exactly once (unacknowledged ones are redelivered from the persistent session)."""
    register(db)
    env = {**os.environ, "CW_DASHBOARD_DATABASE_URL": db_url, "CW_DASHBOARD_MQTT__HOST": fresh_mosquitto.host,
           "CW_DASHBOARD_MQTT__PORT": str(fresh_mosquitto.port),
           "CW_DASHBOARD_MQTT__PASSWORD": fresh_mosquitto.passwords["dashboard"],
           "CW_DASHBOARD_MQTT__CLIENT_ID": "cw-dashboard-killed", "CW_DASHBOARD_STATE_DIR": str(tmp_path)}
    command = [sys.executable, "-m", "counterwatch.cli", "dashboard", "ingest"]

    log = tmp_path / "ingest.log"

    def start() -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)

    first = start()
    try:
        # The session must exist (subscribed once) before the burst; after that the broker keeps it.
        assert _wait(lambda: "ingest connected" in log.read_text(), timeout=60), log.read_text()
        n = 3000
        batch = [f.event(f"kill-{i:06d}", 0, EventPhase.START) for i in range(n)]
        publisher = threading.Thread(
            target=_publish, args=(fresh_mosquitto, "edge-a", [(f.topic_of(m), encode(m)) for m in batch]))
        publisher.start()
        assert _wait(lambda: _count(db, Event) > 0, timeout=60)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        killed_at = _count(db, Event)
        publisher.join(120)
        assert killed_at < n, "the burst finished before the kill; the test proves nothing"
        second = start()
        try:
            assert _wait(lambda: _count(db, Event) == n, timeout=180), f"{_count(db, Event)} of {n}"
        finally:
            second.terminate()
            second.wait(20)
    finally:
        if first.poll() is None:
            first.kill()
    assert _count(db, DeadLetter) == 0
