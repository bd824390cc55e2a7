"""Publisher against a real Mosquitto: outbox drained in order, nothing lost across broker restarts,
Last Will on an unclean exit, evidence uploads retried until the receiver answers."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from broker.codec import decode
from broker.payloads import NodeStatus, StatusMessage
from broker.receipts import receipts_for
from edge.outbox import Outbox, ReceiptPolicy
from edge.publish import Publisher, Uploader
from edge.settings import DashboardSettings, MqttSettings
from tests.edge.evidence_server import EvidenceServer
from tests.support.mqtt import BrokerHandle, Collector, connect

ROOT = Path(__file__).resolve().parents[2]
TOPIC = "cw/v1/hall1/edge-a/cam1/w1/event"


def settings(broker: BrokerHandle) -> MqttSettings:
    return MqttSettings(host=broker.host, port=broker.port, username="edge-a", password=broker.passwords["edge-a"],
                        keepalive=5)


def wait(predicate: object, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def dashboard(broker: BrokerHandle, topics: list[str]) -> Collector:
    client = broker.client("dashboard", client_id=f"dash-{time.monotonic_ns()}", clean=False)
    assert not connect(client, broker.host, broker.port).is_failure
    return Collector(client, topics)


@pytest.mark.integration
def test_outbox_drains_in_order_across_a_broker_restart(tmp_path: Path, fresh_mosquitto: BrokerHandle) -> None:
    broker = fresh_mosquitto
    collector = dashboard(broker, ["cw/v1/+/+/+/+/event"])
    outbox = Outbox(tmp_path / "o.sqlite")
    pub = Publisher(settings(broker), site="hall1", device="edge-a", outbox=outbox, inflight=8).start()
    try:
        assert pub.connected.wait(10)
        for i in range(100):
            outbox.put(TOPIC, f"{i}".encode(), kind="event")
        broker.restart()  # mid-drain
        for i in range(100, 200):
            outbox.put(TOPIC, f"{i}".encode(), kind="event")
        assert wait(lambda: outbox.unsent() == 0, 60), f"outbox still holds {outbox.unsent()}"
        assert wait(lambda: len({p for _, p in collector.messages}) >= 200, 30)
    finally:
        pub.stop()
    seen: list[int] = []
    for _, payload in collector.messages:
        if int(payload) not in seen:
            seen.append(int(payload))
    assert seen == list(range(200))


@pytest.mark.integration
def test_killed_node_resends_after_restart_and_will_says_offline(tmp_path: Path, fresh_mosquitto: BrokerHandle) -> None:
    broker = fresh_mosquitto
    collector = dashboard(broker, [TOPIC, "cw/v1/hall1/edge-a/status"])
    path = tmp_path / "o.sqlite"
    # A node process that enqueues while the broker is down, then is SIGKILLed before it could send.
    broker.stop()
    script = textwrap.dedent(f"""
        import os, signal, sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from pathlib import Path
        from edge.outbox import Outbox
        from edge.publish import Publisher
        from edge.settings import MqttSettings
        box = Outbox(Path({str(path)!r}))
        s = MqttSettings(host={broker.host!r}, port={broker.port}, username='edge-a',
                         password={broker.passwords['edge-a']!r}, keepalive=5)
        Publisher(s, site='hall1', device='edge-a', outbox=box).start()
        for i in range(50):
            box.put({TOPIC!r}, str(i).encode(), kind='event')
        time.sleep(1)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], timeout=60)
    assert proc.returncode == -9
    broker.start()
    outbox = Outbox(path)
    assert outbox.depth() == 50
    # The restarted node connects, publishes online, drains; then dies uncleanly: the Last Will fires.
    pub = Publisher(settings(broker), site="hall1", device="edge-a", outbox=outbox).start()
    assert wait(lambda: outbox.unsent() == 0, 60)
    assert wait(lambda: len([1 for t, _ in collector.messages if t == TOPIC]) >= 50, 30)
    pub.stop(graceful=False)  # drops the socket without DISCONNECT, like a crash
    pub.client._sock_close()  # type: ignore[attr-defined]
    assert wait(lambda: any(t.endswith("/status") and decode(t, p)[1].status is NodeStatus.OFFLINE  # type: ignore[union-attr]
                            for t, p in collector.messages), 30)
    statuses = [decode(t, p)[1] for t, p in collector.messages if t.endswith("/status")]
    assert isinstance(statuses[0], StatusMessage) and statuses[0].status is NodeStatus.ONLINE
    assert sorted({int(p) for t, p in collector.messages if t == TOPIC}) == list(range(50))


@pytest.mark.integration
def test_rows_wait_for_receipts_and_the_unreceipted_are_sent_again(tmp_path: Path,
                                                                    fresh_mosquitto: BrokerHandle) -> None:
    """The broker PUBACKs everything; the dashboard receipts only the even messages of a first batch (as if
    the broker had lost the odd ones before delivering them), then a later message: the odd ones it
    overtook come again, only they, and their receipt ends it."""
    broker = fresh_mosquitto
    collector = dashboard(broker, [TOPIC])
    outbox = Outbox(tmp_path / "o.sqlite", receipts=ReceiptPolicy(overtaken_s=1.0))
    pub = Publisher(settings(broker), site="hall1", device="edge-a", outbox=outbox).start()
    try:
        assert pub.connected.wait(10)
        for i in range(20):
            outbox.put(TOPIC, f"{i}".encode(), kind="event")
        assert wait(lambda: outbox.unsent() == 0 and len(collector.messages) >= 20, 30)

        def receipt(numbers: range) -> None:
            for topic, payload in receipts_for((TOPIC, str(i).encode()) for i in numbers):
                collector.client.publish(topic, payload, qos=1).wait_for_publish(5)

        receipt(range(0, 20, 2))
        assert wait(lambda: outbox.depth() == 10, 10), outbox.depth()
        time.sleep(1.5)
        assert len(collector.messages) == 20  # nothing overtook them yet: no copies
        outbox.put(TOPIC, b"20", kind="event")
        assert wait(lambda: len(collector.messages) >= 21, 10)
        receipt(range(20, 21))
        assert wait(lambda: sum(1 for _, p in collector.messages if int(p) % 2) >= 20, 30)  # odd ones again
        assert sorted(int(p) for _, p in collector.messages[21:]) == list(range(1, 20, 2))  # only those
        assert pub.resent == 10 and outbox.counter("receipt_resends") == 10
        assert outbox.counter("presumed_lost") == 10
        receipt(range(1, 20, 2))
        assert wait(lambda: outbox.depth() == 0, 10), outbox.depth()
        assert pub.receipted == 21
    finally:
        pub.stop()


@pytest.mark.integration
def test_uploader_retries_until_receiver_is_up(tmp_path: Path) -> None:
    import hashlib

    outbox = Outbox(tmp_path / "o.sqlite")
    clip = tmp_path / "evid-1.jpg"
    clip.write_bytes(b"\xff\xd8" + b"x" * 5000)
    outbox.put_clip("evid-1", clip, hashlib.sha256(clip.read_bytes()).hexdigest(), "image/jpeg")
    bad = tmp_path / "evid-2.jpg"
    bad.write_bytes(b"\xff\xd8 something else")
    outbox.put_clip("evid-2", bad, "0" * 64, "image/jpeg")  # wrong hash: a final 422, dropped
    with EvidenceServer("tok") as server:
        # First a wrong token (401: not final, retried), then the right one.
        up = Uploader(DashboardSettings(url=server.url, token="wrong"), device="edge-a", outbox=outbox)
        up.start()
        assert wait(lambda: any(s == 401 for _, s in server.requests), 10)
        up.stop_event.set()
        up.join(5)
        assert outbox.clip_stats()[0] == 2
        with outbox._lock:
            outbox._db.execute("UPDATE clips SET next_attempt_at = 0")
        up = Uploader(DashboardSettings(url=server.url, token="tok"), device="edge-a", outbox=outbox)
        up.start()
        assert wait(lambda: outbox.clip_stats()[0] == 0, 30)
        up.stop_event.set()
    assert "evid-1" in server.stored and "evid-2" not in server.stored
    assert (up.uploaded, up.refused) == (1, 1)
    assert not clip.exists()
