"""Settings: file + CW_ environment, env wins, invalid config names the field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from broker.settings import BrokerSettings
from common.config import ConfigError, load_settings


def test_file_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "broker.yaml"
    cfg.write_text("port: 1999\nhost: 127.0.0.2\n")
    monkeypatch.setenv("CW_BROKER_PORT", "2001")
    settings = load_settings(BrokerSettings, cfg)
    assert settings.port == 2001  # environment wins over the file
    assert settings.host == "127.0.0.2"  # the file wins over defaults


@pytest.mark.parametrize(
    ("yaml_text", "env", "field"),
    [
        ("port: 99999\n", {}, "port"),
        ("engine: docker\n", {}, "engine"),
        ("", {"CW_BROKER_PORT": "not-a-number"}, "port"),
        ("unknown_option: 1\n", {}, "unknown_option"),
    ],
)
def test_invalid_config_names_the_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, yaml_text: str, env: dict[str, str], field: str
) -> None:
    cfg = tmp_path / "broker.yaml"
    cfg.write_text(yaml_text)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError) as info:
        load_settings(BrokerSettings, cfg)
    assert field in info.value.message


@pytest.mark.parametrize(("text", "needle"), [("port: [1\n", "not valid YAML"), ("- a\n- b\n", "mapping")])
def test_unreadable_file(tmp_path: Path, text: str, needle: str) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=needle):
        load_settings(BrokerSettings, cfg)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(BrokerSettings, tmp_path / "nope.yaml")


def test_cli_exits_with_readable_message(tmp_path: Path) -> None:
    cfg = tmp_path / "broker.yaml"
    cfg.write_text("port: 0\n")
    proc = subprocess.run(
        [sys.executable, "-m", "counterwatch.cli", "broker", "--config", str(cfg), "serve"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode != 0
    assert "configuration error" in proc.stderr and "port" in proc.stderr
    assert "Traceback" not in proc.stderr
