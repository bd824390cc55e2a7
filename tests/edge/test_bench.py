"""`counterwatch bench edge` runs the real pipeline on the real clip and prints the figures it promises."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_bench_edge_prints_json(office_clip: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "counterwatch.cli", "bench", "edge", "--config", str(ROOT / "config/office-cctv.yaml"),
         "--video", str(office_clip), "--cameras", "2", "--frames", "6", "--imgsz", "320"],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["cameras"] == 2 and result["frames_per_camera"] == 5
    assert result["frames_per_s_per_core"] > 0 and result["cameras_per_core_at_5fps"] > 0
    assert result["cameras_per_core_at_rules_rates"] > 0
    assert {"decode", "inference", "rules", "encode", "motion", "health"} <= set(result["ms_per_stage"])
    assert result["model"] == json.loads((ROOT / "models/manifest.json").read_text())["version"]
    for name in ("rules", "forced"):
        p = result[name]
        # Honest accounting: no stage is negative and together they are the frame's whole CPU cost.
        assert all(v >= 0 for v in p["ms_per_stage"].values()), p["ms_per_stage"]
        assert sum(p["ms_per_stage"].values()) == pytest.approx(p["ms_per_frame"], abs=0.05)
        assert p["window_frames"] == 2 * 5 * 4
    assert result["forced"]["gated_out_fraction"] == 0 and result["forced"]["detector_passes"] == {"forced": 40}
    assert 0 <= result["rules"]["gated_out_fraction"] < 1
    assert result["peak_rss_mb"] > result["replay_buffer_mb"] > 0
    # The pipelines' own peak (from model load on, less the replay buffer) is within the whole run's.
    assert 0 < result["pipelines_peak_rss_mb"] <= result["peak_rss_mb_without_replay_buffer"] + 1  # two counters
    for name in ("rules", "forced"):  # clips are a cost per recording; the steady figure leaves them out
        p = result[name]
        assert 0 < p["ms_per_frame_without_clips"] <= p["ms_per_frame"]
        assert p["clip_recordings_encoded"] <= p["clips"]
    assert isinstance(result["gated_event_starts_match_forced"], bool)


def test_presence_shift_is_the_largest_gap_between_matching_changes() -> None:
    from rigs.bench_edge import presence_shift

    full = {"presence_changes": {"w1": [[0.0, False], [11.0, True]], "w2": [[0.0, False]]}, "event_starts": []}
    gated = {"presence_changes": {"w1": [[0.0, False], [13.0, True]], "w2": [[0.0, False]]}, "event_starts": []}
    assert presence_shift(gated, full) == 2.0
    assert presence_shift(full, full) == 0.0
    assert presence_shift({"presence_changes": {"w1": [[0.0, False]], "w2": [[0.0, False]]}}, full) is None


def test_each_camera_count_of_a_list_runs_in_a_process_of_its_own() -> None:
    """A peak RSS only says something of one camera count when no other count ran in that process before."""
    import argparse

    from rigs.bench_edge import add_arguments, child_command

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--cameras", "1,4", "--realtime", "30", "--precision", "int8", "--no-forced"])
    cmd = child_command(args, 4)
    assert cmd[:3] == [sys.executable, "-m", "counterwatch.cli"]
    joined = " ".join(cmd)
    assert "--cameras 4 " in joined and "--realtime 30.0" in joined and "--precision int8" in joined
    assert "--no-forced" in cmd and "1,4" not in joined
