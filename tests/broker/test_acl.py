"""ACL: the rendered Mosquitto file, the embedded broker's reading of the same rules, and a differential
check that both engines decide every (identity, topic) pair alike."""

from __future__ import annotations

import threading
import time

import pytest

from broker.credentials import Identity, Registry, Role, acl_rules
from broker.embedded import filter_within, may_publish, may_read, may_subscribe, topic_matches
from tests.broker.conftest import Engine, close

DEVICE = Identity(username="edge-a", role=Role.DEVICE, site="hall1", password_hash="x")
DASHBOARD = Identity(username="dashboard", role=Role.DASHBOARD, password_hash="x")
ADMIN = Identity(username="ops", role=Role.ADMIN, password_hash="x")

TOPICS = [
    "cw/v1/hall1/edge-a/status",
    "cw/v1/hall1/edge-a/heartbeat",
    "cw/v1/hall1/edge-a/cam1/health",
    "cw/v1/hall1/edge-a/cam1/w01/event",
    "cw/v1/hall1/edge-a/cmd/model",
    "cw/v1/hall1/edge-a/cmd/receipt",
    "cw/v1/hall1/edge-b/status",
    "cw/v1/hall1/edge-b/cam1/w01/event",
    "cw/v1/hall1/edge-b/cmd/model",
    "cw/v1/hall1/edge-b/cmd/receipt",
    "cw/v1/hall2/edge-a/status",
    "cw/v1/hall2/edge-a/cmd/model",
    "cw/v2/hall1/edge-a/status",
    "elsewhere",
]


def test_rendered_acl_file() -> None:
    registry = Registry()
    registry.add("edge-a", Role.DEVICE, site="hall1")
    registry.add("dashboard", Role.DASHBOARD)
    registry.add("ops", Role.ADMIN)
    text = registry.acl_file()
    assert text.startswith("# Rendered by counterwatch")
    blocks = [b.splitlines() for b in text.strip().split("\n\n")[1:]]
    assert blocks == [
        ["user dashboard", "topic read cw/v1/#", "topic write cw/v1/+/+/cmd/+"],
        ["user edge-a", "topic write cw/v1/hall1/edge-a/status", "topic write cw/v1/hall1/edge-a/heartbeat",
         "topic write cw/v1/hall1/edge-a/+/health", "topic write cw/v1/hall1/edge-a/+/+/event",
         "topic write cw/v1/hall1/edge-a/+/+/state", "topic read cw/v1/hall1/edge-a/cmd/+"],  # no cmd/ writes
        ["user ops", "topic readwrite #"],
    ]


def test_password_file_has_one_line_per_user_sorted() -> None:
    registry = Registry()
    registry.add("b", Role.ADMIN)
    registry.add("a", Role.ADMIN)
    lines = registry.password_file().splitlines()
    assert [line.split(":")[0] for line in lines] == ["a", "b"]
    assert all(line.split(":", 1)[1].startswith("$7$") for line in lines)


@pytest.mark.parametrize(("pattern", "topic", "expected"), [
    ("#", "a/b", True), ("a/#", "a", True), ("a/#", "a/b/c", True), ("a/+", "a/b", True),
    ("a/+", "a/b/c", False), ("a/+/c", "a/b/c", True), ("a/b", "a/b/c", False), ("a/b/c", "a/b", False),
    ("+/+", "a", False),
])
def test_topic_matches(pattern: str, topic: str, expected: bool) -> None:
    assert topic_matches(pattern, topic) is expected


@pytest.mark.parametrize(("inner", "outer", "expected"), [
    ("a/b", "a/#", True), ("a/#", "a/#", True), ("a/+/c", "a/#", True), ("#", "a/#", False),
    ("a/+", "a/b", False), ("a/b", "a/+", True), ("a/+", "a/+", True), ("a/#", "a/+", False),
    ("a/b/c", "a/+", False), ("a", "a/b", False), ("x/#", "#", True),
])
def test_filter_within(inner: str, outer: str, expected: bool) -> None:
    assert filter_within(inner, outer) is expected


def test_device_rules() -> None:
    assert may_publish(DEVICE, "cw/v1/hall1/edge-a/cam1/w01/event")
    assert not may_publish(DEVICE, "cw/v1/hall1/edge-b/cam1/w01/event")
    assert not may_publish(DEVICE, "cw/v1/hall2/edge-a/status")
    assert may_read(DEVICE, "cw/v1/hall1/edge-a/cmd/model")
    assert not may_read(DEVICE, "cw/v1/hall1/edge-a/status")
    assert may_subscribe(DEVICE, "cw/v1/hall1/edge-a/cmd/model")
    assert may_read(DEVICE, "cw/v1/hall1/edge-a/cmd/receipt") and not may_read(DEVICE, "cw/v1/hall1/edge-b/cmd/receipt")
    assert may_subscribe(DEVICE, "cw/v1/hall1/edge-a/cmd/+")
    for wide in ("#", "cw/v1/#", "cw/v1/hall1/+/cmd/model", "cw/v1/hall1/+/cmd/+", "cw/v1/hall1/edge-a/#"):
        assert not may_subscribe(DEVICE, wide), wide


def test_dashboard_and_admin_rules() -> None:
    assert may_subscribe(DASHBOARD, "cw/v1/+/+/+/+/event") and may_subscribe(DASHBOARD, "cw/v1/#")
    assert not may_subscribe(DASHBOARD, "#")
    assert may_publish(DASHBOARD, "cw/v1/hall1/edge-a/cmd/model")
    assert may_publish(DASHBOARD, "cw/v1/hall1/edge-a/cmd/receipt")
    assert not may_publish(DASHBOARD, "cw/v1/hall1/edge-a/status")
    assert may_subscribe(ADMIN, "#") and may_publish(ADMIN, "anything/at/all")


@pytest.mark.integration
@pytest.mark.parametrize("engine", ["mosquitto"], indirect=True)
def test_embedded_rules_decide_like_mosquitto(engine: Engine) -> None:
    """Differential: what a real Mosquitto lets each identity publish and read equals may_publish/may_read."""
    registry = engine.registry()
    users = ["edge-a", "edge-b", "dashboard"]
    seen: dict[str, set[str]] = {u: set() for u in [*users, "ops"]}
    lock = threading.Lock()
    clients = {}
    for user in [*users, "ops"]:
        c = engine.connected(user)

        def on_message(_c, _u, msg, user: str = user):
            with lock:
                seen[user].add(f"{msg.payload.decode()}>{msg.topic}")

        c.on_message = on_message
        subscribed = threading.Event()
        c.on_subscribe = lambda *_a, ev=subscribed: ev.set()
        c.subscribe("#", qos=1)  # Mosquitto grants it; read access is applied per delivered message
        assert subscribed.wait(5)
        clients[user] = c

    # Publishing: each identity sends to every topic; admin (reads all) sees what Mosquitto let through.
    for user in users:
        for topic in TOPICS:
            clients[user].publish(topic, user.encode(), qos=1).wait_for_publish(5)
    # Reading: admin publishes to every topic; each identity sees what it may read.
    for topic in TOPICS:
        clients["ops"].publish(topic, b"ops", qos=1).wait_for_publish(5)
    clients["ops"].publish("control", b"ops", qos=1).wait_for_publish(5)
    deadline = time.monotonic() + 10
    while "ops>control" not in seen["ops"] and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)

    for user in users:
        ident = registry.identities[user]
        published = {t for t in TOPICS if f"{user}>{t}" in seen["ops"]}
        assert published == {t for t in TOPICS if may_publish(ident, t)}, user
        read = {t for t in TOPICS if f"ops>{t}" in seen[user]}
        assert read == {t for t in TOPICS if may_read(ident, t)}, user
        assert acl_rules(ident)  # every identity has rules
    close(*clients.values())
