"""Shared fixtures: a real Mosquitto per test session on a free loopback port, run with the project's own
configuration (auth, ACL, persistence), and the paths to ../shared material."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from broker.credentials import Registry, Role
from broker.mosquitto import BrokerConfig, MosquittoProcess, free_port, mosquitto_binary, write_files
from tests.support.mqtt import BrokerHandle

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CW_SHARED", ROOT.parent / "shared"))
SITE = "hall1"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.exists():
        pytest.fail(f"shared material not found at {SHARED} (set CW_SHARED)")
    return SHARED


@pytest.fixture(scope="session")
def office_clip(shared_dir: Path) -> Path:
    return shared_dir / "datasets/office-cctv-clip/office_cctv_cam5.mov"


def start_mosquitto(data_dir: Path, identities: dict[str, tuple[Role, str | None]]) -> tuple[
    MosquittoProcess, dict[str, str]
]:
    if mosquitto_binary() is None:
        pytest.fail("mosquitto is not installed: ./cw setup installs it")
    registry = Registry()
    passwords = {name: registry.add(name, role, site=site) for name, (role, site) in identities.items()}
    registry.save(data_dir / "identities.yaml")
    cfg = BrokerConfig(data_dir=data_dir, port=free_port())
    write_files(cfg, registry)
    return MosquittoProcess(cfg).start(), passwords


DEFAULT_IDENTITIES: dict[str, tuple[Role, str | None]] = {
    "dashboard": (Role.DASHBOARD, None),
    "edge-a": (Role.DEVICE, SITE),
    "edge-b": (Role.DEVICE, SITE),
    "ops": (Role.ADMIN, None),
}


def _handle(proc: MosquittoProcess, passwords: dict[str, str]) -> BrokerHandle:
    def restart() -> None:
        proc.stop()
        proc.start()

    def start() -> None:
        proc.start()

    return BrokerHandle(
        host=proc.cfg.host, port=proc.cfg.port, passwords=passwords, site=SITE,
        restart=restart, stop=proc.stop, start=start,
    )


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrokerHandle]:
    """One broker for the session's read-mostly tests."""
    proc, passwords = start_mosquitto(tmp_path_factory.mktemp("mosquitto"), DEFAULT_IDENTITIES)
    try:
        yield _handle(proc, passwords)
    finally:
        proc.stop()


@pytest.fixture
def fresh_mosquitto(tmp_path: Path) -> Iterator[BrokerHandle]:
    """A broker of the test's own, for tests that stop, kill or restart it."""
    proc, passwords = start_mosquitto(tmp_path / "mosquitto", DEFAULT_IDENTITIES)
    try:
        yield _handle(proc, passwords)
    finally:
        proc.stop()
