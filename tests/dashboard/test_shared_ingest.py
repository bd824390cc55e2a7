"""Scale-out ingest: several dashboard ingest workers in one shared-subscription group (`mqtt.shared_group`,
CW_DASHBOARD_MQTT__SHARED_GROUP) split the stream on a real Mosquitto: every message is delivered to one
worker, so nothing is processed twice; without the group every worker would get everything."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from broker.codec import encode
from broker.payloads import EventPhase
from dashboard.db.engine import Database
from dashboard.db.models import Event, IngestCounter
from dashboard.ingest.consumer import IngestConsumer
from dashboard.settings import IngestSettings, MqttSettings
from tests.dashboard import factories as f
from tests.dashboard.helpers import register
from tests.support.mqtt import BrokerHandle, connect

pytestmark = [pytest.mark.db, pytest.mark.integration]
N = 400


def test_subscription_filter_follows_the_setting() -> None:
    assert MqttSettings().subscription("cw/v1/+/+/+/+/event") == "cw/v1/+/+/+/+/event"
    shared = MqttSettings(shared_group="ingest")
    assert shared.subscription("cw/v1/+/+/+/+/event") == "$share/ingest/cw/v1/+/+/+/+/event"


def _settings(broker: BrokerHandle, client_id: str, group: str | None, protocol: str) -> MqttSettings:
    return MqttSettings(host=broker.host, port=broker.port, username="dashboard",
                        password=broker.passwords["dashboard"],  # type: ignore[arg-type]
                        client_id=client_id, shared_group=group, protocol=protocol)  # type: ignore[arg-type]


def _publish_events(broker: BrokerHandle, numbers: range) -> None:
    publisher = broker.client("edge-a")
    publisher.max_inflight_messages_set(100)
    assert connect(publisher, broker.host, broker.port) == 0
    topic = f.topic_of(f.event("evt-00000000", 0, EventPhase.START))
    infos = [publisher.publish(topic, encode(f.event(f"evt-{n:08d}", 0, EventPhase.START,
                                                     started_at=f.T0 + timedelta(seconds=n))), qos=1)
             for n in numbers]
    for info in infos:
        info.wait_for_publish(timeout=60)
    publisher.disconnect()
    publisher.loop_stop()


def _run(broker: BrokerHandle, db: Database, group: str | None, protocol: str = "mqttv5"
         ) -> tuple[list[int], dict[str, int]]:
    workers = [IngestConsumer(_settings(broker, f"ingest-{i}", group, protocol), IngestSettings(), db)
               for i in range(2)]
    for w in workers:
        w.start()
        assert w.stats.connected
    try:
        _publish_events(broker, range(N))
        expected = N if group else 2 * N
        deadline = time.monotonic() + 60
        while sum(w.stats.received for w in workers) < expected and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # anything delivered twice would arrive now
    finally:
        for w in workers:
            w.stop()
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Event)) == N
        counters = {c.name: c.value for c in s.scalars(select(IngestCounter))}
    return [w.stats.received for w in workers], counters


@pytest.mark.parametrize("protocol", ["mqttv5", "mqttv311"])
def test_two_workers_in_a_shared_group_split_the_stream_without_double_processing(
        fresh_mosquitto: BrokerHandle, db: Database, protocol: str) -> None:
    register(db)
    received, counters = _run(fresh_mosquitto, db, "ingest", protocol)
    assert sum(received) == N, received  # each message went to exactly one worker
    assert min(received) > N // 4, received  # and both carried load (round-robin)
    assert counters.get("accepted") == N and counters.get("duplicate", 0) == 0


def test_without_the_group_every_worker_processes_everything(fresh_mosquitto: BrokerHandle, db: Database) -> None:
    """The contrast that shows the test above can fail: plain subscriptions double the work."""
    register(db)
    received, counters = _run(fresh_mosquitto, db, None)
    assert received == [N, N]
    assert counters.get("accepted") == N  # idempotent fold: still one row each, but all work done twice


def test_a_v5_worker_collects_what_was_queued_for_it_while_it_was_away(fresh_mosquitto: BrokerHandle,
                                                                        db: Database) -> None:
    """MQTT v5 sessions end at disconnect unless the client asks for an expiry: the worker connects with
    clean_start=False and ``session_expiry_s``, so the broker queues for it while it is down."""
    register(db)
    settings = _settings(fresh_mosquitto, "ingest-v5", "ingest", "mqttv5")
    first = IngestConsumer(settings, IngestSettings(), db).start()
    assert first.stats.connected
    first.stop()
    _publish_events(fresh_mosquitto, range(50))  # nobody connected: only the session can keep these
    again = IngestConsumer(settings, IngestSettings(), db).start()
    try:
        deadline = time.monotonic() + 30
        while again.stats.committed < 50 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        again.stop()
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Event)) == 50
