"""The edge runs the detector's int8 build when asked (detector.precision), with every second stage the float
model ships, and falls back to the float model where the build is absent or failed its accuracy checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import edge.detect
from edge.clerk_stage import BehaviourSpec, ClerkStage
from edge.detect import MANIFEST, StageSpec, default_model, shipped_stage
from edge.node import load_detector
from edge.presence import PresenceSpec, PresenceStage
from edge.settings import DetectorSettings, EdgeSettings, SignSettings
from edge.sign import SignDetectorCue, VerifierSpec

STAGES = [("presence", PresenceSpec), ("behaviour", BehaviourSpec), ("sign_verifier", VerifierSpec)]


def _settings(**detector: object) -> EdgeSettings:
    return EdgeSettings.model_construct(detector=DetectorSettings(**detector))


def test_precision_int8_runs_the_int8_build_of_the_shipped_model() -> None:
    manifest = json.loads(MANIFEST.read_text())
    detector = load_detector(_settings(precision="int8"))
    assert detector.path.name == manifest["int8"]["file"] and detector.sha256 == manifest["int8"]["sha256"]
    assert detector.source_sha256 == manifest["sha256"] != detector.sha256
    float_detector = load_detector(_settings())  # the default
    assert float_detector.path.name == manifest["file"] and float_detector.source_sha256 == manifest["sha256"]


@pytest.mark.parametrize(("key", "spec"), STAGES)
def test_every_second_stage_serves_the_int8_build(key: str, spec: type[StageSpec]) -> None:
    shipped = shipped_stage(MANIFEST, key, spec)
    assert shipped is not None
    assert shipped[1].model_dump()["detector_sha256"] == default_model("int8").source_sha256


def test_the_pipelines_stages_are_active_on_the_int8_build() -> None:
    """What the camera pipeline asks each stage (edge/pipeline.py passes ``detector.source_sha256``)."""
    detector = load_detector(_settings(precision="int8"))
    presence, clerk = PresenceStage.from_manifest(), ClerkStage.from_manifest()
    sign = SignDetectorCue.from_settings(SignSettings())
    assert presence is not None and clerk is not None
    for stage in (presence, clerk, sign):
        assert stage.active(detector.source_sha256) and not stage.active(detector.sha256)


def test_a_rolled_out_model_is_its_own_source(tmp_path: Path) -> None:
    manifest = json.loads(MANIFEST.read_text())
    detector = load_detector(_settings(model=MANIFEST.parent / manifest["int8"]["file"]))
    assert detector.source_sha256 == detector.sha256  # no stage claims a file it was not calibrated on


@pytest.mark.parametrize("int8", [None, "failed"])
def test_without_a_passed_int8_build_the_float_model_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         int8: str | None) -> None:
    data = json.loads(MANIFEST.read_text())
    if int8 is None:
        data.pop("int8")
    else:
        data["int8"]["passed"] = False
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(data))
    (tmp_path / data["file"]).symlink_to(MANIFEST.parent / data["file"])
    monkeypatch.setattr(edge.detect, "MANIFEST", manifest)
    shipped = default_model("int8")
    assert shipped.path.name == data["file"] and shipped.source_sha256 is None
