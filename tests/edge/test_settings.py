"""Edge configuration: the shipped files load; bad values fail naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.config import ConfigError, load_settings
from edge.settings import EdgeSettings

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["edge.example.yaml", "office-cctv.yaml"])
def test_shipped_configs_load(name: str) -> None:
    s = load_settings(EdgeSettings, ROOT / "config" / name)
    assert s.cameras and all(c.windows for c in s.cameras)


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "edge.yaml"
    p.write_text(text)
    return p


BASE = """
site: hall1
device: edge-a
cameras:
  - id: cam1
    source: usb:0
    windows:
      - id: w1
        zones: {staff: [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5]]}
"""


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("[0.5, 0.5]", "[0.5, 1.5]", "cameras.0.windows.0.zones.staff.2"),
        ("source: usb:0", "source: usb:zero", "cameras.0.source"),
        ("site: hall1", "site: 'hall 1'", "site"),
        ("cameras:", "rules: {vote_k: 9}\ncameras:", "rules"),
        ("cameras:", "service_hours: {weekly: {mon: ['17:00-09:00']}}\ncameras:", "service_hours.weekly"),
        ("cameras:", "service_hours: {timezone: Nowhere/City}\ncameras:", "service_hours.timezone"),
        ("cameras:", "mqtt: {port: 70000}\ncameras:", "mqtt.port"),
        ("cameras:", "colour: red\ncameras:", "colour"),
        ("cameras:", "detector: {class_confidence: {pause_signs: 0.01}}\ncameras:", "detector.class_confidence"),
        ("cameras:", "detector: {class_confidence: {pause_sign: 0}}\ncameras:", "detector.class_confidence"),
    ],
)
def test_invalid_values_name_the_field(tmp_path: Path, old: str, new: str, field: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(EdgeSettings, write(tmp_path, BASE.replace(old, new, 1)))
    assert field in err.value.message


def test_environment_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CW_EDGE_MQTT__PORT", "1999")
    monkeypatch.setenv("CW_EDGE_RULES__UNATTENDED_S", "90")
    s = load_settings(EdgeSettings, write(tmp_path, BASE))
    assert s.mqtt.port == 1999 and s.rules.unattended_s == 90


def test_window_hours_override(tmp_path: Path) -> None:
    text = BASE + "        service_hours: {weekly: {sat: ['09:00-12:00']}}\n"
    s = load_settings(EdgeSettings, write(tmp_path, text))
    window = s.cameras[0].windows[0]
    assert list(s.hours_for(window).weekly) == ["sat"]
