"""Authentication and ACL, proven on a real Mosquitto and on the embedded amqtt broker alike.

Mosquitto acknowledges an unauthorised PUBLISH and drops it silently, so "denied" is proven by absence at
a subscriber that may read everything, always next to a positive control that does arrive."""

from __future__ import annotations

import threading
import time

import paho.mqtt.client as mqtt
import pytest

from broker.codec import decode, encode
from broker.payloads import NodeStatus, StatusMessage
from broker.topics import Topic, TopicKind, model_command_topic
from tests.broker.conftest import Engine, Listener, close, drop
from tests.broker.samples import event, rollout, status
from tests.support.mqtt import Collector, connect

pytestmark = pytest.mark.integration


def event_topic(device: str, site: str = "hall1", camera: str = "cam1") -> str:
    return str(Topic(TopicKind.EVENT, site, device, camera, "w01"))


def status_topic(device: str, site: str = "hall1") -> str:
    return str(Topic(TopicKind.STATUS, site, device))


def settle(collector: Collector, control_topic: str, timeout: float = 10.0) -> list[str]:
    """Wait for the positive control, then a little longer for anything that should not come."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and control_topic not in [t for t, _ in collector.messages]:
        time.sleep(0.02)
    time.sleep(0.3)
    return [t for t, _ in collector.wait_for(0, 0)]


def refusal(engine: Engine, username: str, password: str | None, client_id: str | None = None) -> mqtt.ReasonCode:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or f"probe-{time.monotonic_ns()}",
                    protocol=mqtt.MQTTv311)
    if username:
        c.username_pw_set(username, password)
    try:
        return connect(c, engine.handle.host, engine.handle.port)
    finally:
        c.disconnect()  # before loop_stop: no reconnect attempt to wait out
        c.loop_stop()


# -- authentication -----------------------------------------------------------------------------------------
def test_unknown_user_wrong_password_and_anonymous_are_refused(engine: Engine) -> None:
    assert refusal(engine, "intruder", "whatever").is_failure
    assert refusal(engine, "edge-a", "not-the-password").is_failure
    assert refusal(engine, "", None).is_failure
    assert not refusal(engine, "edge-a", engine.handle.passwords["edge-a"]).is_failure  # control


def test_refused_client_cannot_take_over_a_session(engine: Engine) -> None:
    """A stranger presenting the dashboard's client id must neither kick it off nor wipe its session."""
    dash = engine.connected("dashboard", client_id="dashboard-ingest", clean=False)
    inbox = Collector(dash, [event_topic("edge-a")])
    assert refusal(engine, "intruder", "x", client_id="dashboard-ingest").is_failure
    assert refusal(engine, "edge-b", "wrong", client_id="dashboard-ingest").is_failure
    edge = engine.connected("edge-a")
    edge.publish(event_topic("edge-a"), encode(event(1)), qos=1).wait_for_publish(5)
    assert [t for t, _ in inbox.wait_for(1, 10)] == [event_topic("edge-a")]
    assert dash.is_connected()
    close(edge, dash)


# -- publish ACL --------------------------------------------------------------------------------------------
def test_device_cannot_publish_for_another_device_or_site(engine: Engine) -> None:
    dash = engine.connected("dashboard")
    inbox = Collector(dash, ["cw/v1/#"])
    edge = engine.connected("edge-a")
    forged = [
        (event_topic("edge-b"), encode(event(1, device="edge-b"))),
        (event_topic("edge-b", camera="cam9"), encode(event(2, device="edge-b", camera="cam9"))),
        (status_topic("edge-b"), encode(status(NodeStatus.OFFLINE, device="edge-b"))),
        (event_topic("edge-a", site="hall2"), encode(event(3, site="hall2"))),
        ("elsewhere/topic", b"{}"),
    ]
    for topic, payload in forged:
        edge.publish(topic, payload, qos=1).wait_for_publish(5)
    control = event_topic("edge-a")
    edge.publish(control, encode(event(4)), qos=1).wait_for_publish(5)
    assert settle(inbox, control) == [control]
    close(edge, dash)


def test_dashboard_cannot_publish_device_messages(engine: Engine) -> None:
    ops = engine.connected("ops")
    inbox = Collector(ops, ["#"])
    dash = engine.connected("dashboard")
    dash.publish(event_topic("edge-a"), encode(event(1)), qos=1).wait_for_publish(5)
    dash.publish(status_topic("edge-a"), encode(status()), qos=1, retain=True).wait_for_publish(5)
    control = model_command_topic("hall1", "edge-a")
    dash.publish(control, encode(rollout()), qos=1, retain=True).wait_for_publish(5)
    assert settle(inbox, control) == [control]
    close(dash, ops)


# -- read ACL -----------------------------------------------------------------------------------------------
def test_device_reads_only_its_own_model_command(engine: Engine) -> None:
    edge_b = engine.connected("edge-b")
    edge_b.publish(status_topic("edge-b"), encode(status(device="edge-b")), qos=1, retain=True).wait_for_publish(5)
    dash = engine.connected("dashboard")
    dash.publish(model_command_topic("hall1", "edge-b"), encode(rollout(device="edge-b")), qos=1,
                 retain=True).wait_for_publish(5)

    edge_a = engine.connected("edge-a")
    granted: list[list[int]] = []
    done = threading.Event()

    def on_subscribe(_c, _u, _mid, codes, _p):
        granted.append([c.value for c in codes])
        done.set()

    inbox = Listener(edge_a)
    edge_a.on_subscribe = on_subscribe
    own = model_command_topic("hall1", "edge-a")
    edge_a.subscribe([("#", 1), ("cw/v1/#", 1), ("cw/v1/hall1/edge-b/#", 1), ("cw/v1/+/+/status", 1), (own, 1)])
    assert done.wait(5)
    assert granted[0][-1] == 1, "a device must be able to subscribe to its own model command"

    edge_b.publish(event_topic("edge-b"), encode(event(1, device="edge-b")), qos=1).wait_for_publish(5)
    dash.publish(model_command_topic("hall1", "edge-b"), encode(rollout(device="edge-b")), qos=1).wait_for_publish(5)
    dash.publish(own, encode(rollout()), qos=1).wait_for_publish(5)
    received = settle(inbox, own)
    # Mosquitto grants the wide filters and filters at delivery; the embedded broker refuses them (0x80).
    assert set(received) == {own}, received
    close(edge_a, edge_b, dash)


# -- Last Will ----------------------------------------------------------------------------------------------
def test_retained_last_will_on_unclean_drop(engine: Engine) -> None:
    topic = status_topic("edge-a")
    edge = engine.client("edge-a")
    edge.will_set(topic, encode(status(NodeStatus.OFFLINE)), qos=1, retain=True)
    assert not connect(edge, engine.handle.host, engine.handle.port).is_failure
    edge.publish(topic, encode(status(NodeStatus.ONLINE)), qos=1, retain=True).wait_for_publish(5)

    dash = engine.connected("dashboard")
    live = Collector(dash, [topic])
    assert [decode(t, p)[1].status for t, p in live.wait_for(1, 5)] == [NodeStatus.ONLINE]  # type: ignore[union-attr]
    drop(edge)
    messages = live.wait_for(2, 10)
    assert len(messages) == 2, "no Last Will after the connection dropped"
    _, will = decode(*messages[1])
    assert isinstance(will, StatusMessage) and will.status is NodeStatus.OFFLINE

    # Retained: whoever subscribes later learns the node is offline.
    late = engine.connected("dashboard")
    retained = Collector(late, [topic]).wait_for(1, 5)
    assert [decode(t, p)[1].status for t, p in retained] == [NodeStatus.OFFLINE]  # type: ignore[union-attr]
    close(dash, late)


def test_last_will_cannot_speak_for_another_device(engine: Engine) -> None:
    dash = engine.connected("dashboard")
    inbox = Collector(dash, ["cw/v1/#"])
    rogue = engine.client("edge-a")
    rogue.will_set(status_topic("edge-b"), encode(status(NodeStatus.OFFLINE, device="edge-b")), qos=1, retain=True)
    connect(rogue, engine.handle.host, engine.handle.port)  # Mosquitto accepts the CONNECT, drops the will
    drop(rogue)
    control_client = engine.connected("edge-a")
    control = status_topic("edge-a")
    control_client.publish(control, encode(status()), qos=1).wait_for_publish(5)
    assert settle(inbox, control) == [control]
    close(control_client, dash)


# -- rotation -----------------------------------------------------------------------------------------------
def test_rotation_without_downtime(engine: Engine) -> None:
    """rotate: a new login + password work at once, the live connection made with the old ones is not
    dropped by the reload and keeps publishing; the device switches at its next connect; finish: the old
    login is refused, and nobody connected is dropped. Same on Mosquitto (one hash per login) and amqtt."""
    dash = engine.connected("dashboard")
    inbox = Collector(dash, ["cw/v1/+/+/+/+/event"])
    old_password = engine.handle.passwords["edge-a"]
    existing = engine.connected("edge-a")
    dropped = threading.Event()
    existing.on_disconnect = lambda *_a: dropped.set()
    bystander = engine.connected("edge-b")

    login, new_password = engine.rotate("edge-a")  # registry saved, files rendered, SIGHUP for Mosquitto
    deadline = time.monotonic() + 10
    while refusal(engine, login, new_password).is_failure:
        assert time.monotonic() < deadline, "the new login is never accepted"
        time.sleep(0.1)
    assert refusal(engine, login, old_password).is_failure  # the new login only with the new password
    time.sleep(1.0)  # Mosquitto re-checks live connections on reload: give it the chance to drop one
    existing.publish(event_topic("edge-a"), encode(event(1)), qos=1).wait_for_publish(5)
    assert existing.is_connected() and not dropped.is_set(), "the rotation dropped the live connection"
    assert not refusal(engine, "edge-a", old_password).is_failure, "the old login must work until finish"

    # The device switches at its next connect, with the same rights under the new login.
    existing.disconnect()
    existing.loop_stop()
    fresh = engine.connected("edge-a", password=new_password, login=login)
    fresh.publish(event_topic("edge-a"), encode(event(2)), qos=1).wait_for_publish(5)
    bystander.publish(event_topic("edge-b"), encode(event(3, device="edge-b")), qos=1).wait_for_publish(5)
    assert sorted(t for t, _ in inbox.wait_for(3, 10)) == sorted([event_topic("edge-a")] * 2 + [event_topic("edge-b")])

    registry = engine.registry()
    registry.finish_rotation("edge-a")
    engine.save(registry)
    deadline = time.monotonic() + 10
    while not refusal(engine, "edge-a", old_password).is_failure:
        assert time.monotonic() < deadline, "old login still accepted after finish_rotation"
        time.sleep(0.1)
    time.sleep(1.0)
    assert fresh.is_connected() and dash.is_connected() and bystander.is_connected()
    close(fresh, bystander, dash)


# -- client ids ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("clean", [True, False], ids=["clean", "persistent"])
def test_reused_client_id_disconnects_the_older_connection(engine: Engine, clean: bool) -> None:
    dash = engine.connected("dashboard")
    inbox = Collector(dash, ["cw/v1/+/+/+/+/event"])
    first = engine.connected("edge-a", client_id="edge-a-main", clean=clean)
    gone = threading.Event()
    first.on_disconnect = lambda *_a: gone.set()
    first.reconnect_delay_set(30, 60)  # keep the loser from fighting back during the test
    second = engine.connected("edge-a", client_id="edge-a-main", clean=clean)
    assert gone.wait(5), "the older connection is still up"
    second.publish(event_topic("edge-a"), encode(event(1)), qos=1).wait_for_publish(5)
    assert [t for t, _ in inbox.wait_for(1, 10)] == [event_topic("edge-a")]
    first.disconnect()
    first.loop_stop()
    close(second, dash)
