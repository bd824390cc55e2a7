"""The shipped behaviour stage against its manifest: file and sha256, wiring, and the CI-sample figures
re-derived from ../shared alone (models/behaviour_sample.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.behaviour import BehaviourModel, CropSpec
from models.behaviour_sample import build_ci_sample
from models.evaluate_person import Stage, evaluate
from models.infer import OnnxDetector
from models.manifest import load, verify, verify_behaviour

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"


def test_manifest_ships_a_checked_behaviour_stage() -> None:
    manifest = load(ROOT / "models")
    entry = manifest.behaviour
    assert entry is not None and verify_behaviour(ROOT / "models") is not None
    assert entry.detector_sha256 == manifest.sha256
    assert entry.classes[0] == "none" and "phone_use" in entry.classes
    assert set(entry.thresholds) <= set(entry.classes)
    # Behaviours without training data carry no column, so they can never fire.
    assert all(entry.data_counts["train_persons"].get(c, 0) > 0 for c in entry.classes)


@pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared")
def test_ci_sample_reproduces_the_manifest(tmp_path: Path) -> None:
    manifest = load(ROOT / "models")
    entry = manifest.behaviour
    assert entry is not None
    want = entry.metrics["ci-sample"]
    model = BehaviourModel(verify_behaviour(ROOT / "models"), CropSpec(entry.input.size, entry.input.margin),  # type: ignore[arg-type]
                           entry.classes)
    stage = Stage(OnnxDetector(verify(ROOT / "models")), model, dict(entry.thresholds))
    got = evaluate(stage, build_ci_sample(SHARED, tmp_path), "val")
    assert (got.images, got.persons) == (want.images, want.persons)
    for name, m in want.classes.items():
        g = got.classes[name]
        assert g.support == m.support
        assert abs(g.tp - m.tp) <= 1 and abs(g.predicted - m.predicted) <= 1, (name, g, m)
