"""A hall's Mosquitto bridged to the central one: nothing lost through a WAN outage."""

from __future__ import annotations

import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from broker.bridge import Bridge, BridgeTls, render_bridge
from broker.credentials import Registry, Role, acl_rules
from broker.mosquitto import BrokerConfig, MosquittoProcess, free_port
from counterwatch.cli import main as counterwatch
from tests.scaleout.brokers import event_number, event_payload, new_client, running, start_broker, try_connect
from tests.support.mqtt import Collector

SITE = "hall1"
BATCH = 1_000


def publish_all(client: mqtt.Client, numbers: range) -> None:
    infos = []
    for n in numbers:
        topic, payload = event_payload(SITE, "edge-a", n)
        infos.append(client.publish(topic, payload, qos=1))
    for info in infos:
        info.wait_for_publish(30)
        assert info.is_published()


def received_numbers(collector: Collector) -> list[int]:
    return [event_number(topic, payload) for topic, payload in collector.wait_for(0, timeout=0)]


def wait_for_numbers(collector: Collector, wanted: set[int], timeout: float) -> set[int]:
    deadline = time.monotonic() + timeout
    while True:
        got = set(received_numbers(collector))
        if wanted <= got or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def test_bridge_section_is_persistent_qos1_and_scoped_to_its_site(tmp_path: Path) -> None:
    bridge = Bridge(site=SITE, addresses=["central.example:8883", "central-2.example:8883"],
                    remote_username="bridge-hall1", remote_password="s3cret",
                    tls=BridgeTls(tmp_path / "ca.crt"))
    lines = render_bridge(bridge)
    for expected in (
        "connection hall1-to-central",
        "addresses central.example:8883 central-2.example:8883",
        "cleansession false",
        "bridge_protocol_version mqttv311",
        "try_private true",
        "remote_clientid bridge-hall1",
        "local_clientid local.bridge-hall1",
        "remote_username bridge-hall1",
        "remote_password s3cret",
        "restart_timeout 5 30",
        "topic cw/v1/hall1/# out 1",
        "topic cw/v1/hall1/+/cmd/+ in 1",
        f"bridge_cafile {tmp_path / 'ca.crt'}",
        "bridge_insecure false",
    ):
        assert expected in lines
    with pytest.raises(ValueError, match="host:port"):
        Bridge(site=SITE, addresses=["central"], remote_username="u", remote_password="p")
    with pytest.raises(ValueError, match="both certfile and keyfile"):
        BridgeTls(tmp_path / "ca.crt", certfile=tmp_path / "hall.crt")

    # The bridge identity on the central broker speaks for its own site only.
    registry = Registry()
    registry.add("bridge-hall1", Role.BRIDGE, site=SITE)
    assert acl_rules(registry.identities["bridge-hall1"]) == [
        ("write", "cw/v1/hall1/+/status"), ("write", "cw/v1/hall1/+/heartbeat"), ("write", "cw/v1/hall1/+/+/health"),
        ("write", "cw/v1/hall1/+/+/+/event"), ("write", "cw/v1/hall1/+/+/+/state"),  # never a command
        ("read", "cw/v1/hall1/+/cmd/+")
    ]
    with pytest.raises(ValueError, match="needs its site"):
        registry.add("bridge-x", Role.BRIDGE)


@pytest.mark.integration
@pytest.mark.slow
def test_hall_keeps_working_through_a_wan_outage_and_central_catches_up(tmp_path: Path) -> None:
    central, central_pw = start_broker(tmp_path / "central", {
        "dashboard": (Role.DASHBOARD, None),
        "bridge-hall1": (Role.BRIDGE, SITE),
        "bridge-hall2": (Role.BRIDGE, "hall2"),
    }, port=free_port())
    with running(central):
        # The dashboard's persistent QoS 1 session on the central broker.
        dashboard = new_client("dashboard", central_pw["dashboard"], "counterwatch-dashboard", clean=False)
        dashboard.reconnect_delay_set(min_delay=1, max_delay=1)
        assert try_connect(dashboard, central.cfg.host, central.cfg.port)
        inbox = Collector(dashboard, ["cw/v1/+/+/+/+/event"])

        bridge = Bridge(site=SITE, addresses=[f"{central.cfg.host}:{central.cfg.port}"],
                        remote_username="bridge-hall1", remote_password=central_pw["bridge-hall1"],
                        restart_base_s=1, restart_cap_s=2, keepalive_s=5)
        hall, hall_pw = start_broker(tmp_path / "hall", {"edge-a": (Role.DEVICE, SITE)},
                                     port=free_port(), extra=render_bridge(bridge))
        with running(hall):
            edge = new_client("edge-a", hall_pw["edge-a"])
            assert try_connect(edge, hall.cfg.host, hall.cfg.port)
            model_cmd = Collector(edge, [f"cw/v1/{SITE}/edge-a/cmd/+"])  # model rollouts, delivery receipts

            # Wait for the bridge: a probe event published at the hall shows up centrally.
            probe = -1
            deadline = time.monotonic() + 20
            while probe not in received_numbers(inbox):
                assert time.monotonic() < deadline, "the bridge never connected"
                edge.publish(*event_payload(SITE, "edge-a", probe), qos=1).wait_for_publish(5)
                time.sleep(0.3)

            # 1. Link up: every event published at the hall reaches the central dashboard session.
            first = set(range(BATCH))
            publish_all(edge, range(BATCH))
            assert wait_for_numbers(inbox, first, timeout=30) >= first

            # The other way round: a model rollout issued centrally reaches the hall's device; one for
            # another hall does not (the bridge only subscribes to, and may only read, its own site's).
            watcher = new_client("dashboard", central_pw["dashboard"], "cmd-watcher")
            assert try_connect(watcher, central.cfg.host, central.cfg.port)
            central_cmds = Collector(watcher, ["cw/v1/+/+/cmd/+"])
            dashboard.publish("cw/v1/hall2/edge-z/cmd/model", b"not for hall1", qos=1, retain=True)
            dashboard.publish(f"cw/v1/{SITE}/edge-a/cmd/model", b"rollout v2", qos=1, retain=True)
            dashboard.publish(f"cw/v1/{SITE}/edge-a/cmd/receipt", b"receipt", qos=1)
            cmds = model_cmd.wait_for(2, timeout=10)
            assert sorted((t, p) for t, p in cmds) == [(f"cw/v1/{SITE}/edge-a/cmd/model", b"rollout v2"),
                                                      (f"cw/v1/{SITE}/edge-a/cmd/receipt", b"receipt")]
            # ... and the hall does not echo them back over the bridge (the bridge's `out` pattern covers it).
            time.sleep(1.0)
            assert len(central_cmds.messages) == 3
            assert len(model_cmd.messages) == 2
            watcher.loop_stop()
            watcher.disconnect()

            # 2. WAN outage: the central broker is gone; the hall keeps accepting events.
            central.stop()
            second = set(range(BATCH, 2 * BATCH))
            publish_all(edge, range(BATCH, 2 * BATCH))

            # 3. Link back: the hall's queue drains into the central broker, and from there into the
            # dashboard's persistent session.
            central.start()
            got = wait_for_numbers(inbox, first | second, timeout=40)
            sent = first | second | {probe}
            assert got - sent == set(), "received events nobody sent"
            assert sent - got == set(), f"{len(sent - got)} events lost"
            # QoS 1 is at-least-once: a redelivery is allowed (the dashboard dedupes on event_id),
            # a loss is not. count in == count out on distinct events.
            assert len(got) == 2 * BATCH + 1
            edge.loop_stop()
            edge.disconnect()
        dashboard.loop_stop()
        dashboard.disconnect()


@pytest.mark.integration
def test_render_command_writes_a_bridged_config_that_mosquitto_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`counterwatch broker render` (the hall container's init step) from CW_BROKER_* variables alone."""
    data = tmp_path / "hall"
    registry = Registry()
    password = registry.add("edge-a", Role.DEVICE, site=SITE)
    registry.save(data / "identities.yaml")
    port = free_port()
    for name, value in {
        "CW_BROKER_PORT": str(port),
        "CW_BROKER_BRIDGE__SITE": SITE,
        "CW_BROKER_BRIDGE__ADDRESSES": f'["127.0.0.1:{free_port()}"]',  # nobody there: the bridge retries
        "CW_BROKER_BRIDGE__USERNAME": "bridge-hall1",
        "CW_BROKER_BRIDGE__PASSWORD": "s3cret",
    }.items():
        monkeypatch.setenv(name, value)
    assert counterwatch(["broker", "render", "--data-dir", str(data)]) == 0
    config = Path(capsys.readouterr().out.strip())
    assert config == data / "mosquitto.conf"
    for path in (config, data / "passwd", data / "acl"):
        assert path.stat().st_mode & 0o777 == 0o600  # the bridge password is in the config
    assert "connection hall1-to-central" in config.read_text()

    proc = MosquittoProcess(BrokerConfig(data_dir=data, port=port))  # runs the rendered file as is
    with running(proc.start()):
        edge = new_client("edge-a", password)
        assert try_connect(edge, "127.0.0.1", port)  # passwd and ACL rendered from the registry
        edge.publish(f"cw/v1/{SITE}/edge-a/heartbeat", b"{}", qos=1).wait_for_publish(5)
        edge.loop_stop()
        edge.disconnect()
        assert proc.running

    monkeypatch.setenv("CW_BROKER_BRIDGE__ADDRESSES", '["central-without-port"]')
    with pytest.raises(SystemExit, match="bridge address 'central-without-port' must be host:port"):
        counterwatch(["broker", "render", "--data-dir", str(data)])
