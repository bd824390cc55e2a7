"""The TLS listener with the project's own PKI, on both engines: same authentication behind it."""

from __future__ import annotations

import ssl
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from broker.embedded import amqtt_config
from broker.mosquitto import BrokerConfig, TlsFiles, free_port
from broker.tls import CertificateSet, make_certificates
from tests.broker.conftest import ENGINES, close, start_engine
from tests.support.mqtt import connect

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> CertificateSet:
    return make_certificates(tmp_path_factory.mktemp("pki"), ["localhost", "127.0.0.1"])


def tls_client(username: str, password: str, ca: Path) -> mqtt.Client:
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{username}-tls", protocol=mqtt.MQTTv311)
    c.tls_set(ca_certs=str(ca), tls_version=ssl.PROTOCOL_TLS_CLIENT)
    c.username_pw_set(username, password)
    return c


@pytest.mark.parametrize("plain", [True, False], ids=["with-plain", "tls-only"])
@pytest.mark.parametrize("name", ENGINES)
def test_tls_listener_authenticates_like_plain(tmp_path: Path, pki: CertificateSet, name: str,
                                               plain: bool) -> None:
    tls = TlsFiles(pki.ca_cert, pki.server_cert, pki.server_key)
    engine = start_engine(name, tmp_path / name, tls=tls, tls_port=free_port(), plain_listener=plain)
    try:
        port = engine.cfg.tls_port
        assert port is not None
        good = tls_client("edge-a", engine.handle.passwords["edge-a"], pki.ca_cert)
        assert not connect(good, "127.0.0.1", port).is_failure
        bad = tls_client("edge-a", "wrong", pki.ca_cert)
        assert connect(bad, "127.0.0.1", port).is_failure
        bad.disconnect()
        bad.loop_stop()
        close(good)
        if plain:
            close(engine.connected("edge-a"))
    finally:
        engine.server.stop()


def test_embedded_refuses_to_run_weaker_than_configured(tmp_path: Path, pki: CertificateSet) -> None:
    tls = TlsFiles(pki.ca_cert, pki.server_cert, pki.server_key, require_certificate=True)
    with pytest.raises(ValueError, match="client certificates"):
        amqtt_config(BrokerConfig(data_dir=tmp_path, tls=tls, tls_port=free_port()))
