"""The shipped per-clerk behaviour stage on real footage from ../shared: a phone lying on the desk, a bottle
standing on the desk and a clerk typing with empty hands raise no behaviour once voted (K of N) as the edge
does; a tampered model file is refused; another detector runs without the stage."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.behaviours import Vote, stage_score
from edge.clerk_stage import ClerkStage, shipped_behaviour
from edge.detect import Detection, Detector, ModelError
from edge.settings import RuleThresholds
from vision.clerk import clerk_cues

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "datasets"
MANIFEST = ROOT / "models/manifest.json"
pytestmark = pytest.mark.skipif(not SHARED.is_dir(), reason="needs ../shared")


@pytest.fixture(scope="module")
def stage() -> ClerkStage:
    s = ClerkStage.from_manifest(MANIFEST)
    assert s is not None, "the manifest ships a behaviour stage"
    return s


@pytest.fixture(scope="module")
def detector() -> Detector:
    _path, spec = shipped_behaviour(MANIFEST) or (None, None)
    assert spec is not None
    d = Detector(ROOT / "models/counterwatch-det-v1.onnx", confidence=0.3)
    assert d.sha256 == spec.detector_sha256
    return d


def frames(clip: Path, start_s: float, end_s: float, fps: float = 5.0) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(clip))
    native = cap.get(cv2.CAP_PROP_FPS) or 25.0
    step, i, out = max(1, round(native / fps)), 0, []
    while True:
        ok, frame = cap.read()
        if not ok or i / native > end_s:
            break
        if i / native >= start_s and i % step == 0:
            out.append(frame)
        i += 1
    cap.release()
    return out


def nearest_person(dets: list[Detection]) -> Detection:
    """The clerk nearest the (high, looking-down) camera: the person box reaching lowest in the frame."""
    people = [d for d in dets if d.label == "person"]
    assert people
    return max(people, key=lambda d: d.box[3])


def voted(stage: ClerkStage, detector: Detector, images: list[np.ndarray]) -> tuple[int, bool]:
    """(frames whose verdict was phone use, whether the K-of-N vote ever turned on)."""
    t = RuleThresholds()
    vote, flagged, ever = Vote(t.vote_k, t.vote_n), 0, False
    for image in images:
        dets = detector.detect(image)
        clerk = nearest_person(dets)
        (verdict,) = stage.verdicts(image, [clerk], [d for d in dets if d.label in ("phone", "food", "drink")])
        flagged += verdict.label != "none"
        ever |= vote.update(*stage_score([verdict], "phone_use")).active
    return flagged, ever


def test_phone_lying_on_the_desk_is_not_phone_use(stage: ClerkStage, detector: Detector) -> None:
    # openoffice arrive-and-sit: from 28 s the seated worker types, his phone lies beside the keyboard.
    images = frames(SHARED / "openoffice-topdown-istock/openoffice_arrive_sit.mp4", 28.5, 33.0)
    assert len(images) >= 20
    flagged, ever = voted(stage, detector, images)
    assert not ever, f"phone use voted on for a phone on the desk ({flagged}/{len(images)} frames flagged)"


def test_clerk_typing_with_empty_hands_raises_nothing(stage: ClerkStage, detector: Detector) -> None:
    images = frames(SHARED / "nurse-station-istock/nurse_station_counter.mp4", 1.0, 6.0)
    flagged, ever = voted(stage, detector, images)
    assert not ever and flagged <= 1


def test_bottle_standing_on_the_desk_is_no_behaviour(stage: ClerkStage, detector: Detector) -> None:
    # suspisense val (grayscale), an exam room: a water bottle stands on the desk inside the boxes of a
    # standing and a seated student; neither drinks (the v1 "object centre in the person box" trap).
    path = (SHARED / "suspisense-phone/images/val"
            / "Holding_Mobile_Phone_076_mp4-6_jpg.rf.00567d7fb3d90906c25cbad6ec1b6ce1.jpg")
    image = np.asarray(cv2.imread(str(path)), np.uint8)
    dets = Detector(ROOT / "models/counterwatch-det-v1.onnx", confidence=0.2).detect(image)
    bottles = [d for d in dets if d.label == "drink"]
    writers = [p for p in dets if p.label == "person" and any(clerk_cues(p.box, [b], 0.1)[2] > 0 for b in bottles)]
    assert writers, "the bottle stands inside the writing student's (grown) box: the v1 rule's trap"
    objects = [d for d in dets if d.label in ("phone", "food", "drink")]
    assert [v.label for v in stage.verdicts(image, writers, objects)] == ["none"] * len(writers)


def test_tampered_stage_is_refused_and_other_detectors_run_without_it(tmp_path: Path, stage: ClerkStage) -> None:
    shipped = shipped_behaviour(MANIFEST)
    assert shipped is not None
    path, spec = shipped
    bad = tmp_path / path.name
    shutil.copy(path, bad)
    with bad.open("r+b") as f:
        f.seek(-1, 2)
        f.write(b"\x00")
    with pytest.raises(ModelError, match="sha256"):
        ClerkStage(bad, spec)
    assert stage.active(spec.detector_sha256) and not stage.active("0" * 64)
