"""The checked-in JSON Schemas are exactly what the pydantic models produce."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from broker.codec import PAYLOAD_TYPES
from broker.schemas import HERE, schema_documents

ROOT = Path(__file__).resolve().parents[2]


def test_checked_in_schemas_match_models() -> None:
    documents = schema_documents()
    on_disk = {p.name for p in HERE.glob("*.json")}
    assert on_disk == set(documents), "regenerate: counterwatch broker export-schemas"
    assert len(documents) == len(PAYLOAD_TYPES)
    for name, doc in documents.items():
        assert json.loads((HERE / name).read_text()) == doc, f"{name} drifted: counterwatch broker export-schemas"


def test_export_schemas_cli_writes_identical_files(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "counterwatch.cli", "broker", "export-schemas", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    written = sorted(tmp_path.glob("*.json"))
    assert [p.name for p in written] == sorted(p.name for p in HERE.glob("*.json"))
    for path in written:
        assert path.read_bytes() == (HERE / path.name).read_bytes()


def test_schemas_carry_the_contract_rules() -> None:
    event = schema_documents()["event.v1.json"]
    assert event["additionalProperties"] is False
    assert event["properties"]["v"]["const"] == 1
    assert event["properties"]["device"]["pattern"] == "^[A-Za-z0-9_.-]{1,64}$"
    assert {"site", "device", "camera", "window", "event_id", "rule", "sent_at"} <= set(event["required"])
