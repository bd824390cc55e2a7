"""Camera health from frames: frozen, dark, covered, lost; and that a blind camera pauses staff rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from edge.health import CameraHealthMonitor

T0 = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


def scene(i: int) -> np.ndarray:
    rng = np.random.default_rng(i)
    return rng.integers(40, 220, (90, 160, 3), dtype=np.uint8)


def run(monitor: CameraHealthMonitor, images: list[np.ndarray], start: float = 0.0, step: float = 0.2) -> list[str]:
    return [monitor.on_frame(img, T0 + timedelta(seconds=start + i * step)) for i, img in enumerate(images)]


def test_live_scene_is_ok() -> None:
    assert run(CameraHealthMonitor(), [scene(i) for i in range(20)])[-1] == "ok"


def test_frozen_picture() -> None:
    m = CameraHealthMonitor()
    run(m, [scene(i) for i in range(5)])
    still = scene(99)
    statuses = run(m, [still] * 100, start=1.0)  # 20 s of an identical picture
    assert statuses[40] == "ok"  # 8 s: a still scene is not yet a frozen camera
    assert statuses[-1] == "frozen"
    assert m.since == T0 + timedelta(seconds=1.0)  # dated from the picture's last change, not its recognition
    assert run(m, [scene(1000 + i) for i in range(15)], start=21.0)[-1] == "ok"


def test_dark_and_covered_need_confirmation() -> None:
    m = CameraHealthMonitor()
    run(m, [scene(i) for i in range(5)])
    dark = np.full((90, 160, 3), 5, np.uint8)
    assert run(m, [dark] * 3, start=1.0)[-1] == "ok"  # one flicker of darkness is not a dark camera
    assert run(m, [dark] * 15, start=1.6)[-1] == "dark"
    m2 = CameraHealthMonitor()
    run(m2, [scene(i) for i in range(5)])
    grain = np.random.default_rng(0).integers(0, 3, (90, 160, 3), dtype=np.uint8)
    covered = np.full((90, 160, 3), 120, np.uint8) + grain
    assert run(m2, [covered] * 15, start=1.0)[-1] == "obstructed"


def test_lost_stream_and_silence_are_offline() -> None:
    m = CameraHealthMonitor()
    run(m, [scene(i) for i in range(5)])
    assert m.on_lost(T0 + timedelta(seconds=2)) == "offline"
    assert run(m, [scene(50)], start=3)[-1] == "ok"
    assert m.tick(T0 + timedelta(seconds=4)) == "ok"
    assert m.tick(T0 + timedelta(seconds=9)) == "offline"  # no frames for 6 s


def test_key_frame_flicker_does_not_thaw_a_frozen_picture() -> None:
    """A DVR re-encoding its last picture: every 2 s a key frame shifts the picture a little, and the frames
    predicted from it look like it. Each shift is a lone small change, never motion."""
    m = CameraHealthMonitor()
    run(m, [scene(i) for i in range(5)])
    still = scene(99).astype(np.int16)
    frames = []
    for gop in range(10):  # 20 s, a key frame every 2 s
        shifted = still.copy()
        shifted[gop % 3::3] += 1  # about a third of the pixels one grey level up
        frames += [np.clip(shifted, 0, 255).astype(np.uint8)] * 10
    statuses = run(m, frames, start=1.0)
    assert statuses[-1] == "frozen"


def test_sensor_noise_keeps_a_still_scene_live() -> None:
    """A real still scene changes a little in every frame (sensor noise): never frozen."""
    m = CameraHealthMonitor()
    base = scene(7).astype(np.int16)
    rng = np.random.default_rng(0)
    frames = [np.clip(base + rng.integers(-3, 4, base.shape), 0, 255).astype(np.uint8) for _ in range(120)]
    assert set(run(m, frames)) == {"ok"}
