"""JSON Schema files of the payloads, checked in so non-Python consumers can validate messages.

``tests/broker/test_schemas.py`` fails when a file drifts from the pydantic models; regenerate with
``counterwatch broker export-schemas``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from broker.codec import PAYLOAD_TYPES

HERE = Path(__file__).parent


def schema_documents() -> dict[str, dict[str, Any]]:
    return {
        f"{kind.value.replace('/', '-')}.v1.json": model.model_json_schema(mode="validation")
        for kind, model in PAYLOAD_TYPES.items()
    }


def write_schemas(out: Path | None = None) -> list[Path]:
    out = out or HERE
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, doc in schema_documents().items():
        path = out / name
        path.write_text(json.dumps(doc, indent=2, ensure_ascii=False, sort_keys=True) + "\n")
        written.append(path)
    return written
