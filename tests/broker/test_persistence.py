"""What a broker restart must keep, on both engines: retained messages (node status, window state) and a
persistent session's subscription, so messages published while the dashboard is away wait for it."""

from __future__ import annotations

import pytest

from broker.codec import decode, encode
from broker.payloads import NodeStatus, StatusMessage
from broker.topics import Topic, TopicKind
from tests.broker.conftest import Engine, Listener, close
from tests.broker.samples import event, status
from tests.support.mqtt import Collector, connect

pytestmark = pytest.mark.integration

STATUS = str(Topic(TopicKind.STATUS, "hall1", "edge-a"))
EVENT = str(Topic(TopicKind.EVENT, "hall1", "edge-a", "cam1", "w01"))


def test_restart_keeps_retained_messages_and_persistent_subscriptions(engine: Engine) -> None:
    edge = engine.connected("edge-a")
    edge.publish(STATUS, encode(status(NodeStatus.ONLINE)), qos=1, retain=True).wait_for_publish(5)
    dash = engine.connected("dashboard", client_id="dashboard-ingest", clean=False)
    Collector(dash, ["cw/v1/+/+/+/+/event"])
    close(edge, dash)

    engine.restart()

    edge = engine.connected("edge-a")
    edge.publish(EVENT, encode(event(1)), qos=1).wait_for_publish(5)  # the dashboard is still away
    dash = engine.client("dashboard", client_id="dashboard-ingest", clean=False)
    inbox = Listener(dash)
    assert not connect(dash, engine.handle.host, engine.handle.port).is_failure
    assert [t for t, _ in inbox.wait_for(1, 10)] == [EVENT], "the persistent subscription was lost"

    late = engine.connected("dashboard")
    retained = Collector(late, [STATUS]).wait_for(1, 5)
    assert len(retained) == 1, "the retained status was lost"
    message = decode(*retained[0])[1]
    assert isinstance(message, StatusMessage) and message.status is NodeStatus.ONLINE
    close(edge, dash, late)


def test_cleared_retained_message_stays_cleared_after_restart(engine: Engine) -> None:
    edge = engine.connected("edge-a")
    edge.publish(STATUS, encode(status()), qos=1, retain=True).wait_for_publish(5)
    edge.publish(STATUS, b"", qos=1, retain=True).wait_for_publish(5)  # MQTT: empty retained = delete
    close(edge)
    engine.restart()
    late = engine.connected("dashboard")
    assert Collector(late, [STATUS]).wait_for(1, 1.5) == []
    close(late)
