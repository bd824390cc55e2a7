"""The clerk stage sees its cues the way it was trained: every phone / food / drink candidate down to
``vision.clerk.CUE_CONFIDENCE`` (models/behaviour_data.py built its features that way), while every other
consumer of the same pass (presence, rules, evidence boxes) keeps the detector's own floor. At the edge's
default 0.3 a weakly seen phone was a cue of 0 the head never learned from (a train/serve skew).

Real office CCTV frames from ../shared through the real pipeline and the shipped stage; the stage is the
shipped one, wrapped only to record what it was handed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from edge.clerk_stage import ClerkStage, ClerkVerdict
from edge.detect import Detection, DetectorHolder
from edge.node import load_detector
from edge.pipeline import CameraPipeline
from edge.settings import EdgeSettings
from edge.sources import Frame
from tests.edge.test_clerk_stage_rules import PERIOD, T0, office
from vision.clerk import CUE_CONFIDENCE, CUE_LABELS

FLOOR = 0.3  # the edge's default detector.confidence


class Recording(ClerkStage):
    """The shipped stage, remembering the cue candidates of each call."""

    handed: list[list[Detection]]

    def verdicts(self, image: npt.NDArray[np.uint8], clerks: Sequence[Detection], objects: Sequence[Detection]
                 ) -> list[ClerkVerdict]:
        self.handed.append(list(objects))
        return super().verdicts(image, clerks, objects)


SUSPISENSE = "datasets/suspisense-phone/images/train/0P1-100-_jpg.rf.dad7452bd20f4e5502abb4fa39a46607.jpg"


def whole_frame_window(floor: float) -> EdgeSettings:
    """The office config with one window whose staff zone is the whole picture, at ``floor``."""
    settings = office(dozing_s=120)
    camera = settings.cameras[0]
    window = camera.windows[0].model_copy(update={"zones": camera.windows[0].zones.model_copy(update={
        "staff": [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)], "counter": None})})
    return settings.model_copy(update={
        "detector": settings.detector.model_copy(update={"confidence": floor}),
        "cameras": [camera.model_copy(update={"windows": [window]})]})


def test_the_stage_gets_cues_down_to_its_floor_and_the_rules_do_not(shared_dir: Path) -> None:
    # A real classroom frame (SuspiSense train): one student, phone candidates at 0.23, 0.12 and 0.10.
    read = cv2.imread(str(shared_dir / SUSPISENSE))
    assert read is not None
    image: npt.NDArray[np.uint8] = read.astype(np.uint8)
    settings = whole_frame_window(FLOOR)
    holder = DetectorHolder(load_detector(settings))
    shipped = ClerkStage.from_manifest()
    assert shipped is not None and shipped.active(holder.current.sha256)
    stage = Recording.__new__(Recording)
    stage.__dict__.update(shipped.__dict__, handed=[])
    pipeline = CameraPipeline(settings.cameras[0], settings, holder, lambda _m: None)
    pipeline.clerk_stage = stage
    for n in range(3):
        pipeline.process(Frame("cam5", image, T0 + n * PERIOD, n), forced=True)

    assert stage.handed, "the student in the staff zone must reach the stage"
    cues = [d for call in stage.handed for d in call]
    assert all(d.label in CUE_LABELS and d.score >= CUE_CONFIDENCE - 1e-6 for d in cues)
    assert any(d.label == "phone" and d.score < FLOOR for d in cues), "weak phones must reach the stage"
    held = [d for gate in pipeline.gates for d in gate.held]
    assert held and all(d.score >= FLOOR - 1e-6 for d in held), "the rules keep the detector's own floor"
