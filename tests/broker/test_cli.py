"""``counterwatch broker ...`` as an operator runs it: real subprocesses, real brokers, real signals."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from broker.codec import encode
from broker.mosquitto import free_port, wait_for_port
from tests.broker.conftest import close
from tests.broker.samples import event
from tests.support.mqtt import BrokerHandle, Collector, connect

ROOT = Path(__file__).resolve().parents[2]
EVENT_TOPIC = "cw/v1/hall1/edge-a/cam1/w01/event"


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "counterwatch.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={**os.environ, **(env or {})}, check=False)


def add_identity(data_dir: Path, username: str, *extra: str) -> str:
    result = cli("broker", "add-identity", username, "--data-dir", str(data_dir), *extra)
    assert result.returncode == 0, result.stderr
    return str(json.loads(result.stdout)["password"])


def port_closed(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.integration
@pytest.mark.parametrize("engine", ["mosquitto", "embedded"])
def test_serve_accepts_identities_and_stops_on_sigterm(tmp_path: Path, engine: str) -> None:
    data_dir, port = tmp_path / "broker", free_port()
    passwords = {
        "edge-a": add_identity(data_dir, "edge-a", "--site", "hall1"),
        "dashboard": add_identity(data_dir, "dashboard", "--role", "dashboard"),
    }
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "counterwatch.cli", "broker", "serve", "--data-dir", str(data_dir),
         "--port", str(port)],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "CW_BROKER_ENGINE": engine},
    )
    try:
        wait_for_port("127.0.0.1", port, timeout=20)
        handle = BrokerHandle(host="127.0.0.1", port=port, passwords=passwords)
        dash = handle.client("dashboard")
        assert not connect(dash, handle.host, port).is_failure
        inbox = Collector(dash, ["cw/v1/+/+/+/+/event"])
        edge = handle.client("edge-a")
        assert not connect(edge, handle.host, port).is_failure
        edge.publish(EVENT_TOPIC, encode(event(1)), qos=1).wait_for_publish(5)
        assert [t for t, _ in inbox.wait_for(1, 10)] == [EVENT_TOPIC]

        # An identity added while serving is let in without a restart.
        handle.passwords["edge-b"] = add_identity(data_dir, "edge-b", "--site", "hall1")
        deadline = time.monotonic() + 10
        while True:
            probe = handle.client("edge-b")
            rc = connect(probe, handle.host, port)
            probe.disconnect()  # before loop_stop: no reconnect attempt to wait out
            probe.loop_stop()
            if not rc.is_failure:
                break
            assert time.monotonic() < deadline, "identity added while serving is never accepted"
            time.sleep(0.2)
        assert dash.is_connected(), "a reload dropped the dashboard"
        close(edge, dash)

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert port_closed(port), "the broker outlived `counterwatch broker serve`"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    output = (tmp_path / "serve.log").read_text()
    assert f"engine={engine}" in output and "Traceback" not in output, output


@pytest.mark.parametrize(("env", "yaml_text", "field"), [
    ({"CW_BROKER_PORT": "notanumber"}, None, "port"),
    ({"CW_BROKER_PORT": "70000"}, None, "port"),
    ({"CW_BROKER_ENGINE": "nginx"}, None, "engine"),
    ({}, "engine: nginx\n", "engine"),
    ({}, "max_queued_messages: 10\n", "max_queued_messages"),
    ({}, "prot: 1883\n", "prot"),  # a misspelt key is an error, not silently ignored
    ({}, "- not\n- a mapping\n", "mapping"),
])
def test_invalid_config_exits_nonzero_naming_the_field(
    tmp_path: Path, env: dict[str, str], yaml_text: str | None, field: str
) -> None:
    args = ["broker"]
    if yaml_text is not None:
        config = tmp_path / "broker.yaml"
        config.write_text(yaml_text)
        args += ["--config", str(config)]
    env = {**env, "CW_CONFIG": ""} if yaml_text is None else env
    result = cli(*args, "serve", "--data-dir", str(tmp_path / "data"), "--port", str(free_port()), env=env)
    assert result.returncode != 0
    assert "configuration error" in result.stderr and field in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data").exists(), "nothing may be written on a bad configuration"


def test_add_identity_refuses_bad_input_and_changes_nothing(tmp_path: Path) -> None:
    result = cli("broker", "add-identity", "edge-a", "--data-dir", str(tmp_path))
    assert result.returncode == 2 and "site" in result.stderr
    result = cli("broker", "add-identity", "edge/a", "--site", "hall1", "--data-dir", str(tmp_path))
    assert result.returncode == 2 and "username" in result.stderr
    assert not (tmp_path / "identities.yaml").exists()
