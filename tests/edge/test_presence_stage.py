"""The presence verifier wired into the edge: the manifest entry, the sha256 check, and the camera pipeline on
real frames of the openoffice-arrival clip (an empty office chair from above, then the clerk seated)."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import BaseModel

from broker.payloads import StateMessage
from common.config import load_settings
from edge.detect import DetectorHolder, ModelError
from edge.node import load_detector
from edge.pipeline import CameraPipeline
from edge.presence import MANIFEST, PresenceStage, shipped_presence
from edge.settings import EdgeSettings
from edge.sources import Frame
from edge.zones import Zone, union_bbox
from models.presence_clips import OPENOFFICE_ZONE, window_crop, zone_overlap
from vision.detector import Detection
from vision.presence import box_iou

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
PERIOD = timedelta(seconds=0.2)  # 5 fps analysis


def frames(clip: Path, start_s: float, end_s: float, step_s: float = 0.2) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(clip))
    fps = cap.get(cv2.CAP_PROP_FPS)
    out, i = [], 0
    while cap.grab():
        t = i / fps
        if t > end_s:
            break
        if t >= start_s and abs(t / step_s - round(t / step_s)) * step_s < 0.5 / fps:
            out.append(cap.retrieve()[1])
        i += 1
    cap.release()
    return out


def settings_for(verifier: bool) -> EdgeSettings:
    """config/office-cctv.yaml's detector floor (0.08) and presence timing, one window on the openoffice desk."""
    settings = load_settings(EdgeSettings, ROOT / "config/office-cctv.yaml")
    camera = settings.cameras[0].model_validate({
        "id": "cam1", "source": "openoffice.mp4",
        "windows": [{"id": "w01", "number": 1, "zones": {"staff": [list(p) for p in OPENOFFICE_ZONE]}}]})
    return settings.model_copy(update={
        "cameras": [camera], "evidence": settings.evidence.model_copy(update={"enabled": False}),
        "detector": settings.detector.model_copy(update={"presence_verifier": verifier})})


def presence_states(settings: EdgeSettings, holder: DetectorHolder, images: list[np.ndarray]) -> list[bool]:
    out: list[BaseModel] = []
    pipeline = CameraPipeline(settings.cameras[0], settings, holder, out.append)
    assert (pipeline.presence_stage is not None) == settings.detector.presence_verifier
    for n, image in enumerate(images):
        pipeline.process(Frame("cam1", image, T0 + n * PERIOD, n), forced=True)
    return [m.present for m in out if isinstance(m, StateMessage)]


@pytest.fixture(scope="module")
def holder() -> DetectorHolder:
    return DetectorHolder(load_detector(settings_for(True)))


@pytest.fixture(scope="module")
def openoffice(shared_dir: Path) -> Path:
    return shared_dir / "datasets/openoffice-topdown-istock/openoffice_arrive_sit.mp4"


def test_an_empty_desk_reads_absent_with_the_verifier_and_present_without(openoffice: Path,
                                                                          holder: DetectorHolder) -> None:
    empty = frames(openoffice, 1.0, 9.0)  # nobody at the foreground desk until 23 s (DATASET.md)
    assert len(empty) >= 35
    assert not any(presence_states(settings_for(True), holder, empty))
    assert any(presence_states(settings_for(False), holder, empty)), "the detector alone takes the chair for a clerk"


def test_a_seated_clerk_reads_present_with_the_verifier(openoffice: Path, holder: DetectorHolder) -> None:
    seated = frames(openoffice, 29.0, 33.0)  # seated and working from 28 s
    states = presence_states(settings_for(True), holder, seated)
    assert states and states[-1] and sum(states) >= len(states) - 2  # present from enter_s (1 s) on


def test_the_manifest_entry_loads_and_a_tampered_file_is_refused(tmp_path: Path) -> None:
    shipped = shipped_presence()
    assert shipped is not None
    path, spec = shipped
    assert len(spec.weight) == 4 and 0 < spec.threshold < 1
    stage = PresenceStage(path, spec)
    manifest = json.loads(MANIFEST.read_text())
    assert stage.active(manifest["sha256"]) and not stage.active("0" * 64)
    copy = tmp_path / path.name
    shutil.copyfile(path, copy)
    with copy.open("ab") as f:
        f.write(b"\0")
    with pytest.raises(ModelError, match="sha256"):
        PresenceStage(copy, spec)


def test_the_training_geometry_is_the_edges() -> None:
    # models/ may not import edge/: its copy of the zone overlap and window crop must agree with the edge's.
    rng = np.random.default_rng(3)
    size = (640, 360)
    polygon = ((0.30, 0.20), (0.80, 0.25), (0.75, 0.90), (0.20, 0.70))
    zone = Zone(polygon, size)
    for _ in range(50):
        x1, y1 = rng.uniform(0, 500), rng.uniform(0, 300)
        box = (x1, y1, x1 + rng.uniform(5, 200), y1 + rng.uniform(5, 200))
        assert zone_overlap(polygon, box, size) == zone.overlap(box)
    assert window_crop([polygon], 0.15, size) == union_bbox([zone], 0.15, size)


def test_a_still_candidate_reuses_its_verdict_and_a_changed_picture_does_not(openoffice: Path,
                                                                           holder: DetectorHolder) -> None:
    stage = PresenceStage.from_manifest()
    assert stage is not None
    detector = holder.current
    still = frames(openoffice, 2.0, 2.4)  # the empty chair, nobody moving (DATASET.md)
    seated = frames(openoffice, 30.0, 30.0)[0]
    size = (still[0].shape[1], still[0].shape[0])
    crop = window_crop([OPENOFFICE_ZONE], 0.15, size)

    def clerk(d: Detection) -> bool:
        return zone_overlap(OPENOFFICE_ZONE, d.box, size) >= 0.3

    def candidates(image: np.ndarray) -> list[Detection]:
        return detector.detect_crops(image, [crop], confidence=0.08)[0]

    first = candidates(still[0])
    n = sum(d.label == "person" and clerk(d) for d in first)
    assert n >= 1, "the chair is a person candidate at 0.08"
    judged = stage.verify(still[0], first, clerk, detector.sha256)
    assert stage.runs == n
    for image in still[1:]:  # same boxes, same picture: the verifier does not run again, same verdict
        later = candidates(image)
        assert [d.box for d in stage.verify(image, later, clerk, detector.sha256) if d.label == "person"] == \
            [d.box for d in later if d.label == "person" and any(box_iou(d.box, j.box) > 0.9 for j in judged)]
    assert stage.runs == n
    stage.verify(still[-1], candidates(still[-1]), clerk, detector.sha256, moved=True)  # motion: judged afresh
    assert stage.runs > n
    runs = stage.runs
    stage.verify(seated, first, clerk, detector.sha256)  # the same boxes over a changed picture: judged afresh
    assert stage.runs == runs + n
    fresh = PresenceStage.from_manifest()
    assert fresh is not None
    assert stage.verify(still[0], first, clerk, detector.sha256, window="other") == \
        fresh.verify(still[0], first, clerk, detector.sha256)


def test_the_cameras_of_a_node_share_one_presence_network_and_keep_their_own_verdicts() -> None:
    """One onnxruntime session per node (issue #16's memory budget: 8 cameras 474 -> 285 MB on the static
    bench clip), while a window's reused verdicts stay its own camera's."""
    settings = load_settings(EdgeSettings, ROOT / "config/edge.example.yaml")
    verifier_on = settings.detector.model_copy(update={"presence_verifier": True})
    settings = settings.model_copy(update={"detector": verifier_on})
    holder = DetectorHolder(load_detector(settings))
    one, two = (CameraPipeline(settings.cameras[0], settings, holder, lambda _m: None) for _ in range(2))
    assert one.presence_stage is not None and two.presence_stage is not None
    assert one.presence_stage is not two.presence_stage
    assert one.presence_stage.verifier is two.presence_stage.verifier
    one.presence_stage.verdicts["w01"] = []
    assert "w01" not in two.presence_stage.verdicts
