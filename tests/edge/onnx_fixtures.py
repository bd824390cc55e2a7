"""Tiny ONNX detectors built in-test: a graph whose output is a fixed ultralytics-layout prediction
(``[batch, 4 + classes, anchors]``), batch-dynamic, with ``names``/``imgsz`` metadata like ultralytics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def constant_detector(path: Path, names: dict[int, str], prediction: np.ndarray, imgsz: int = 64) -> Path:
    """``prediction`` (4 + len(names), anchors): what the model answers for any input."""
    assert prediction.shape[0] == 4 + len(names)
    const = numpy_helper.from_array(prediction[None].astype(np.float32), "pred")
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=1, axes=[1, 2, 3]),  # (B,1,1,1)
        helper.make_node("Squeeze", ["mean", "sq_axes"], ["m"]),  # (B,)
        helper.make_node("Unsqueeze", ["m", "un_axes"], ["m3"]),  # (B,1,1)
        helper.make_node("Mul", ["m3", "zero"], ["z"]),
        helper.make_node("Add", ["z", "pred"], ["output0"]),  # (B, 4+nc, A)
    ]
    graph = helper.make_graph(
        nodes, "constant-detector",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, "height", "width"])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["batch", prediction.shape[0], "anchors"])],
        initializer=[
            const,
            numpy_helper.from_array(np.array([1, 2, 3], dtype=np.int64), "sq_axes"),
            numpy_helper.from_array(np.array([1, 2], dtype=np.int64), "un_axes"),
            numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in {"names": repr(names), "imgsz": f"[{imgsz}, {imgsz}]", "task": "detect"}.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def prediction(names: dict[int, str], boxes: list[tuple[float, float, float, float, str, float]]) -> np.ndarray:
    """Build a prediction from (cx, cy, w, h, class name, score) rows, one anchor each."""
    index = {v: k for k, v in names.items()}
    pred = np.zeros((4 + len(names), max(1, len(boxes))), dtype=np.float32)
    for a, (cx, cy, w, h, name, score) in enumerate(boxes):
        pred[:4, a] = (cx, cy, w, h)
        pred[4 + index[name], a] = score
    return pred
