"""TLS on the real Mosquitto with certificates from ``counterwatch broker make-certs``."""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import pytest

from broker.credentials import Role
from broker.mosquitto import MosquittoProcess, TlsFiles, free_port
from broker.tls import CertificateError, CertificateSet, make_certificates, verify
from counterwatch.cli import main as counterwatch
from tests.scaleout.brokers import new_client, running, start_broker, try_connect
from tests.support.mqtt import Collector

SITE = "hall1"
IDENTITIES: dict[str, tuple[Role, str | None]] = {
    "dashboard": (Role.DASHBOARD, None),
    "edge-a": (Role.DEVICE, SITE),
}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> CertificateSet:
    return make_certificates(tmp_path_factory.mktemp("pki"), ["127.0.0.1", "localhost"], ["edge-a"])


@pytest.fixture(scope="module")
def rogue_pki(tmp_path_factory: pytest.TempPathFactory) -> CertificateSet:
    """Another deployment's CA: same names, different trust root."""
    return make_certificates(tmp_path_factory.mktemp("rogue"), ["127.0.0.1", "localhost"], ["edge-a"])


def tls_broker(data_dir: Path, pki: CertificateSet, *, mutual: bool) -> tuple[MosquittoProcess, dict[str, str]]:
    tls = TlsFiles(pki.ca_cert, pki.server_cert, pki.server_key, require_certificate=mutual)
    # TLS only: no plain listener a client could fall back to.
    return start_broker(data_dir, IDENTITIES, tls=tls, tls_port=free_port(), plain_listener=False)


def test_make_certs_cli_writes_private_keys_and_reuses_the_ca(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                             ) -> None:
    out = tmp_path / "pki"
    args = ["broker", "make-certs", "--out", str(out), "--host", "127.0.0.1", "--host", "localhost"]
    assert counterwatch([*args, "--device", "edge-a", "--device", "edge-b"]) == 0
    certs = CertificateSet(out)
    for key in (certs.ca_key, certs.server_key, certs.device_key("edge-a"), certs.device_key("edge-b")):
        assert key.stat().st_mode & 0o777 == 0o600, key
    for cert in (certs.server_cert, certs.device_cert("edge-a"), certs.device_cert("edge-b")):
        verify(certs, cert)
    ca_before = certs.ca_cert.read_bytes()
    server_before = certs.server_cert.read_bytes()
    capsys.readouterr()

    # A device added later: the CA and everything already issued stay as they are.
    assert counterwatch([*args, "--device", "edge-c"]) == 0
    issued = json.loads(capsys.readouterr().out)["issued"]
    assert issued == [str(certs.device_cert("edge-c")), str(certs.device_key("edge-c"))]
    assert certs.ca_cert.read_bytes() == ca_before
    assert certs.server_cert.read_bytes() == server_before
    verify(certs, certs.device_cert("edge-c"))

    # A certificate from another CA does not verify.
    other = make_certificates(tmp_path / "other", ["localhost"], ["edge-a"])
    with pytest.raises(CertificateError):
        verify(certs, other.device_cert("edge-a"))

    # A device name that cannot be a username is refused before anything is written.
    assert counterwatch([*args, "--device", "../evil"]) == 2
    assert not (out / "devices" / "..").joinpath("evil.crt").exists()


@pytest.mark.integration
def test_client_trusting_the_ca_publishes_and_receives_over_tls(tmp_path: Path, pki: CertificateSet) -> None:
    proc, passwords = tls_broker(tmp_path / "broker", pki, mutual=False)
    with running(proc):
        port = proc.cfg.ready_port
        sub = new_client("dashboard", passwords["dashboard"])
        sub.tls_set(ca_certs=str(pki.ca_cert))
        # By name: the server certificate's DNS SAN is checked.
        assert try_connect(sub, "localhost", port)
        collector = Collector(sub, ["cw/v1/#"])

        pub = new_client("edge-a", passwords["edge-a"])
        pub.tls_set(ca_certs=str(pki.ca_cert))
        # By address: the IP SAN is checked.
        assert try_connect(pub, "127.0.0.1", port)
        topic = f"cw/v1/{SITE}/edge-a/heartbeat"
        for i in range(20):
            pub.publish(topic, f"tls {i}".encode(), qos=1).wait_for_publish(5)
        got = collector.wait_for(20, timeout=10)
        assert [p for _t, p in got] == [f"tls {i}".encode() for i in range(20)]

        # TLS is not authentication: a wrong password is still refused.
        intruder = new_client("edge-a", "wrong")
        intruder.tls_set(ca_certs=str(pki.ca_cert))
        assert not try_connect(intruder, "127.0.0.1", port)
        for c in (pub, sub):
            c.loop_stop()
            c.disconnect()


@pytest.mark.integration
def test_client_without_the_deployment_ca_cannot_connect(tmp_path: Path, pki: CertificateSet,
                                                         rogue_pki: CertificateSet) -> None:
    proc, passwords = tls_broker(tmp_path / "broker", pki, mutual=False)
    with running(proc):
        port = proc.cfg.ready_port
        system_trust = new_client("edge-a", passwords["edge-a"])
        system_trust.tls_set()  # the OS trust store: our private CA is not in it
        assert not try_connect(system_trust, "127.0.0.1", port)

        wrong_ca = new_client("edge-a", passwords["edge-a"])
        wrong_ca.tls_set(ca_certs=str(rogue_pki.ca_cert))
        assert not try_connect(wrong_ca, "127.0.0.1", port)

        # Plain MQTT against the TLS port gets nowhere either.
        plain = new_client("edge-a", passwords["edge-a"])
        assert not try_connect(plain, "127.0.0.1", port, timeout=3)

        # Control: the same identity with the right CA gets in.
        good = new_client("edge-a", passwords["edge-a"])
        good.tls_set(ca_certs=str(pki.ca_cert))
        assert try_connect(good, "127.0.0.1", port)
        good.loop_stop()
        good.disconnect()


@pytest.mark.integration
def test_mutual_tls_requires_a_device_certificate_of_the_deployment(tmp_path: Path, pki: CertificateSet,
                                                                   rogue_pki: CertificateSet) -> None:
    proc, passwords = tls_broker(tmp_path / "broker", pki, mutual=True)
    with running(proc):
        port = proc.cfg.ready_port
        no_cert = new_client("edge-a", passwords["edge-a"])
        no_cert.tls_set(ca_certs=str(pki.ca_cert))
        assert not try_connect(no_cert, "127.0.0.1", port)

        foreign_cert = new_client("edge-a", passwords["edge-a"])
        foreign_cert.tls_set(ca_certs=str(pki.ca_cert), certfile=str(rogue_pki.device_cert("edge-a")),
                             keyfile=str(rogue_pki.device_key("edge-a")))
        assert not try_connect(foreign_cert, "127.0.0.1", port)

        device = new_client("edge-a", passwords["edge-a"])
        device.tls_set(ca_certs=str(pki.ca_cert), certfile=str(pki.device_cert("edge-a")),
                       keyfile=str(pki.device_key("edge-a")), tls_version=ssl.PROTOCOL_TLS_CLIENT)
        assert try_connect(device, "127.0.0.1", port)
        device.publish(f"cw/v1/{SITE}/edge-a/heartbeat", b"mutual", qos=1).wait_for_publish(5)
        device.loop_stop()
        device.disconnect()
