"""A private certificate authority for one CounterWatch deployment, made with the ``openssl`` CLI.

``counterwatch broker make-certs`` writes::

    DIR/ca.crt               the CA certificate: give it to every client (edge, dashboard, bridge, browser)
    DIR/ca.key               the CA key (0600): keep it offline; it is needed only to issue certificates
    DIR/server.crt, .key     the broker's certificate, SANs = the --host names and addresses
    DIR/dashboard.crt, .key  the dashboard's HTTPS certificate, SANs = the --dashboard-host names (optional)
    DIR/devices/NAME.crt     one client certificate per edge device, CN = the device's MQTT username
    DIR/devices/NAME.key

Keys are P-256 EC keys, created 0600 before OpenSSL writes them. Running the command again reuses the
CA (replacing it would invalidate every certificate already deployed) and issues only what is missing;
``renew`` re-issues the server and device certificates from the same CA. See ``docs/tls.md``.

The ``openssl`` CLI is used rather than a Python crypto package so the runtime needs nothing beyond what
Debian ships; the commands are the documented, auditable ones.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from broker.topics import check_segment

CA_DAYS = 3650
# 825 days: the longest validity current TLS clients accept for a server certificate.
LEAF_DAYS = 825
CA_SUBJECT = "/O=CounterWatch/CN=CounterWatch private CA"


class CertificateError(RuntimeError):
    """OpenSSL is missing or refused to do what was asked."""


@dataclass(frozen=True)
class CertificateSet:
    """Where the files of one deployment's PKI live."""

    root: Path
    issued: list[Path] = field(default_factory=list, compare=False)

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca.key"

    @property
    def server_cert(self) -> Path:
        return self.root / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.root / "server.key"

    @property
    def dashboard_cert(self) -> Path:
        return self.root / "dashboard.crt"

    @property
    def dashboard_key(self) -> Path:
        return self.root / "dashboard.key"

    def device_cert(self, device: str) -> Path:
        return self.root / "devices" / f"{check_segment(device, 'device')}.crt"

    def device_key(self, device: str) -> Path:
        return self.root / "devices" / f"{check_segment(device, 'device')}.key"


def openssl_binary() -> str:
    binary = shutil.which("openssl")
    if binary is None:
        raise CertificateError("the openssl command is not installed (apt-get install openssl)")
    return binary


def _openssl(*args: str | Path) -> None:
    cmd = [openssl_binary(), *map(str, args)]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise CertificateError(f"openssl {args[0]} failed: {result.stderr.strip() or result.stdout.strip()}")


def _private_file(path: Path) -> Path:
    """Create ``path`` empty with mode 0600 so the key OpenSSL writes into it is never world-readable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    return path


def _new_key(path: Path) -> None:
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", _private_file(path))


def subject_alt_names(hosts: Iterable[str]) -> str:
    """``DNS:name`` / ``IP:address`` entries: clients check the name they dialled against these."""
    entries = []
    for host in hosts:
        try:
            entries.append(f"IP:{ipaddress.ip_address(host)}")
        except ValueError:
            entries.append(f"DNS:{host}")
    if not entries:
        raise ValueError("a server certificate needs at least one host name or address")
    return ",".join(entries)


def make_ca(certs: CertificateSet, days: int = CA_DAYS) -> None:
    _new_key(certs.ca_key)
    _openssl(
        "req", "-x509", "-new", "-key", certs.ca_key, "-out", certs.ca_cert, "-days", str(days),
        "-subj", CA_SUBJECT, "-sha256",
        "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )


def issue(certs: CertificateSet, cert: Path, key: Path, common_name: str, extensions: Sequence[str],
          days: int = LEAF_DAYS) -> None:
    """A leaf certificate signed by the deployment's CA."""
    _new_key(key)
    with tempfile.TemporaryDirectory(prefix="cw-certs-") as tmp:
        csr = Path(tmp) / "leaf.csr"
        ext = Path(tmp) / "leaf.ext"
        ext.write_text("\n".join(["basicConstraints=critical,CA:FALSE", *extensions]) + "\n")
        _openssl("req", "-new", "-key", key, "-out", csr, "-subj", f"/O=CounterWatch/CN={common_name}")
        _openssl(
            "x509", "-req", "-in", csr, "-CA", certs.ca_cert, "-CAkey", certs.ca_key,
            # A random 128-bit serial: no serial file to keep, no collision between re-issues.
            "-set_serial", f"0x{secrets.token_hex(16)}", "-days", str(days), "-sha256",
            "-extfile", ext, "-out", cert,
        )
    cert.chmod(0o644)


SERVER_EXTENSIONS = ["keyUsage=critical,digitalSignature,keyAgreement", "extendedKeyUsage=serverAuth"]


def make_certificates(out: Path, hosts: Sequence[str], devices: Sequence[str] = (), *,
                      dashboard_hosts: Sequence[str] = (), renew: bool = False,
                      days: int = LEAF_DAYS) -> CertificateSet:
    """Create (or complete) the PKI under ``out``; returns it with the files written this time.
    ``dashboard_hosts``: also issue the dashboard's HTTPS certificate (its own key, so the broker's key
    need not be copied to the web server), from the same CA that browsers and devices trust."""
    certs = CertificateSet(out)
    out.mkdir(parents=True, exist_ok=True)
    for device in devices:
        check_segment(device, "device")  # before anything is written
    sans = subject_alt_names(hosts)
    dashboard_sans = subject_alt_names(dashboard_hosts) if dashboard_hosts else None
    if not (certs.ca_cert.exists() and certs.ca_key.exists()):
        make_ca(certs)
        certs.issued.extend([certs.ca_cert, certs.ca_key])
    if renew or not certs.server_cert.exists():
        issue(certs, certs.server_cert, certs.server_key, hosts[0], [*SERVER_EXTENSIONS, f"subjectAltName={sans}"],
              days)
        certs.issued.extend([certs.server_cert, certs.server_key])
    if dashboard_sans is not None and (renew or not certs.dashboard_cert.exists()):
        issue(certs, certs.dashboard_cert, certs.dashboard_key, dashboard_hosts[0],
              [*SERVER_EXTENSIONS, f"subjectAltName={dashboard_sans}"], days)
        certs.issued.extend([certs.dashboard_cert, certs.dashboard_key])
    for device in devices:
        cert, key = certs.device_cert(device), certs.device_key(device)
        if renew or not cert.exists():
            issue(certs, cert, key, device, [
                "keyUsage=critical,digitalSignature,keyAgreement",
                "extendedKeyUsage=clientAuth",
            ], days)
            certs.issued.extend([cert, key])
    return certs


def verify(certs: CertificateSet, cert: Path) -> None:
    """Raise :class:`CertificateError` unless ``cert`` chains to the deployment's CA."""
    _openssl("verify", "-CAfile", certs.ca_cert, cert)
