"""Graph surgery for the behaviour stage (runtime venv: onnx + onnxruntime, no torch).

``feature_model``: the shipped detector cut after its three neck outputs, each pooled (global average and
global max) and concatenated -> ``features`` (N, 2 * (64 + 128 + 256)). With ``grid=(rows, cols)`` and the
crop ``size`` fixed, each neck map is also average-pooled over a rows x cols grid of cells (adaptive-pool
cell edges), appended after the global features: where in the crop a cue sits (a phone at the ear, in the
hands, on the desk; a head down on the desk) survives the pooling. The backbone stays frozen by
construction: its weights are the detector's, byte for byte. With ``crop_scores`` the detector's own head
also runs on the crop and its best phone, food and drink class scores anywhere in the crop are appended last
(3 columns): on a 160 px crop of one person a held phone is several times larger than in the 320 px frame
the edge's detector saw, so a phone the frame pass missed can still score here.
With ``gray`` the crop is turned to luma first (the grayscale classroom set and colour counter footage then
look alike to the head).
``with_head``: the same graph plus ``cues`` input, standardisation and the trained head (one linear softmax
layer, or a hidden ReLU layer first) -> ``probs`` (``features`` stays a second output, for checks). One file,
so the edge loads and verifies one thing.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

NECK_OUTPUTS: tuple[str, ...] = (
    "/model.16/cv2/act/Mul_output_0",  # P3, stride 8, 64 channels
    "/model.19/cv2/act/Mul_output_0",  # P4, stride 16, 128 channels
    "/model.22/cv2/act/Mul_output_0",  # P5, stride 32, 256 channels
)
NECK_STRIDES: tuple[int, ...] = (8, 16, 32)
NECK_CHANNELS: tuple[int, ...] = (64, 128, 256)
DETECT_OUTPUT = "output0"  # (N, 4 + classes, anchors), class scores after the sigmoid
CROP_SCORE_CLASSES: tuple[int, ...] = (1, 2, 3)  # phone, food, drink in the detector's names


def feature_width(grid: tuple[int, int] = (0, 0), crop_scores: bool = False) -> int:
    per_level = 2 + grid[0] * grid[1]
    return per_level * sum(NECK_CHANNELS) + (len(CROP_SCORE_CLASSES) if crop_scores else 0)


def _cells(n: int, g: int) -> list[tuple[int, int]]:
    """Adaptive-pool cell edges: g cells over n positions, neighbours may share an edge row."""
    return [(i * n // g, -(-(i + 1) * n // g)) for i in range(g)]


GRAY_WEIGHTS: tuple[float, float, float] = (0.299, 0.587, 0.114)  # RGB -> luma (ITU-R BT.601)


def to_gray(crops: np.ndarray) -> np.ndarray:
    """(N, 3, S, S) RGB -> the same shape, every channel the luma: what ``gray=True`` graphs do first."""
    w = np.asarray(GRAY_WEIGHTS, np.float32).reshape(1, 3, 1, 1)
    return np.ascontiguousarray(np.repeat((crops * w).sum(axis=1, keepdims=True), 3, axis=1), np.float32)


def _gray_input(graph: onnx.GraphProto) -> None:
    """Every consumer of ``images`` reads its luma copy instead (a fixed 1x1 convolution)."""
    for node in graph.node:
        node.input[:] = ["bh_gray" if name == "images" else name for name in node.input]
    weight = np.tile(np.asarray(GRAY_WEIGHTS, np.float32), (3, 1)).reshape(3, 3, 1, 1)
    graph.initializer.append(numpy_helper.from_array(weight, "bh_gray_w"))
    graph.node.insert(0, helper.make_node("Conv", ["images", "bh_gray_w"], ["bh_gray"]))


def feature_model(detector: Path, size: int | None = None, grid: tuple[int, int] = (0, 0),
                  crop_scores: bool = False, gray: bool = False) -> onnx.ModelProto:
    rows, cols = grid
    if (rows or cols) and (size is None or size % NECK_STRIDES[-1]):
        raise ValueError(f"grid pooling needs a fixed crop size divisible by {NECK_STRIDES[-1]}, got {size}")
    with tempfile.TemporaryDirectory() as tmp:
        cut = Path(tmp) / "cut.onnx"
        outputs = list(NECK_OUTPUTS) + ([DETECT_OUTPUT] if crop_scores else [])
        onnx.utils.extract_model(str(detector), str(cut), ["images"], outputs)
        model = onnx.load(str(cut))
    graph = model.graph
    if gray:
        _gray_input(graph)
    pooled: list[str] = []
    for i, name in enumerate(NECK_OUTPUTS):
        for op in ("GlobalAveragePool", "GlobalMaxPool"):
            out = f"bh_{op}_{i}"
            graph.node.append(helper.make_node(op, [name], [out]))
            flat = f"{out}_flat"
            graph.node.append(helper.make_node("Flatten", [out], [flat], axis=1))
            pooled.append(flat)
    if rows and cols and size is not None:
        axes = numpy_helper.from_array(np.array([2, 3], np.int64), "bh_grid_axes")
        graph.initializer.append(axes)
        for i, (name, stride) in enumerate(zip(NECK_OUTPUTS, NECK_STRIDES, strict=True)):
            n = size // stride
            for r, (r0, r1) in enumerate(_cells(n, rows)):
                for c, (c0, c1) in enumerate(_cells(n, cols)):
                    key = f"bh_cell_{i}_{r}_{c}"
                    graph.initializer.append(numpy_helper.from_array(np.array([r0, c0], np.int64), f"{key}_s"))
                    graph.initializer.append(numpy_helper.from_array(np.array([r1, c1], np.int64), f"{key}_e"))
                    graph.node.append(helper.make_node("Slice", [name, f"{key}_s", f"{key}_e", "bh_grid_axes"],
                                                       [f"{key}_x"]))
                    graph.node.append(helper.make_node("ReduceMean", [f"{key}_x"], [key], axes=[2, 3], keepdims=0))
                    pooled.append(key)
    if crop_scores:
        lo, hi = 4 + CROP_SCORE_CLASSES[0], 4 + CROP_SCORE_CLASSES[-1] + 1
        for name, arr in (("bh_det_s", [lo]), ("bh_det_e", [hi]), ("bh_det_axes", [1])):
            graph.initializer.append(numpy_helper.from_array(np.array(arr, np.int64), name))
        graph.node.append(helper.make_node("Slice", [DETECT_OUTPUT, "bh_det_s", "bh_det_e", "bh_det_axes"],
                                           ["bh_det_x"]))
        graph.node.append(helper.make_node("ReduceMax", ["bh_det_x"], ["bh_det"], axes=[2], keepdims=0))
        pooled.append("bh_det")
    graph.node.append(helper.make_node("Concat", pooled, ["features"], axis=1))
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", None]))
    return model


@dataclass(frozen=True)
class OneVsRest:
    """A behaviour's own two-class head ([rest, behaviour]) over the same standardised features + cues."""

    behaviour: str
    mean: np.ndarray
    std: np.ndarray
    weight: np.ndarray  # (F + cues, 2)
    bias: np.ndarray  # (2,)


def with_head(detector: Path, mean: np.ndarray, std: np.ndarray, weight: np.ndarray, bias: np.ndarray,
              classes: Sequence[str], metadata: dict[str, str] | None = None, *, size: int | None = None,
              grid: tuple[int, int] = (0, 0), crop_scores: bool = False, gray: bool = False,
              hidden: tuple[np.ndarray, np.ndarray] | None = None,
              one_vs_rest: Sequence[OneVsRest] = ()) -> onnx.ModelProto:
    """``weight`` (F + cues, K), ``bias`` (K,); mean/std over the same F + cues inputs. With ``hidden``
    ``(W1 (F + cues, H), b1 (H,))``: logits = relu(x W1 + b1) weight + bias, ``weight`` then (H, K).
    Each ``one_vs_rest`` head adds one column after the K: its behaviour's P against everything else (a
    two-class linear softmax on the same inputs, standardised its own way), so a behaviour learnt from
    other sets joins without refitting the main head. ``classes`` names all K + extra columns."""
    model = feature_model(detector, size, grid, crop_scores, gray)
    graph = model.graph
    graph.input.append(helper.make_tensor_value_info("cues", TensorProto.FLOAT, ["batch", None]))
    for name, arr in (("bh_mean", mean), ("bh_std", std), ("bh_w", weight), ("bh_b", bias)):
        graph.initializer.append(numpy_helper.from_array(np.asarray(arr, np.float32), name))
    graph.node.extend([
        helper.make_node("Concat", ["features", "cues"], ["bh_x"], axis=1),
        helper.make_node("Sub", ["bh_x", "bh_mean"], ["bh_xc"]),
        helper.make_node("Div", ["bh_xc", "bh_std"], ["bh_xs"]),
    ])
    top = "bh_xs"
    if hidden is not None:
        graph.initializer.append(numpy_helper.from_array(np.asarray(hidden[0], np.float32), "bh_w1"))
        graph.initializer.append(numpy_helper.from_array(np.asarray(hidden[1], np.float32), "bh_b1"))
        graph.node.extend([
            helper.make_node("MatMul", ["bh_xs", "bh_w1"], ["bh_h0"]),
            helper.make_node("Add", ["bh_h0", "bh_b1"], ["bh_h1"]),
            helper.make_node("Relu", ["bh_h1"], ["bh_h"]),
        ])
        top = "bh_h"
    graph.node.extend([
        helper.make_node("MatMul", [top, "bh_w"], ["bh_logits0"]),
        helper.make_node("Add", ["bh_logits0", "bh_b"], ["bh_logits"]),
        helper.make_node("Softmax", ["bh_logits"], ["probs" if not one_vs_rest else "bh_main"], axis=1),
    ])
    if one_vs_rest:
        columns = ["bh_main"]
        for i, h in enumerate(one_vs_rest):
            n = f"bh_ovr{i}"
            for name, arr in ((f"{n}_mean", h.mean), (f"{n}_std", h.std), (f"{n}_w", h.weight), (f"{n}_b", h.bias)):
                graph.initializer.append(numpy_helper.from_array(np.asarray(arr, np.float32), name))
            graph.initializer.append(numpy_helper.from_array(np.array([1], np.int64), f"{n}_col"))
            graph.node.extend([
                helper.make_node("Sub", ["bh_x", f"{n}_mean"], [f"{n}_xc"]),
                helper.make_node("Div", [f"{n}_xc", f"{n}_std"], [f"{n}_xs"]),
                helper.make_node("MatMul", [f"{n}_xs", f"{n}_w"], [f"{n}_l0"]),
                helper.make_node("Add", [f"{n}_l0", f"{n}_b"], [f"{n}_l"]),
                helper.make_node("Softmax", [f"{n}_l"], [f"{n}_p"], axis=1),
                helper.make_node("Gather", [f"{n}_p", f"{n}_col"], [f"{n}_p1"], axis=1),
            ])
            columns.append(f"{n}_p1")
        graph.node.append(helper.make_node("Concat", columns, ["probs"], axis=1))
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", len(classes)]))
    graph.output.append(helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", None]))
    meta = {"classes": ",".join(classes), **(metadata or {})}
    del model.metadata_props[:]
    for k, v in meta.items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=k, value=v))
    onnx.checker.check_model(model)
    return model
