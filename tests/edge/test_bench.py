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
         "--video", str(office_clip), "--cameras", "2", "--frames", "4", "--imgsz", "320"],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["cameras"] == 2 and result["frames_per_camera"] == 3
    assert result["frames_per_s_per_core"] > 0 and result["cameras_per_core_at_5fps"] > 0
    assert {"decode", "inference", "rules", "encode"} <= set(result["ms_per_stage"])
    assert result["model"] == json.loads((ROOT / "models/manifest.json").read_text())["version"]
