"""Embedded broker pieces that need no network: registry watching and configuration translation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from broker.credentials import Registry, Role
from broker.embedded import STATE_FILE, RegistryWatcher, amqtt_config, serve_embedded
from broker.mosquitto import BrokerConfig
from common.config import ConfigError


def test_registry_watcher_follows_the_file_and_survives_a_broken_one(tmp_path: Path) -> None:
    path = tmp_path / "identities.yaml"
    watcher = RegistryWatcher(path)
    assert watcher.identity("edge-a") is None  # no file yet: nobody gets in
    registry = Registry()
    registry.add("edge-a", Role.DEVICE, site="hall1", password="one")
    registry.save(path)
    assert watcher.current().verify("edge-a", "one")
    registry.rotate("edge-a", password="two")
    registry.save(path)
    assert watcher.current().verify("edge-a.r1", "two")

    path.write_text("identities: [this is not, a mapping")  # a half-written hand edit
    os.utime(path, ns=(1, 1))
    assert watcher.current().verify("edge-a.r1", "two"), "a broken file must not lock everyone out"
    assert watcher.identity(None) is None


def test_amqtt_config_mirrors_the_mosquitto_config(tmp_path: Path) -> None:
    cfg = BrokerConfig(data_dir=tmp_path, host="127.0.0.1", port=18830)
    config = amqtt_config(cfg)
    assert config["listeners"] == {"default": {"type": "tcp", "bind": "127.0.0.1:18830"}}
    plugins = config["plugins"]
    assert set(plugins) == {"broker.embedded.RegistryAuthPlugin", "broker.embedded.RegistryAclPlugin",
                            "broker.embedded.StatePersistencePlugin"}, "no anonymous or default plugins"
    assert plugins["broker.embedded.RegistryAuthPlugin"]["registry_file"] == str(cfg.registry_file)
    assert plugins["broker.embedded.StatePersistencePlugin"]["path"] == str(tmp_path / STATE_FILE)


def test_mosquitto_only_settings_are_refused_not_ignored(tmp_path: Path) -> None:
    cfg = BrokerConfig(data_dir=tmp_path, extra=["connection central", "address central.example:8883"])
    with pytest.raises(ValueError, match="use Mosquitto"):
        amqtt_config(cfg)
    with pytest.raises(ConfigError, match="use Mosquitto"):
        serve_embedded(cfg)
