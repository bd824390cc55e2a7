"""Scenario clips are rendered from the real footage as their recipe says: grid, timing, the pasted pause
sign (its ArUco marker readable by the edge's reader), a covered lens (dark enough for camera health) and
a frozen picture (unchanged frames)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from edge.health import frame_stats
from edge.sign import ArucoReader
from rigs.scenarios.build import SourceMissing, ensure_clip, write_clip
from rigs.scenarios.spec import DEMO_DIR, SCENARIO_DIR, ClipRecipe, load_scenario


def test_a_recipe_renders_grid_timing_sign_cover_and_freeze(tmp_path: Path, shared_dir: Path) -> None:
    empty = {"source": "standing-table", "start": 1.0, "end": 3.0}
    recipe = ClipRecipe.model_validate({
        "fps": 10, "tile_size": [384, 216], "grid": [2, 1], "crf": 23,
        "tiles": [{"segments": [{**empty, "sign": {"window": 3, "x": 0.59, "y": 0.30, "width": 0.12}}]},
                  {"segments": [{"source": "standing-table", "start": 30.0, "end": 31.0, "repeat": 2}]}],
        "effects": [{"kind": "cover", "start": 1.0, "end": 1.5}, {"kind": "freeze", "start": 1.5, "end": 2.0}],
    })
    out = tmp_path / "clip.mp4"
    assert write_clip(recipe, out, shared_dir / "datasets") == 20
    cap = cv2.VideoCapture(str(out))
    assert cap.get(cv2.CAP_PROP_FPS) == 10.0
    frames: list[npt.NDArray[np.uint8]] = []
    while (ok_frame := cap.read())[0]:
        frames.append(np.asarray(ok_frame[1], dtype=np.uint8))
    cap.release()
    assert len(frames) == 20 and frames[0].shape == (216, 768, 3)

    left = frames[0][:, :384]
    assert [mid for mid, _ in ArucoReader().markers(left)] == [3]  # window 3's printed sign on the table
    assert ArucoReader().markers(frames[0][:, 384:]) == []  # the other tile shows no sign
    assert all(frame_stats(f).mean < 18 for f in frames[10:15])  # the lens is covered
    assert frame_stats(frames[5]).mean > 60
    frozen = [frame_stats(f).thumb for f in frames[15:20]]
    assert all(float(np.abs(t - frozen[0]).mean()) < 0.05 for t in frozen)  # a stuck picture


def test_missing_source_footage_is_named(tmp_path: Path) -> None:
    scenario = load_scenario(SCENARIO_DIR / "camera-covered.yaml")
    with pytest.raises(SourceMissing, match=r"one-by-one-person-detection\.mp4"):
        ensure_clip(scenario, tmp_path / "clips", shared=tmp_path / "no-shared")
    # The shipped demo needs no source footage: its clip ships with a stamp of the recipe it came from.
    demo = load_scenario(DEMO_DIR / "demo-hall.yaml")
    assert ensure_clip(demo, tmp_path / "clips", shared=tmp_path / "no-shared") == DEMO_DIR / "demo-hall.mp4"
