"""Settings: file + CW_ environment, env wins, invalid config names the field."""

from __future__ import annotations

import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from broker.settings import BrokerSettings
from common.config import ConfigError, ServiceSettings, load_settings
from dashboard.settings import DashboardSettings
from edge.settings import EdgeSettings


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


# -- every settings model forbids unknown keys, and the error names the key's path --------------------
SERVICE_SETTINGS: tuple[type[ServiceSettings], ...] = (BrokerSettings, DashboardSettings, EdgeSettings)


def nested_models(model: type[BaseModel], seen: set[type[BaseModel]] | None = None) -> set[type[BaseModel]]:
    """``model`` and every model reachable through its fields (optional, list and dict values included)."""
    seen = set() if seen is None else seen
    if model in seen:
        return seen
    seen.add(model)
    for field in model.model_fields.values():
        stack: list[Any] = [field.annotation]
        while stack:
            annotation = stack.pop()
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                nested_models(annotation, seen)
            stack.extend(typing.get_args(annotation))
    return seen


def _qualname(model: type[BaseModel]) -> str:
    return f"{model.__module__}.{model.__name__}"


ALL_MODELS = sorted({m for s in SERVICE_SETTINGS for m in nested_models(s)}, key=_qualname)


def test_the_walk_reaches_the_nested_sections() -> None:
    names = {_qualname(m) for m in ALL_MODELS}
    assert {"dashboard.settings.RetentionSettings", "broker.client_settings.MqttTls", "broker.settings.BridgeSettings",
            "edge.settings.Zones", "edge.settings.TimeRange"} <= names
    assert len(ALL_MODELS) >= 20


@pytest.mark.parametrize("model", ALL_MODELS, ids=_qualname)
def test_every_settings_model_forbids_unknown_keys(model: type[BaseModel]) -> None:
    assert model.model_config.get("extra") == "forbid", f"{model.__name__} silently accepts misspelt keys"


EDGE_BASE = """
site: hall1
device: edge-a
cameras:
  - id: cam1
    source: usb:0
    windows:
      - id: w1
        zones: {staff: [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]}
"""
BRIDGE = "bridge: {site: hall1, addresses: ['c:8883'], username: b, password: p, %s}\n"

TYPOS: list[tuple[type[ServiceSettings], str, str]] = [
    (BrokerSettings, "hots: 127.0.0.1\n", "hots"),
    (BrokerSettings, BRIDGE % "cafil: /ca.crt", "bridge.cafil"),
    (DashboardSettings, "databse_url: sqlite://\n", "databse_url"),
    (DashboardSettings, "mqtt: {hots: mqtt.local}\n", "mqtt.hots"),
    (DashboardSettings, "mqtt: {tls: {ca: /ca.crt, crt: /c.crt}}\n", "mqtt.tls.crt"),
    (DashboardSettings, "retention: {day: 7}\n", "retention.day"),
    (DashboardSettings, "ingest: {max_batchs: 10}\n", "ingest.max_batchs"),
    (DashboardSettings, "s3: {bucket_name: b}\n", "s3.bucket_name"),
    (DashboardSettings, "tls: {cert: /c.pem}\n", "tls.cert"),
    (DashboardSettings, "site: {zone: UTC}\n", "site.zone"),
    (DashboardSettings, "leave_policy: {max_day: 3}\n", "leave_policy.max_day"),
    (EdgeSettings, EDGE_BASE + "colour: red\n", "colour"),
    (EdgeSettings, EDGE_BASE + "mqtt: {keepalive_secs: 9}\n", "mqtt.keepalive_secs"),
    (EdgeSettings, EDGE_BASE + "mqtt: {tls: {cafile: /ca.crt}}\n", "mqtt.tls.cafile"),
    (EdgeSettings, EDGE_BASE + "dashboard: {tokn: x}\n", "dashboard.tokn"),
    (EdgeSettings, EDGE_BASE + "outbox: {paht: /o.sqlite}\n", "outbox.paht"),
    (EdgeSettings, EDGE_BASE + "detector: {conf: 0.4}\n", "detector.conf"),
    (EdgeSettings, EDGE_BASE + "rules: {absence: 60}\n", "rules.absence"),
    (EdgeSettings, EDGE_BASE + "service_hours: {holiday: [2026-10-01]}\n", "service_hours.holiday"),
    (EdgeSettings, EDGE_BASE + "sign: {arucoo: false}\n", "sign.arucoo"),
    (EdgeSettings, EDGE_BASE + "evidence: {enable: false}\n", "evidence.enable"),
    (EdgeSettings, EDGE_BASE.replace("source: usb:0", "source: usb:0\n    fsp: 5"), "cameras.0.fsp"),
    (EdgeSettings, EDGE_BASE.replace("- id: w1", "- id: w1\n        clerk: x"), "cameras.0.windows.0.clerk"),
    (EdgeSettings, EDGE_BASE.replace("zones: {staff:", "zones: {desk: [], staff:"), "cameras.0.windows.0.zones.desk"),
]


@pytest.mark.parametrize(("cls", "text", "path"), TYPOS, ids=[f"{c.__name__}-{p}" for c, _t, p in TYPOS])
def test_a_misspelt_key_fails_naming_its_path(tmp_path: Path, cls: type[ServiceSettings], text: str, path: str) -> None:
    cfg = tmp_path / "settings.yaml"
    cfg.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(cls, cfg)
    assert f"  {path}: Extra inputs are not permitted" in info.value.message
    assert info.value.message.count("invalid field") == 1 and "1 invalid field(s)" in info.value.message


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_issue_example_names_both_typos() -> None:
    """``DashboardSettings(mqtt={'hots': ...}, retention={'day': 7})`` used to be accepted."""
    with pytest.raises(ValidationError) as info:
        DashboardSettings(mqtt={"hots": "mqtt.local"}, retention={"day": 7})  # type: ignore[arg-type]
    assert sorted(".".join(map(str, e["loc"])) for e in info.value.errors()) == ["mqtt.hots", "retention.day"]
    assert {e["type"] for e in info.value.errors()} == {"extra_forbidden"}


@pytest.mark.parametrize(("name", "path"), [("CW_DASHBOARD_RETENTION__DAY", "retention.day"),
                                            ("CW_DASHBOARD_MQTT__HOTS", "mqtt.hots"),
                                            ("CW_EDGE_MQTT__KEEPALIVE_SECS", "mqtt.keepalive_secs")])
def test_a_misspelt_environment_variable_fails_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str,
                                                   path: str) -> None:
    monkeypatch.setenv(name, "7")
    cls, cfg = (EdgeSettings, _write(tmp_path / "e.yaml", EDGE_BASE)) if "EDGE" in name else (DashboardSettings, None)
    with pytest.raises(ConfigError) as info:
        load_settings(cls, cfg)
    assert f"  {path}: Extra inputs are not permitted" in info.value.message


# -- importing settings loads no ML runtime (a config check must not start onnxruntime or torch) -------
HEAVY = ("onnxruntime", "torch", "ultralytics", "cv2")


@pytest.mark.parametrize("module", [
    "common.config", "broker.settings", "broker.client_settings", "dashboard.settings",
    "edge.settings",
])
def test_importing_settings_loads_no_ml_runtime(module: str) -> None:
    code = f"import sys, {module}; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert proc.stdout.strip() == "[]", proc.stdout
