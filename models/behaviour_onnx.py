"""Graph surgery for the behaviour stage (runtime venv: onnx + onnxruntime, no torch).

``feature_model``: the shipped detector cut after its three neck outputs, each pooled (global average and
global max) and concatenated -> ``features`` (N, 2 * (64 + 128 + 256)). The backbone stays frozen by
construction: its weights are the detector's, byte for byte.
``with_head``: the same graph plus ``cues`` input, standardisation and the trained linear softmax head ->
``probs`` (``features`` stays a second output, for checks). One file, so the edge loads and verifies one thing.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

NECK_OUTPUTS: tuple[str, ...] = (
    "/model.16/cv2/act/Mul_output_0",  # P3, stride 8, 64 channels
    "/model.19/cv2/act/Mul_output_0",  # P4, stride 16, 128 channels
    "/model.22/cv2/act/Mul_output_0",  # P5, stride 32, 256 channels
)


def feature_model(detector: Path) -> onnx.ModelProto:
    with tempfile.TemporaryDirectory() as tmp:
        cut = Path(tmp) / "cut.onnx"
        onnx.utils.extract_model(str(detector), str(cut), ["images"], list(NECK_OUTPUTS))
        model = onnx.load(str(cut))
    graph = model.graph
    pooled: list[str] = []
    for i, name in enumerate(NECK_OUTPUTS):
        for op in ("GlobalAveragePool", "GlobalMaxPool"):
            out = f"bh_{op}_{i}"
            graph.node.append(helper.make_node(op, [name], [out]))
            flat = f"{out}_flat"
            graph.node.append(helper.make_node("Flatten", [out], [flat], axis=1))
            pooled.append(flat)
    graph.node.append(helper.make_node("Concat", pooled, ["features"], axis=1))
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", None]))
    return model


def with_head(detector: Path, mean: np.ndarray, std: np.ndarray, weight: np.ndarray, bias: np.ndarray,
              classes: Sequence[str], metadata: dict[str, str] | None = None) -> onnx.ModelProto:
    """``weight`` (F + cues, K), ``bias`` (K,); mean/std over the same F + cues inputs."""
    model = feature_model(detector)
    graph = model.graph
    graph.input.append(helper.make_tensor_value_info("cues", TensorProto.FLOAT, ["batch", None]))
    for name, arr in (("bh_mean", mean), ("bh_std", std), ("bh_w", weight), ("bh_b", bias)):
        graph.initializer.append(numpy_helper.from_array(np.asarray(arr, np.float32), name))
    graph.node.extend([
        helper.make_node("Concat", ["features", "cues"], ["bh_x"], axis=1),
        helper.make_node("Sub", ["bh_x", "bh_mean"], ["bh_xc"]),
        helper.make_node("Div", ["bh_xc", "bh_std"], ["bh_xs"]),
        helper.make_node("MatMul", ["bh_xs", "bh_w"], ["bh_logits0"]),
        helper.make_node("Add", ["bh_logits0", "bh_b"], ["bh_logits"]),
        helper.make_node("Softmax", ["bh_logits"], ["probs"], axis=1),
    ])
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", len(classes)]))
    graph.output.append(helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", None]))
    meta = {"classes": ",".join(classes), **(metadata or {})}
    del model.metadata_props[:]
    for k, v in meta.items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=k, value=v))
    onnx.checker.check_model(model)
    return model
