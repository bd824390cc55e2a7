"""One vision core: the runtime packages define no letterbox, NMS or model hashing of their own, and the
class list loads without any ML runtime."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNTIME = ("edge", "models", "dashboard", "counterwatch", "broker", "common")
CORE_ONLY = ("nms", "letterbox", "letterbox_into", "batched_nms", "sha256_file", "iou_matrix")


def _definitions(folder: Path) -> list[str]:
    pattern = re.compile(rf"^\s*def ({'|'.join(CORE_ONLY)})\(", re.MULTILINE)
    return [f"{p.relative_to(ROOT)}: def {m.group(1)}" for p in sorted(folder.rglob("*.py"))
            for m in pattern.finditer(p.read_text(encoding="utf-8"))]


def test_letterbox_nms_and_hashing_are_defined_only_in_vision() -> None:
    outside = [d for pkg in RUNTIME if (ROOT / pkg).is_dir() for d in _definitions(ROOT / pkg)]
    assert not outside, outside
    inside = {d.split("def ")[1] for d in _definitions(ROOT / "vision")}
    assert {"nms", "letterbox", "batched_nms", "sha256_file"} <= inside  # the search itself finds them


def test_the_search_would_see_a_second_copy(tmp_path: Path) -> None:
    (tmp_path / "x.py").write_text("def helper():\n    pass\n\n\ndef nms(boxes, scores, iou):\n    ...\n")
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        assert _definitions(tmp_path) == ["x.py: def nms"]
    finally:
        ROOT = saved


def test_vision_imports_no_training_code() -> None:
    banned = re.compile(r"^\s*(from|import)\s+(models|torch|ultralytics|edge|dashboard)\b", re.MULTILINE)
    found = [str(p.relative_to(ROOT)) for p in (ROOT / "vision").rglob("*.py") if banned.search(p.read_text())]
    assert not found, found


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_edge_settings_and_the_taxonomy_load_no_ml_runtime() -> None:
    for statement in ("import edge.settings", "import vision.taxonomy", "import vision.operating"):
        loaded = _modules_after(statement)
        assert not {"onnxruntime", "cv2", "torch"} & loaded, statement
    opened = "from vision.detector import Detector; Detector('models/counterwatch-det-v1.onnx')"
    assert {"onnxruntime", "cv2"} <= _modules_after(opened)  # the check can see them
