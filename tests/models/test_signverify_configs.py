"""Every shipped edge configuration that runs the sign verifier lets the detector pass the pause_sign
candidates the verifier was calibrated on (down to the manifest's ``min_det``): with a higher floor the
verifier sees fewer candidates and its calibrated precision / recall do not describe that edge."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from edge.settings import DetectorSettings, SignSettings
from models.manifest import load

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "config").glob("*.yaml"))


def sign_floor(config: dict[str, Any]) -> float | None:
    """The pause_sign floor the edge runs with, or None where the verifier is off."""
    detector = DetectorSettings.model_validate(config.get("detector") or {})
    sign = SignSettings.model_validate(config.get("sign") or {})
    if not (sign.detector and sign.verifier):
        return None
    return detector.class_confidence.get("pause_sign", detector.confidence)


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_shipped_config_gives_the_verifier_its_calibrated_candidates(path: Path) -> None:
    entry = load(ROOT / "models").sign_verifier
    assert entry is not None
    floor = sign_floor(yaml.safe_load(path.read_text()))
    assert floor is None or floor <= entry.min_det, (path.name, floor, entry.min_det)


def test_the_check_catches_a_config_without_the_floor() -> None:
    assert sign_floor({"detector": {"confidence": 0.08}}) == 0.08
    assert sign_floor({"detector": {"confidence": 0.08}, "sign": {"verifier": False}}) is None
    assert sign_floor({"detector": {"class_confidence": {"pause_sign": 0.01}}}) == 0.01


def test_demo_configs_give_the_verifier_its_calibrated_candidates(tmp_path: Path) -> None:
    """`counterwatch up` writes the demo's edge configuration itself: the same floor, from the manifest."""
    from counterwatch.up import demo_edge_config, edge_config

    entry = load(ROOT / "models").sign_verifier
    assert entry is not None
    for config in (demo_edge_config(1883, "http://127.0.0.1:8000", "token", "secret", tmp_path),
                   edge_config("clip.mp4", 1883, "http://127.0.0.1:8000", "token", "secret", tmp_path)):
        assert sign_floor(config) == entry.min_det
