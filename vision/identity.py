"""Model identity: the file's sha256, its class names and the version string reported with every event."""

from __future__ import annotations

import ast
import hashlib
import json
from pathlib import Path


class ModelError(RuntimeError):
    """A model file that cannot be used (missing, wrong hash, unexpected layout)."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def parse_names(raw: str | None) -> dict[int, str]:
    """Class names from the ONNX metadata: Ultralytics writes a Python-literal dict, others JSON or a list."""
    if not raw:
        raise ModelError("model metadata has no 'names' (export with ultralytics or add it)")
    try:
        parsed = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError as e:
            raise ModelError(f"model metadata 'names' is neither a Python literal nor JSON: {raw[:80]!r}") from e
    if isinstance(parsed, list):
        return dict(enumerate(str(n) for n in parsed))
    return {int(k): str(v) for k, v in parsed.items()}


def parse_imgsz(raw: str | None, default: int = 640) -> tuple[int, int]:
    """(height, width) of the network input from the ``imgsz`` metadata (an int or ``[h, w]``)."""
    native = ast.literal_eval(raw) if raw else default
    return (int(native), int(native)) if isinstance(native, int) else (int(native[0]), int(native[1]))


def version_of(path: Path, sha256: str, version: str | None = None) -> str:
    return version or f"{path.stem}-{sha256[:8]}"
