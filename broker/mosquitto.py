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

    @property
    def run_config_file(self) -> Path:
        """The config MosquittoProcess starts a root-launched broker with (files relative to data_dir)."""
        return self.data_dir / "mosquitto.run.conf"


RUN_TLS_DIR = Path("tls-run")  # in data_dir: copies of the TLS files for a root-started broker
RUN_TLS_NAMES = {"cafile": "ca.crt", "certfile": "server.crt", "keyfile": "server.key"}
# The unprivileged accounts a broker started as root drops to, in order of preference.
BROKER_ACCOUNTS = ("mosquitto", "nobody")


def broker_account() -> pwd.struct_passwd | None:
    """The account Mosquitto runs as when we are root (None when we are not: it then stays ours)."""
    if os.geteuid() != 0:
        return None
    for name in BROKER_ACCOUNTS:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    return None


def _run_as_user(account: pwd.struct_passwd | None) -> list[str]:
    """``user`` line: the unprivileged broker account when started as root, else the account running us
    (a no-op); none for a uid without a passwd entry (random-uid containers, never root)."""
    if account is not None:
        return [f"user {account.pw_name}"]
    try:
        return [f"user {pwd.getpwuid(os.geteuid()).pw_name}"]
    except KeyError:
        return []


def render_config(cfg: BrokerConfig, *, relative: bool = False) -> str:
    """Mosquitto's config. Started as root, Mosquitto drops to :func:`broker_account` before it reads the
    password and ACL files (and on every reload): write_files gives those and the data directory to it.
    ``relative``: files named relative to the data directory, for a broker started in it
    (:class:`MosquittoProcess` as root), so that no parent directory (a 0700 home or temp dir) must be
    opened to the unprivileged account."""
    account = broker_account()
    data = Path(".") if relative else cfg.data_dir
    lines = [
        "# Rendered by counterwatch. Do not edit by hand: see broker/mosquitto.py.",
        "per_listener_settings false",
        *_run_as_user(account),
        "allow_anonymous false",
        f"password_file {data / cfg.password_file.name}",
        f"acl_file {data / cfg.acl_file.name}",
        "persistence true",
        f"persistence_location {data}/",
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
        # Also read after the privileges are dropped: a root-started broker gets its own copies.
        tls = {k: RUN_TLS_DIR / RUN_TLS_NAMES[k] if relative else getattr(cfg.tls, k) for k in RUN_TLS_NAMES}
        lines += [
            "",
            f"listener {cfg.tls_port or 8883} {cfg.host}",
            "protocol mqtt",
            f"cafile {tls['cafile']}",
            f"certfile {tls['certfile']}",
            f"keyfile {tls['keyfile']}",
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
    account = broker_account()
    if account is not None:  # root: the unprivileged broker must read these and write its persistence
        _write_private(cfg.run_config_file, render_config(cfg, relative=True))
        owned = [cfg.data_dir, cfg.password_file, cfg.acl_file, cfg.config_file, cfg.run_config_file,
                 cfg.data_dir / "mosquitto.db"]
        if cfg.tls is not None:
            tls_dir = cfg.data_dir / RUN_TLS_DIR
            tls_dir.mkdir(mode=0o700, exist_ok=True)
            owned.append(tls_dir)
            for attr, name in RUN_TLS_NAMES.items():
                _write_private_bytes(tls_dir / name, Path(getattr(cfg.tls, attr)).read_bytes())
                owned.append(tls_dir / name)
        for path in owned:
            if path.exists():
                os.chown(path, account.pw_uid, account.pw_gid)


def _write_private_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.chmod(0o600)
    tmp.replace(path)


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
        config = self.cfg.config_file
        if broker_account() is not None:  # root: it drops privileges, and finds its files from its cwd
            config = self.cfg.run_config_file
            if not config.exists():
                raise FileNotFoundError(f"{config} missing: write_files renders it")
        self.proc = subprocess.Popen([binary, "-c", str(config.resolve())], stdout=log, stderr=log,
                                     cwd=self.cfg.data_dir)
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
