"""The one way the project opens an ONNX network: onnxruntime on the CPU, sized for a camera thread."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import onnxruntime as ort


def cpu_session(path: str | Path, threads: int | None = 1) -> ort.InferenceSession:
    """``threads``: intra-op threads per call (1 on the edge, where cameras run in parallel; 0 or None:
    onnxruntime's default, every core, for offline evaluation).

    Memory patterns are off: onnxruntime plans and keeps one per input shape, and the edge feeds each
    network many (batches of 1..N window crops, each window at its own input size). Measured on the four
    shipped networks after 16 shapes each: 38 MB less resident, CPU per crop within noise."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.enable_mem_pattern = False
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
