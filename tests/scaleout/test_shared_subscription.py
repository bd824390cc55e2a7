"""MQTT v5 shared subscriptions on the real Mosquitto: ingest workers split one stream between them."""

from __future__ import annotations

import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from broker.credentials import Role
from broker.mosquitto import free_port
from tests.scaleout.brokers import event_number, event_payload, new_client, running, start_broker, try_connect
from tests.support.mqtt import Collector

SITE = "hall1"
SHARED_EVENTS = "$share/ingest/cw/v1/+/+/+/+/event"
PER_DEVICE = 1_000


@pytest.mark.integration
@pytest.mark.slow
def test_two_shared_subscribers_split_the_stream_without_loss_or_duplicates(tmp_path: Path) -> None:
    proc, passwords = start_broker(tmp_path / "broker", {
        "dashboard": (Role.DASHBOARD, None),
        "edge-a": (Role.DEVICE, SITE),
        "edge-b": (Role.DEVICE, SITE),
    }, port=free_port())
    host, port = proc.cfg.host, proc.cfg.port
    with running(proc):
        workers: list[tuple[mqtt.Client, Collector]] = []
        for i in range(2):
            # Two ingest workers of the same dashboard identity, each its own MQTT v5 session.
            worker = new_client("dashboard", passwords["dashboard"], f"ingest-{i}", protocol=mqtt.MQTTv5)
            assert try_connect(worker, host, port, clean_start=True)
            workers.append((worker, Collector(worker, [SHARED_EVENTS], qos=1)))

        sent: set[int] = set()
        publishers = []
        for device, first in (("edge-a", 0), ("edge-b", PER_DEVICE)):
            edge = new_client(device, passwords[device])
            assert try_connect(edge, host, port)
            publishers.append(edge)
            infos = []
            for n in range(first, first + PER_DEVICE):
                topic, payload = event_payload(SITE, device, n)
                infos.append(edge.publish(topic, payload, qos=1))
                sent.add(n)
            for info in infos:
                info.wait_for_publish(30)

        deadline = time.monotonic() + 30
        while sum(len(c.messages) for _w, c in workers) < len(sent) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # anything delivered twice would arrive now
        shares = [[event_number(t, p) for t, p in collector.wait_for(0, timeout=0)] for _w, collector in workers]

        assert len(sent) == 2 * PER_DEVICE
        # count in == count out: every message once, to exactly one of the workers.
        assert sum(len(s) for s in shares) == len(sent)
        assert set(shares[0]) | set(shares[1]) == sent
        assert not set(shares[0]) & set(shares[1]), "a message went to both workers"
        assert all(len(s) == len(set(s)) for s in shares), "a worker got a message twice"
        # Mosquitto hands a shared group's messages out round-robin: both workers carry load.
        assert min(len(s) for s in shares) > len(sent) // 4
        for client in [*publishers, *(w for w, _c in workers)]:
            client.loop_stop()
            client.disconnect()


@pytest.mark.integration
def test_a_worker_away_keeps_its_share_queued_in_its_persistent_session(tmp_path: Path) -> None:
    """Why ingest workers need *stable* client ids (a StatefulSet, fixed compose names): Mosquitto keeps
    dealing an absent member with a persistent session its round-robin share and queues it for that
    session. The worker coming back under the same id gets exactly those; a worker under a new id would
    leave them stranded until the session expires."""
    proc, passwords = start_broker(tmp_path / "broker", {
        "dashboard": (Role.DASHBOARD, None),
        "edge-a": (Role.DEVICE, SITE),
    }, port=free_port())
    host, port = proc.cfg.host, proc.cfg.port
    persistent = Properties(PacketTypes.CONNECT)
    persistent.SessionExpiryInterval = 3600

    def worker(client_id: str) -> tuple[mqtt.Client, Collector]:
        client = new_client("dashboard", passwords["dashboard"], client_id, protocol=mqtt.MQTTv5)
        assert try_connect(client, host, port, clean_start=False, properties=persistent)
        return client, Collector(client, [SHARED_EVENTS], qos=1)

    with running(proc):
        (staying, staying_inbox), (leaving, _) = worker("ingest-0"), worker("ingest-1")
        leaving.disconnect()
        leaving.loop_stop()

        edge = new_client("edge-a", passwords["edge-a"])
        assert try_connect(edge, host, port)
        sent = set(range(200))
        for n in sorted(sent):
            edge.publish(*event_payload(SITE, "edge-a", n), qos=1).wait_for_publish(5)
        got_staying = {event_number(t, p) for t, p in staying_inbox.wait_for(100, timeout=10)}
        time.sleep(0.5)
        assert len(staying_inbox.messages) == len(got_staying) < len(sent)  # the rest waits for ingest-1

        # Back under the same id: the session (subscription and queue) is still there; no SUBSCRIBE needed,
        # the queued share arrives right after CONNACK, so the handler is set before connecting.
        back = new_client("dashboard", passwords["dashboard"], "ingest-1", protocol=mqtt.MQTTv5)
        back_got: list[int] = []
        back.on_message = lambda _c, _u, msg: back_got.append(event_number(msg.topic, bytes(msg.payload)))
        assert try_connect(back, host, port, clean_start=False, properties=persistent)
        deadline = time.monotonic() + 10
        while len(back_got) < len(sent) - len(got_staying) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        got_back = set(back_got)
        assert len(back_got) == len(got_back)
        assert got_staying | got_back == sent
        assert not got_staying & got_back
        for client in (staying, back, edge):
            client.loop_stop()
            client.disconnect()
