"""Any number of cameras may share one detector: 4 camera threads run the shipped model on real CCTV frames
through one :class:`vision.detector.Detector` at once, and every result equals the serial run's.

Before the core kept each call's input per thread, the shared batch buffer was overwritten by another camera
between letterbox and ``session.run`` (12 of 120 calls came back with another camera's detections)."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.detect import default_model
from vision.detector import Detection, Detector, Rect

CAMERAS = 4
CALLS = 30  # per camera: 120 calls in all
# Each camera looks at its own windows (different crop sizes, so their letterboxes differ too).
WINDOWS: list[list[Rect]] = [
    [(0, 0, 400, 300), (400, 0, 800, 300)],
    [(100, 150, 700, 450)],
    [(0, 200, 260, 450), (260, 200, 520, 450), (520, 200, 800, 450)],
    [(50, 0, 350, 449)],
]


def _frames(clip: Path, n: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(clip))
    frames: list[np.ndarray] = []
    while len(frames) < n:
        ok, frame = cap.read()
        assert ok, f"{clip} ended after {len(frames)} frames"
        for _ in range(4):  # every 5th frame: people move between them
            cap.grab()
        h, w = frame.shape[:2]
        frames.append(np.ascontiguousarray(cv2.resize(frame, (800, round(h * 800 / w)))))
    cap.release()
    return frames


@pytest.fixture(scope="module")
def detector() -> Detector:
    shipped = default_model()
    return Detector(shipped.path, sha256=shipped.sha256, version=shipped.version, confidence=0.05)


def test_four_cameras_on_one_detector_match_the_serial_run(detector: Detector, office_clip: Path) -> None:
    frames = _frames(office_clip, 8)
    # camera c, call k: frame (c * 3 + k) of the sample, its own windows
    jobs = [[(frames[(c * 3 + k) % len(frames)], WINDOWS[c]) for k in range(CALLS)] for c in range(CAMERAS)]
    serial = {(c, k): detector.detect_crops(f, rects) for c in range(CAMERAS) for k, (f, rects) in enumerate(jobs[c])}
    assert sum(len(d) for r in serial.values() for d in r) > 100  # real detections to compare

    concurrent: dict[tuple[int, int], list[list[Detection]]] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(CAMERAS)

    def camera(c: int) -> None:
        try:
            start.wait()
            for k, (frame, rects) in enumerate(jobs[c]):
                concurrent[(c, k)] = detector.detect_crops(frame, rects)
        except BaseException as e:  # reported below, with the thread's own traceback
            errors.append(e)

    threads = [threading.Thread(target=camera, args=(c,), name=f"camera-{c}") for c in range(CAMERAS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    wrong = [key for key, result in serial.items() if concurrent[key] != result]
    assert not wrong, f"{len(wrong)} of {len(serial)} concurrent calls differ from the serial run: {wrong[:5]}"


def test_each_thread_has_its_own_input_buffer(detector: Detector) -> None:
    mine = detector._batch(2)
    theirs: list[np.ndarray] = []
    t = threading.Thread(target=lambda: theirs.append(detector._batch(2)))
    t.start()
    t.join()
    assert not np.shares_memory(mine, theirs[0])
    assert np.shares_memory(mine, detector._batch(1))  # reused within a thread: no allocation per frame
