"""The presence verifier on real frames: an empty office chair seen from above is not a clerk; a seated
clerk is. The frames are from the openoffice-arrival scenario's clip and the office-nix clip, which no
training or threshold choice of the verifier read (models/presence_clips.py TEST)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from models.presence_clips import Polygon, window_crop, zone_overlap
from vision.detector import Detection, Detector
from vision.presence import CUES, PresenceHead, PresenceVerifier, TeacherCues, verify_people

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "models/manifest.json"
OPENOFFICE_STAFF: Polygon = ((0.48, 0.62), (0.72, 0.62), (0.72, 1.0), (0.48, 1.0))  # openoffice-arrival w01


def frame_at(clip: Path, t: float) -> np.ndarray:
    cap = cv2.VideoCapture(str(clip))
    cap.set(cv2.CAP_PROP_POS_MSEC, t * 1000)
    ok, image = cap.read()
    cap.release()
    assert ok, f"{clip} has no frame at {t} s"
    return image


def in_zone(d: Detection, zone: Polygon, size: tuple[int, int]) -> bool:
    """A clerk candidate as the edge counts one: >= 30 % of the box inside the staff zone."""
    return d.label == "person" and zone_overlap(zone, d.box, size) >= 0.3


def detect_window(detector: Detector, image: np.ndarray, zone: Polygon) -> list[Detection]:
    """The detector on the window's crop (the zone's padded bbox), as the edge runs it."""
    size = (image.shape[1], image.shape[0])
    return detector.detect_crops(image, [window_crop([zone], 0.15, size)])[0]


@pytest.fixture(scope="module")
def verifier() -> PresenceVerifier:
    entry = json.loads(MANIFEST.read_text())["presence"]
    head = PresenceHead(**{k: tuple(v) for k, v in entry["head"].items() if k in ("mean", "std", "weight")},
                        bias=entry["head"]["bias"], threshold=entry["threshold"])
    assert entry["head"]["cues"] == list(CUES)
    i = entry["input"]
    return PresenceVerifier(TeacherCues(MANIFEST.parent / entry["file"], i["size"], i["margin"], i["iou"]), head)


@pytest.fixture(scope="module")
def detector() -> Detector:
    entry = json.loads(MANIFEST.read_text())
    return Detector(MANIFEST.parent / entry["file"], confidence=0.08)  # config/office-cctv.yaml's floor


@pytest.fixture(scope="module")
def openoffice(shared_dir: Path) -> Path:
    return shared_dir / "datasets/openoffice-topdown-istock/openoffice_arrive_sit.mp4"


@pytest.mark.parametrize("t", [2.0, 10.0, 18.0])
def test_an_empty_office_chair_seen_from_above_is_not_presence(openoffice: Path, detector: Detector,
                                                              verifier: PresenceVerifier, t: float) -> None:
    image = frame_at(openoffice, t)  # the foreground desk is empty until 23 s (DATASET.md)
    size = (image.shape[1], image.shape[0])
    dets = detect_window(detector, image, OPENOFFICE_STAFF)
    chair = [d for d in dets if in_zone(d, OPENOFFICE_STAFF, size)]
    assert chair and max(d.score for d in chair) >= 0.3, "the detector alone calls the empty chair a person"
    kept = verify_people(verifier, image, dets, lambda d: in_zone(d, OPENOFFICE_STAFF, size))
    assert not [d for d in kept if in_zone(d, OPENOFFICE_STAFF, size)]
    # Only the staff-zone candidates were judged: everything else passes untouched, in its order.
    assert [d for d in kept] == [d for d in dets if d not in chair]


@pytest.mark.parametrize("t", [29.5, 31.0, 32.5])
def test_a_seated_clerk_seen_from_above_is_presence(openoffice: Path, detector: Detector,
                                                    verifier: PresenceVerifier, t: float) -> None:
    image = frame_at(openoffice, t)  # seated and working from 28 s
    size = (image.shape[1], image.shape[0])
    dets = detect_window(detector, image, OPENOFFICE_STAFF)
    kept = verify_people(verifier, image, dets, lambda d: in_zone(d, OPENOFFICE_STAFF, size))
    clerks = [d for d in kept if in_zone(d, OPENOFFICE_STAFF, size)]
    assert clerks and max(d.score for d in clerks) >= 0.5


def test_seated_staff_on_ceiling_cctv_stay_present(shared_dir: Path, detector: Detector,
                                                   verifier: PresenceVerifier) -> None:
    # office-nix: B (centre desk) and W (front right) seated and typing at 20 s.
    image = frame_at(shared_dir / "datasets/office-cctv-nix-4desks/office_cctv_nix.mp4", 20.0)
    size = (image.shape[1], image.shape[0])
    zones: list[Polygon] = [((0.27, 0.30), (0.45, 0.30), (0.45, 0.62), (0.27, 0.62)),
                            ((0.70, 0.50), (1.0, 0.50), (1.0, 1.0), (0.70, 1.0))]
    for zone in zones:
        dets = detect_window(detector, image, zone)

        def clerk(d: Detection, z: Polygon = zone) -> bool:
            return in_zone(d, z, size)

        kept = verify_people(verifier, image, dets, clerk)
        assert any(clerk(d) for d in kept)


def test_the_head_is_monotone_in_the_teacher_person_score(verifier: PresenceVerifier) -> None:
    cues = np.array([[0.5, p, 0.01, 0.01] for p in (0.001, 0.05, 0.3, 0.8)], np.float32)
    probs = verifier.head.probs(cues)
    assert np.all(np.diff(probs) > 0)
    assert probs[0] < verifier.head.threshold < probs[-1]


def test_no_candidate_no_work(verifier: PresenceVerifier) -> None:
    image = np.zeros((64, 64, 3), np.uint8)
    sign = Detection("pause_sign", 0.9, (1, 1, 20, 20))
    assert verify_people(verifier, image, [sign], lambda d: True) == [sign]
    assert verifier.person_probs(image, [], []).shape == (0,)
