"""The staff zone's zoomed view (edge/clerk_view.py): when a window gets one, how its detections merge, and on
real fisheye reception footage that it finds the far receptionist the window's own crop loses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import pytest

from edge.clerk_view import clerk_view, merge_views
from edge.detect import Detection, DetectorHolder
from edge.node import load_detector
from edge.pipeline import CameraPipeline
from edge.settings import EdgeSettings
from edge.sources import Frame
from tests.edge.test_clerk_stage_rules import PERIOD, T0, office

RECEPTION = "datasets/reception-desk-fisheye/reception_fisheye.mp4"


@pytest.mark.parametrize(("crop", "staff", "zoom", "expected"), [
    ((0, 0, 300, 200), (0, 0, 100, 80), 2.0, (0, 0, 100, 80)),  # 3x: zoomed
    ((0, 0, 300, 200), (0, 0, 200, 80), 2.0, None),  # 1.5x: the crop already shows the clerk
    ((0, 0, 300, 200), (0, 0, 100, 80), None, None),  # switched off
    ((0, 0, 300, 200), (0, 0, 0, 0), 2.0, None),  # degenerate staff zone
])
def test_a_window_gets_a_zoomed_view_only_where_it_enlarges_the_clerk(
        crop: tuple[int, int, int, int], staff: tuple[int, int, int, int], zoom: float | None,
        expected: tuple[int, int, int, int] | None) -> None:
    assert clerk_view(crop, staff, zoom) == expected


def _is_clerk(d: Detection) -> bool:
    return d.label == "person" and d.box[0] < 100  # the staff zone: x < 100


def test_the_clerk_comes_from_the_zoomed_view_and_the_customers_from_the_window() -> None:
    window = [Detection("person", 0.35, (10, 10, 60, 90)),  # the clerk, weakly seen small
              Detection("person", 0.8, (150, 20, 220, 180)),  # a customer
              Detection("phone", 0.4, (30, 40, 40, 50))]
    zoomed = [Detection("person", 0.9, (12, 8, 62, 92)),  # the same clerk, enlarged
              Detection("person", 0.5, (140, 20, 200, 180)),  # the customer's edge, cut by the staff crop
              Detection("phone", 0.7, (31, 41, 41, 51)), Detection("drink", 0.5, (70, 60, 80, 75))]
    merged = merge_views(window, zoomed, _is_clerk, iou=0.5)
    people = sorted((d.score, d.box) for d in merged if d.label == "person")
    assert people == [(0.8, (150, 20, 220, 180)), (0.9, (12, 8, 62, 92))]
    assert sorted((d.label, d.score) for d in merged if d.label != "person") == [("drink", 0.5), ("phone", 0.7)]


def test_no_clerk_in_the_zoomed_view_means_no_clerk() -> None:
    """The zoomed view answers for the staff zone: the window crop's weak clerk box does not survive it."""
    merged = merge_views([Detection("person", 0.31, (10, 10, 60, 90))], [], _is_clerk, iou=0.5)
    assert merged == []


def _reception(zoom: float | None) -> EdgeSettings:
    """config/scenarios/reception-call-*.yaml's windows on the office config, at the edge's default floor."""
    settings = office(dozing_s=120)
    camera = settings.cameras[0]
    visitors = [(0.28, 0.30), (0.52, 0.30), (0.52, 0.78), (0.28, 0.78)]
    far = camera.windows[0].model_copy(update={"zones": camera.windows[0].zones.model_copy(update={
        "staff": [(0.10, 0.38), (0.27, 0.38), (0.27, 0.62), (0.10, 0.62)], "customer": visitors,
        "counter": None})})
    return settings.model_copy(update={
        "detector": settings.detector.model_copy(update={"confidence": 0.3, "clerk_zoom": zoom}),
        "cameras": [camera.model_copy(update={"windows": [far]})]})


def _frames_with_the_clerk(settings: EdgeSettings, images: list[Any]) -> int:
    holder = DetectorHolder(load_detector(settings))
    pipeline = CameraPipeline(settings.cameras[0], settings, holder, lambda _m: None)
    seen = 0
    for n, image in enumerate(images):
        pipeline.process(Frame("cam5", image, T0 + n * PERIOD, n), forced=True)
        seen += any(pipeline.windows[0].is_clerk(d) for d in pipeline.gates[0].held)
    return seen


def test_the_far_receptionist_is_found_in_the_zoomed_view(shared_dir: Path) -> None:
    """The seated receptionist at the far desk is there the whole clip (its DATASET.md): every 0.5 s, how
    often the window holds her, with the presence verifier on, as the scenario bench runs it."""
    cap = cv2.VideoCapture(str(shared_dir / RECEPTION))
    step = round(cap.get(cv2.CAP_PROP_FPS) / 2)
    images, i = [], 0
    while cap.grab():
        if i % step == 0:
            images.append(cap.retrieve()[1])
        i += 1
    cap.release()
    assert len(images) >= 40
    alone, zoomed = _frames_with_the_clerk(_reception(None), images), _frames_with_the_clerk(_reception(2.0), images)
    assert zoomed >= 0.6 * len(images) and zoomed >= alone + 0.15 * len(images), (alone, zoomed, len(images))
