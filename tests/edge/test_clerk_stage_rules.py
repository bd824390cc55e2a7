"""The behaviour stage's columns reach the rules: a behaviour file whose ``dozing`` column always fires raises
睡岗 through the real pipeline (detector, staff zone, stage, K-of-N vote, hold time) on a real clip, and the
shipped stage, whose dozing column is a real recogniser, raises none on the same frames of working clerks;
a ``drinking`` column feeds 吃东西 only where the hall's rules forbid drinking too.

The always-firing files are the shipped recipe (frozen detector features + head, built by
models/behaviour_onnx.py) with a head that puts every clerk in one behaviour (zero weights, the bias on it):
they test the wiring, not a recogniser, and say so.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from pydantic import BaseModel

from broker.payloads import EventMessage, EventPhase, Rule
from common.config import load_settings
from edge.clerk_stage import BehaviourSpec, ClerkStage
from edge.detect import DetectorHolder, sha256_file
from edge.node import load_detector
from edge.pipeline import CameraPipeline
from edge.settings import EdgeSettings
from edge.sources import Frame
from models.behaviour_onnx import feature_width, with_head

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)  # inside the office hours
PERIOD = timedelta(seconds=0.2)  # 5 fps analysis


def office(dozing_s: float) -> EdgeSettings:
    settings = load_settings(EdgeSettings, ROOT / "config/office-cctv.yaml")
    rules = settings.rules.model_copy(update={"dozing_s": dozing_s})
    return settings.model_copy(update={"rules": rules,
                                       "evidence": settings.evidence.model_copy(update={"enabled": False})})


def analysis_frames(clip: Path, fps: float = 5.0) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(clip))
    step, out, i = max(1, round((cap.get(cv2.CAP_PROP_FPS) or 30.0) / fps)), [], 0
    while cap.grab():
        if i % step == 0:
            out.append(cap.retrieve()[1])
        i += 1
    cap.release()
    return out


def events(settings: EdgeSettings, holder: DetectorHolder, stage: ClerkStage | None, images: list[np.ndarray]
           ) -> list[EventMessage]:
    out: list[BaseModel] = []
    pipeline = CameraPipeline(settings.cameras[0], settings, holder, out.append)
    pipeline.clerk_stage = stage
    for n, image in enumerate(images):
        pipeline.process(Frame("cam5", image, T0 + n * PERIOD, n))
    return [m for m in out if isinstance(m, EventMessage)]


@pytest.fixture(scope="module")
def holder() -> DetectorHolder:
    return DetectorHolder(load_detector(office(120)))


def always(behaviour: str, tmp_path: Path, detector_sha256: str) -> ClerkStage:
    """A stage file whose head puts every clerk in ``behaviour`` (zero weights, the bias on that column)."""
    width = feature_width() + 3
    model = with_head(ROOT / "models/counterwatch-det-v1.onnx", np.zeros(width), np.ones(width),
                      np.zeros((width, 2)), np.array([-4.0, 4.0]), ["none", behaviour])
    path = tmp_path / f"{behaviour}.onnx"
    onnx.save(model, str(path))
    spec = BehaviourSpec(file=path.name, sha256=sha256_file(path), size=160, margin=0.1,
                         classes=["none", behaviour], thresholds={behaviour: 0.9}, detector_sha256=detector_sha256)
    return ClerkStage(path, spec)


def test_a_dozing_column_raises_the_dozing_rule_and_the_shipped_stage_does_not(
        office_clip: Path, holder: DetectorHolder, tmp_path: Path) -> None:
    # The office CCTV clip (16.7 s, 5 fps analysis): clerks seated at stations 1-3 for seconds at a time.
    settings = office(dozing_s=3.0)
    images = analysis_frames(office_clip)
    stage = always("dozing", tmp_path, holder.current.sha256)
    assert stage.active(holder.current.sha256) and stage.handles("dozing")
    started = {e.window for e in events(settings, holder, stage, images)
               if e.rule is Rule.DOZING and e.phase is EventPhase.START}
    assert {"station-1", "station-2"} <= started, "a stage saying dozing for seated clerks must raise 睡岗"
    assert "station-4" not in started  # nobody sits there: no clerk crop, no verdict
    # The shipped stage has a real dozing column (v3, learnt from photos) and these clerks are at work.
    shipped = ClerkStage.from_manifest()
    assert shipped is not None and shipped.handles("dozing")
    assert not [e for e in events(settings, holder, shipped, images) if e.rule is Rule.DOZING]


@pytest.mark.parametrize("includes_drink, fires", [(False, False), (True, True)])
def test_a_drinking_column_raises_eating_only_where_the_hall_forbids_drinking(
        office_clip: Path, holder: DetectorHolder, tmp_path: Path, includes_drink: bool, fires: bool) -> None:
    settings = office(dozing_s=120)
    settings = settings.model_copy(update={"rules": settings.rules.model_copy(
        update={"eating_includes_drink": includes_drink, "eating_s": 3.0})})
    stage = always("drinking", tmp_path, holder.current.sha256)
    started = {e.window for e in events(settings, holder, stage, analysis_frames(office_clip))
               if e.rule is Rule.EATING and e.phase is EventPhase.START}
    assert bool(started) is fires
