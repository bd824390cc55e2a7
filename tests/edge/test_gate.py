"""The change gate (edge/motion.py) and the detector schedule (edge/schedule.py), on real frames."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import cv2
import numpy as np
import pytest

from broker.payloads import Rule
from edge.motion import ChangeDetector, thumbnail
from edge.rules.engine import rule_specs
from edge.schedule import Reason, WindowSchedule, window_rate
from edge.settings import AnalysisSettings, RuleThresholds

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
RULES = tuple(spec.rule for spec in rule_specs(RuleThresholds()))
STATION_4 = (385, 284, 719, 544)  # an empty desk of the office clip (frame pixels)
ROOT_CONFIG = Path(__file__).resolve().parents[2] / "config/office-cctv.yaml"


def frames(clip: Path, indices: list[int]) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(clip))
    out: list[np.ndarray] = []
    i = 0
    while len(out) < len(indices) and cap.grab():
        if i in indices:
            out.append(cap.retrieve()[1])
        i += 1
    cap.release()
    return out


def test_an_unchanged_desk_is_still_and_a_new_object_moves_it(office_clip: Path) -> None:
    a, b = frames(office_clip, [0, 6])  # 0.2 s apart: compression noise only at the empty desk
    gate = ChangeDetector(STATION_4, threshold=20, min_fraction=0.004)
    assert gate.moved(thumbnail(a, 320))  # nothing to compare against yet
    gate.settle(thumbnail(a, 320))
    assert not gate.moved(thumbnail(b, 320)) and gate.last_fraction < 0.004
    changed = b.copy()
    changed[380:440, 500:560] = 255 - changed[380:440, 500:560]  # something put on the desk
    assert gate.moved(thumbnail(changed, 320))
    elsewhere = b.copy()
    elsewhere[700:800, 100:200] = 0  # a change outside the window's crop does not count for it
    assert not gate.moved(thumbnail(elsewhere, 320))


def test_a_slow_change_adds_up_against_the_reference() -> None:
    base = np.full((360, 640, 3), 100, np.uint8)
    gate = ChangeDetector((0, 0, 640, 360), threshold=20, min_fraction=0.01)
    gate.settle(thumbnail(base, 320))
    moved = []
    for step in range(1, 8):  # 5 grey levels a frame: never 20 between two frames, 35 in the end
        moved.append(gate.moved(thumbnail(base + 5 * step, 320)))
    assert moved[:3] == [False, False, False] and moved[-1]


def test_rates_follow_the_rules_that_apply() -> None:
    s = AnalysisSettings(presence_hz=1.0, behaviour_hz=3.0)
    assert window_rate(s, RULES, present=False) == 1.0  # nobody there: absence/unattended/customers/sign
    assert window_rate(s, RULES, present=True) == 3.0  # a clerk: the phone / eating votes need more
    assert window_rate(s, (Rule.ABSENCE_OVER_30MIN,), present=True) == 1.0


def run(schedule: WindowSchedule, seconds: float, *, moved: bool, present: bool = False,
        unsettled: bool = False, start: float = 0.0, confirming: bool = False) -> list[tuple[float, Reason | None]]:
    out = []
    for n in range(round(seconds * 5)):
        t = start + n * 0.2
        out.append((round(t, 1), schedule.decide(T0 + timedelta(seconds=t), period=0.2, moved=moved,
                                                 present=present, unsettled=unsettled, confirming=confirming)))
    return out


def test_a_still_window_is_only_kept_alive() -> None:
    schedule = WindowSchedule(AnalysisSettings(keepalive_s=2.0), RULES)
    passes = [(t, r) for t, r in run(schedule, 10.0, moved=False) if r is not None]
    assert passes == [(0.0, Reason.FIRST), (2.0, Reason.KEEPALIVE), (4.0, Reason.KEEPALIVE),
                      (6.0, Reason.KEEPALIVE), (8.0, Reason.KEEPALIVE)]
    assert schedule.passes["held"] == 45


@pytest.mark.parametrize(("present", "hz", "gap"), [(False, 1.0, 1.0), (True, 2.0, 0.4)])
def test_motion_is_looked_at_no_slower_than_the_rules_rate(present: bool, hz: float, gap: float) -> None:
    schedule = WindowSchedule(AnalysisSettings(presence_hz=1.0, behaviour_hz=hz), RULES)
    times = [t for t, r in run(schedule, 6.0, moved=True, present=present) if r is not None]
    gaps = {round(b - a, 1) for a, b in pairwise(times)}
    assert gaps == {gap}  # never longer than 1/rate, and not every frame


def test_unsettled_or_forced_windows_are_looked_at_every_frame() -> None:
    schedule = WindowSchedule(AnalysisSettings(), RULES)
    assert all(r is not None for _, r in run(schedule, 3.0, moved=False, unsettled=True))
    schedule = WindowSchedule(AnalysisSettings(), RULES)
    assert {r for _, r in run(schedule, 1.0, moved=False)} == {Reason.FIRST, None}
    forced = WindowSchedule(AnalysisSettings(gate=False), RULES)
    assert {r for _, r in run(forced, 3.0, moved=False)} == {Reason.FORCED}


def test_a_doubted_still_window_is_re_checked_at_the_presence_rate_and_a_change_at_once() -> None:
    # A pass disagreed with the debounced presence (edge/pipeline.py _Gate.judge): on an unchanged picture
    # that is re-checked at presence_hz, not every frame; once the picture changes, at once.
    schedule = WindowSchedule(AnalysisSettings(presence_hz=1.0, behaviour_hz=2.0, keepalive_s=2.0), RULES)
    assert run(schedule, 0.2, moved=False) == [(0.0, Reason.FIRST)]
    still = [(t, r) for t, r in run(schedule, 3.0, moved=False, present=True, confirming=True, start=0.2)
             if r is not None]
    assert still == [(1.0, Reason.CONFIRM), (2.0, Reason.CONFIRM), (3.0, Reason.CONFIRM)]
    changed = run(schedule, 1.0, moved=True, present=True, confirming=True, start=3.2)
    assert [r for _, r in changed] == [Reason.MOTION] * 5


def test_a_small_crop_gets_a_smaller_input_and_the_same_person(shared_dir: Path) -> None:
    # edge/settings.py detector.crop_upscale: a window's crop is enlarged at most that much into the network
    # input. The real model on real 640x360 frames of the static bench clip: the colleague at desk 2, a
    # 126x100 px crop, at 224 instead of 320 px.
    from common.config import load_settings
    from edge.node import load_detector
    from edge.pipeline import WindowAnalyser
    from edge.settings import EdgeSettings

    settings = load_settings(EdgeSettings, Path(__file__).resolve().parents[2] / "rigs/bench_edge_static.yaml")
    settings = settings.model_copy(update={"detector": settings.detector.model_copy(update={"crop_upscale": 1.75})})
    detector = load_detector(settings)
    assert detector.input_size(None) == (320, 320) and detector.input_size(250) == (224, 224)
    assert detector.input_size(1000) == (320, 320)  # never above the model's own size
    clip = shared_dir / "datasets/openoffice-topdown-istock/openoffice_seated_bg_leave.mp4"
    images = frames(clip, [0, 100, 200, 300])
    h, w = images[0].shape[:2]
    desk = WindowAnalyser(config=settings.cameras[0].windows[1], settings=settings, frame_size=(w, h),
                          rules=None)  # type: ignore[arg-type]
    assert desk.input_size == 224
    for image in images:
        full = [d for d in detector.detect_crops(image, [desk.crop])[0] if desk.is_clerk(d)]
        lean = [d for d in detector.detect_crops(image, [desk.crop], size=desk.input_size)[0] if desk.is_clerk(d)]
        best = max(full, key=lambda d: d.score)  # the clerk the 320 px input sees best, found at 224 too
        assert lean and max(_iou(best.box, d.box) for d in lean) > 0.7, (full, lean)
    default = WindowAnalyser(config=settings.cameras[0].windows[1], frame_size=(w, h), rules=None,  # type: ignore[arg-type]
                             settings=load_settings(EdgeSettings, ROOT_CONFIG))
    assert default.input_size is None


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)
