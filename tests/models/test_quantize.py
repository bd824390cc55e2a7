"""The int8 recipe itself (models/quantize.py), on a handful of real calibration frames: the build keeps the
detector's metadata, loads as a detector, and its class scores track the float model's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.manifest import load
from models.quantize import calibration_inputs, float_nodes, quantize_detector
from vision.detector import Detector

pytestmark = pytest.mark.slow
MODELS = Path(__file__).resolve().parents[2] / "models"


def test_an_int8_build_tracks_the_float_detector(shared_dir: Path, tmp_path: Path) -> None:
    src = MODELS / load(MODELS).file
    fp32 = Detector(src)
    inputs = calibration_inputs(shared_dir, fp32.imgsz)
    assert len(inputs) >= 100  # whole frame + a window crop of each calibration frame
    out = tmp_path / "int8.onnx"
    recipe = quantize_detector(src, out, inputs[::12])
    assert isinstance(recipe["float_nodes"], int) and 0 < recipe["float_nodes"] <= len(float_nodes(src))
    int8 = Detector(out)
    assert (int8.names, int8.imgsz) == (fp32.names, fp32.imgsz)
    assert out.stat().st_size < src.stat().st_size / 2
    batch = np.concatenate(inputs[1:9:2])
    a = fp32.session.run(None, {fp32.input_name: batch})[0][:, 4:]
    b = int8.session.run(None, {int8.input_name: batch})[0][:, 4:]
    assert float(np.abs(a - b).mean()) < 0.005  # class scores; the boxes are float in both


def test_a_model_without_a_yolo_detect_head_is_refused(tmp_path: Path) -> None:
    verifier = MODELS / load(MODELS).sign_verifier.file  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="no Ultralytics detect head"):
        float_nodes(verifier)
