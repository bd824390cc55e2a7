"""Mosquitto configuration and process management."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from broker.codec import MAX_PAYLOAD_BYTES
from broker.credentials import Registry


@dataclass(frozen=True)
class TlsFiles:
    cafile: Path
    certfile: Path
    keyfile: Path
    require_certificate: bool = False


@dataclass(frozen=True)
class BrokerConfig:
    """What the project's broker needs. Rendered to a Mosquitto config by :func:`render_config`."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 1883
    # A persistent session (the dashboard's) may fall behind during a burst or a dashboard restart:
    # the queue is sized for hours of a busy hall so that Mosquitto never drops QoS 1 messages silently.
    max_queued_messages: int = 1_000_000
    max_inflight_messages: int = 100
    # Larger publishes are dropped by the broker itself: no contract message comes near it (the ingest
    # refuses anything over broker.codec.MAX_PAYLOAD_BYTES), and a hostile client must not fill queues,
    # retained storage or the dashboard's dead letters with megabytes.
    message_size_limit: int = MAX_PAYLOAD_BYTES
    tls: TlsFiles | None = None
    tls_port: int | None = None
    # False: serve TLS only (a hall broker reachable from outside its LAN should not offer plain MQTT).
    plain_listener: bool = True
    extra: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.plain_listener and self.tls is None:
            raise ValueError("a broker without its plain listener needs TLS files")

    @property
    def ready_port(self) -> int:
        """The port that tells the broker is up: the plain listener's, else the TLS one's."""
        return self.port if self.plain_listener else (self.tls_port or 8883)

    @property
    def password_file(self) -> Path:
        return self.data_dir / "passwd"

    @property
    def acl_file(self) -> Path:
        return self.data_dir / "acl"

    @property
    def registry_file(self) -> Path:
        return self.data_dir / "identities.yaml"

    @property
    def config_file(self) -> Path:
        return self.data_dir / "mosquitto.conf"


def _run_as_user() -> list[str]:
    """``user`` line for the account running us; none for a uid without a passwd entry (random-uid
    containers), where Mosquitto is not started as root anyway."""
    try:
        return [f"user {pwd.getpwuid(os.geteuid()).pw_name}"]
    except KeyError:
        return []


def render_config(cfg: BrokerConfig) -> str:
    lines = [
        "# Rendered by counterwatch. Do not edit by hand: see broker/mosquitto.py.",
        "per_listener_settings false",
        # Started as root, Mosquitto drops to user "mosquitto", which cannot read the 0600 password/ACL files
        # we render: run as the account that owns them (a no-op when not started as root).
        *_run_as_user(),
        "allow_anonymous false",
        f"password_file {cfg.password_file}",
        f"acl_file {cfg.acl_file}",
        "persistence true",
        f"persistence_location {cfg.data_dir}/",
        "autosave_interval 5",
        f"max_queued_messages {cfg.max_queued_messages}",
        "max_queued_bytes 0",
        f"max_inflight_messages {cfg.max_inflight_messages}",
        f"message_size_limit {cfg.message_size_limit}",
        "persistent_client_expiration 14d",
        "log_dest stdout",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "log_type information",
        "connection_messages true",
        "log_timestamp_format %Y-%m-%dT%H:%M:%S",
    ]
    if cfg.plain_listener:
        lines += ["", f"listener {cfg.port} {cfg.host}", "protocol mqtt"]
    if cfg.tls is not None:
        lines += [
            "",
            f"listener {cfg.tls_port or 8883} {cfg.host}",
            "protocol mqtt",
            f"cafile {cfg.tls.cafile}",
            f"certfile {cfg.tls.certfile}",
            f"keyfile {cfg.tls.keyfile}",
            f"require_certificate {'true' if cfg.tls.require_certificate else 'false'}",
            "tls_version tlsv1.2",
        ]
    lines += cfg.extra
    return "\n".join(lines) + "\n"


def write_files(cfg: BrokerConfig, registry: Registry) -> None:
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    _write_private(cfg.password_file, registry.password_file())
    _write_private(cfg.acl_file, registry.acl_file())
    _write_private(cfg.config_file, render_config(cfg))


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.chmod(0o600)
    tmp.replace(path)


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).exists()), None
    )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


class MosquittoProcess:
    """A Mosquitto child process running the project's config (tests, ``counterwatch up``)."""

    def __init__(self, cfg: BrokerConfig, log_path: Path | None = None) -> None:
        self.cfg = cfg
        self.log_path = log_path or cfg.data_dir / "mosquitto.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> MosquittoProcess:
        binary = mosquitto_binary()
        if binary is None:
            raise FileNotFoundError("mosquitto binary not found (apt-get install mosquitto)")
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen([binary, "-c", str(self.cfg.config_file)], stdout=log, stderr=log)
        try:
            wait_for_port(self.cfg.host, self.cfg.ready_port, timeout)
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"mosquitto did not start; see {self.log_path}") from None
        return self

    def reload(self) -> None:
        """Re-read password and ACL files (Mosquitto does this on SIGHUP; connections stay up)."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGHUP)

    def stop(self, kill: bool = False) -> None:
        if self.proc is None:
            return
        if kill:
            self.proc.kill()
        else:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def __enter__(self) -> MosquittoProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
