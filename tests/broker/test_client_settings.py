"""One MQTT client settings model (broker/client_settings.py) for the edge, the dashboard and the rigs: the
same password, TLS and keepalive convention, the older spellings still read, and the TLS it configures
accepted by a real Mosquitto with certificates from ``broker make-certs``."""

from __future__ import annotations

from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import SecretStr, ValidationError

from broker.client_settings import MqttClientSettings, MqttTls
from broker.credentials import Role
from broker.mosquitto import TlsFiles, free_port
from broker.tls import CertificateSet, make_certificates
from common.config import ConfigError, load_settings
from dashboard.settings import DashboardSettings
from dashboard.settings import MqttSettings as DashboardMqtt
from edge.settings import EdgeSettings
from edge.settings import MqttSettings as EdgeMqtt
from tests.scaleout.brokers import running, start_broker, try_connect

EDGE = "site: hall1\ndevice: edge-a\n"


def test_edge_and_dashboard_share_one_model() -> None:
    for model in (EdgeMqtt, DashboardMqtt):
        assert issubclass(model, MqttClientSettings)
        for name in ("password", "tls", "keepalive_s"):
            assert repr(model.model_fields[name]) == repr(MqttClientSettings.model_fields[name]), (model, name)
    assert DashboardMqtt().username == "dashboard" and EdgeMqtt().username is None


def test_password_is_secret_everywhere() -> None:
    for model in (EdgeMqtt, DashboardMqtt):
        s = model(password="hunter2")  # type: ignore[arg-type]
        assert isinstance(s.password, SecretStr) and s.password_text() == "hunter2"
        assert "hunter2" not in repr(s) and "hunter2" not in str(s.model_dump())


def test_older_spellings_still_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    edge_yaml = tmp_path / "edge.yaml"
    edge_yaml.write_text(EDGE + "mqtt: {keepalive: 11, tls: {ca: /pki/ca.crt}}\n")
    edge = load_settings(EdgeSettings, edge_yaml)
    assert edge.mqtt.keepalive_s == 11 and edge.mqtt.tls == MqttTls(ca=Path("/pki/ca.crt"))

    dash_yaml = tmp_path / "dashboard.yaml"
    dash_yaml.write_text("mqtt: {tls: true, tls_cafile: /pki/ca.crt, keepalive_s: 12}\n")
    dash = load_settings(DashboardSettings, dash_yaml)
    assert dash.mqtt.tls == MqttTls(ca=Path("/pki/ca.crt")) and dash.mqtt.keepalive_s == 12
    # ``tls: false`` with a CA file was plain MQTT before; it still is.
    dash_yaml.write_text("mqtt: {tls: false, tls_cafile: /pki/ca.crt}\n")
    assert load_settings(DashboardSettings, dash_yaml).mqtt.tls is None

    # The variables docs/tls.md gives for the dashboard, and the edge's nested form.
    monkeypatch.setenv("CW_DASHBOARD_MQTT__TLS", "true")
    monkeypatch.setenv("CW_DASHBOARD_MQTT__TLS_CAFILE", "/etc/cw/ca.crt")
    assert load_settings(DashboardSettings).mqtt.tls == MqttTls(ca=Path("/etc/cw/ca.crt"))
    monkeypatch.setenv("CW_EDGE_MQTT__TLS__CA", "/etc/cw/ca.crt")
    monkeypatch.setenv("CW_EDGE_MQTT__KEEPALIVE", "13")
    edge = load_settings(EdgeSettings, _write(tmp_path / "e.yaml", EDGE))
    assert edge.mqtt.tls == MqttTls(ca=Path("/etc/cw/ca.crt")) and edge.mqtt.keepalive_s == 13


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize(("mqtt_yaml", "needle"), [
    ("{keepalive: 10, keepalive_s: 20}", "give only keepalive_s"),
    ("{keepalive_s: 2}", "mqtt.keepalive_s"),
    ("{tls: {ca: /ca.crt, cert: /c.crt}}", "tls.cert and tls.key go together"),
])
def test_contradictions_are_refused(tmp_path: Path, mqtt_yaml: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        load_settings(EdgeSettings, _write(tmp_path / "e.yaml", f"{EDGE}mqtt: {mqtt_yaml}\n"))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> CertificateSet:
    return make_certificates(tmp_path_factory.mktemp("pki"), ["127.0.0.1", "localhost"], ["edge-a"])


def _client(settings: MqttClientSettings, default_username: str | None = None) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"cs-{free_port()}", protocol=mqtt.MQTTv311)
    settings.configure(client, default_username)
    return client


@pytest.mark.integration
def test_configured_clients_pass_mutual_tls(tmp_path: Path, pki: CertificateSet) -> None:
    tls = TlsFiles(pki.ca_cert, pki.server_cert, pki.server_key, require_certificate=True)
    proc, passwords = start_broker(tmp_path / "broker", {"edge-a": (Role.DEVICE, "hall1")}, tls=tls,
                                   tls_port=free_port(), plain_listener=False)
    with running(proc):
        port = proc.cfg.ready_port
        edge = EdgeMqtt(password=passwords["edge-a"],  # type: ignore[arg-type]
                        tls=MqttTls(ca=pki.ca_cert, cert=pki.device_cert("edge-a"), key=pki.device_key("edge-a")))
        good = _client(edge, default_username="edge-a")  # the username defaults to the device id
        assert try_connect(good, "127.0.0.1", port)
        good.loop_stop()
        good.disconnect()
        # Control: the CA alone (no client certificate) is refused by this broker, a wrong password too.
        assert not try_connect(_client(edge.model_copy(update={"tls": MqttTls(ca=pki.ca_cert)}), "edge-a"),
                               "127.0.0.1", port, timeout=3)
        assert not try_connect(_client(edge.model_copy(update={"password": SecretStr("wrong")}), "edge-a"),
                               "127.0.0.1", port, timeout=3)


@pytest.mark.integration
def test_dashboard_spelling_connects_over_tls(tmp_path: Path, pki: CertificateSet) -> None:
    tls = TlsFiles(pki.ca_cert, pki.server_cert, pki.server_key, require_certificate=False)
    proc, passwords = start_broker(tmp_path / "broker", {"dashboard": (Role.DASHBOARD, None)}, tls=tls,
                                   tls_port=free_port(), plain_listener=False)
    with running(proc):
        port = proc.cfg.ready_port
        dash = DashboardMqtt.model_validate({"password": passwords["dashboard"], "tls": True,
                                             "tls_cafile": str(pki.ca_cert)})
        good = _client(dash)
        assert try_connect(good, "localhost", port)
        good.loop_stop()
        good.disconnect()
        # ``tls: true`` without a CA file trusts the system store, where the private CA is not.
        assert not try_connect(_client(DashboardMqtt.model_validate({"password": passwords["dashboard"], "tls": True})),
                               "localhost", port, timeout=3)
        with pytest.raises(ValidationError):
            DashboardMqtt.model_validate({"tls": {"ca": str(pki.ca_cert), "cafile": "x"}})


def test_bridge_uses_the_same_tls_and_keepalive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from broker.cli import bridge_lines
    from broker.settings import BrokerSettings

    bridge = "bridge: {site: hall1, addresses: ['central:8883'], username: bridge-hall1, password: p, %s}\n"
    cfg = _write(tmp_path / "broker.yaml", bridge % "tls: {ca: /pki/central-ca.crt, cert: /c.crt, key: /c.key}, "
                                                   "keepalive_s: 45")
    lines = bridge_lines(load_settings(BrokerSettings, cfg))
    assert {"bridge_cafile /pki/central-ca.crt", "bridge_certfile /c.crt", "bridge_keyfile /c.key",
            "keepalive_interval 45"} <= set(lines)
    # The older flat spelling (CW_BROKER_BRIDGE__CAFILE, in deployments before the shared model) renders the same.
    monkeypatch.setenv("CW_BROKER_BRIDGE__CAFILE", "/pki/central-ca.crt")
    lines = bridge_lines(load_settings(BrokerSettings, _write(tmp_path / "b.yaml", bridge % "keepalive_s: 30")))
    assert "bridge_cafile /pki/central-ca.crt" in lines and "keepalive_interval 30" in lines
    monkeypatch.delenv("CW_BROKER_BRIDGE__CAFILE")
    assert not any(line.startswith("bridge_cafile") for line in bridge_lines(
        load_settings(BrokerSettings, _write(tmp_path / "c.yaml", bridge % "keepalive_s: 30"))))
    with pytest.raises(ConfigError, match=r"needs tls\.ca"):
        load_settings(BrokerSettings, _write(tmp_path / "d.yaml", bridge % "tls: {}"))
